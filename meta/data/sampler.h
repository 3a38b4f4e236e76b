// Mini-batches from a Dataset held in memory: each batch is an index_select of the stored
// tensors with a slice of this epoch's order, so a step copies its batch and nothing more.
#pragma once
#include <cstdint>

#include "engine/random.h"
#include "meta/data/dataset.h"

namespace metaloss::data {

struct Batch {
  Tensor inputs, targets;
  Tensor indices;  // int64 [B]: rows of the dataset in this batch
};

struct SamplerOptions {
  int64_t batch_size = 128;
  bool shuffle = true;     // off: every epoch visits 0..N-1 in order
  bool drop_last = false;  // drop a final batch smaller than batch_size
};

class BatchSampler {
 public:
  BatchSampler(Dataset data, SamplerOptions opts);

  // Begins an epoch; with shuffle on, draws a fresh order from gen (N float64 draws).
  void start_epoch(Generator& gen);
  int64_t num_batches() const;
  Batch batch(int64_t b) const;  // 0 <= b < num_batches()
  const Tensor& order() const { return order_; }
  const Dataset& dataset() const { return data_; }
  Device device() const;  // where the data, the order and so the batches live

 private:
  Dataset data_;
  SamplerOptions opts_;
  Tensor order_;  // int64 [N]
};

}  // namespace metaloss::data
