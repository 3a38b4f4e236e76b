// Dataset: a whole dataset held as two tensors, and the seeded splits made from it.
// Images are float32 [N, C, H, W] scaled to [0, 1]; tabular inputs are float32 [N, F].
// Classification targets are int64 [N]; regression targets are float32 [N, 1] (a column, so that
// a model's [N, 1] output and the target never broadcast to [N, N]).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace metaloss::data {

struct Dataset {
  Tensor inputs;
  Tensor targets;
  int64_t num_classes = 0;  // 0 for regression
  std::string name;

  int64_t size() const { return inputs.defined() ? inputs.size(0) : 0; }
  bool is_classification() const { return num_classes > 0; }
};

// What the loaders return: the files' own train/test partition.
struct TrainTest {
  Dataset train, test;
};

struct Splits {
  Dataset train, valid, test;
};

// The whole dataset moved to `device` once (inputs and targets as device tensors); the batches a
// BatchSampler then draws from it are index gathers on that device, never a host copy per batch.
Dataset to_device(const Dataset& d, Device device);
Splits to_device(const Splits& s, Device device);

// Rows `indices` of d (one copy, made once when splitting; batches use BatchSampler).
Dataset subset(const Dataset& d, const std::vector<int64_t>& indices);

// A uniformly random permutation of 0..n-1 (Fisher-Yates driven by one draw from gen).
std::vector<int64_t> randperm(int64_t n, Generator& gen);

// Moves a class-proportional `fraction` of tt.train into a validation set: each class gives
// round(fraction * its count) examples, chosen at random by gen. The test set is untouched.
// Both parts keep the original order, so the result depends only on the labels and gen.
Splits stratified_split(const TrainTest& tt, Generator& gen, double fraction = 0.1);

// A random train/valid/test split of one dataset (regression: 60/20/20 by default).
Splits random_split(const Dataset& d, Generator& gen, double train_fraction = 0.6, double valid_fraction = 0.2);

}  // namespace metaloss::data
