#include "meta/data/sampler.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/ops.h"

namespace metaloss::data {

BatchSampler::BatchSampler(Dataset data, SamplerOptions opts) : data_(std::move(data)), opts_(opts) {
  if (opts_.batch_size <= 0) throw std::invalid_argument("BatchSampler: batch_size must be positive, got " + std::to_string(opts_.batch_size));
  order_ = Tensor::arange(0, double(data_.size()), 1, DType::Int64).to(device());
}

Device BatchSampler::device() const { return data_.inputs.defined() ? data_.inputs.device() : Device::cpu(); }

void BatchSampler::start_epoch(Generator& gen) {
  if (!opts_.shuffle) return;
  const std::vector<int64_t> perm = randperm(data_.size(), gen);
  // Drawn on the host (the same order on every device), copied once per epoch to the data.
  order_ = Tensor::from_vector(perm, {int64_t(perm.size())}).to(device());
}

int64_t BatchSampler::num_batches() const {
  const int64_t n = data_.size(), b = opts_.batch_size;
  return opts_.drop_last ? n / b : (n + b - 1) / b;
}

Batch BatchSampler::batch(int64_t b) const {
  if (b < 0 || b >= num_batches())
    throw std::out_of_range("BatchSampler: batch " + std::to_string(b) + " of " + std::to_string(num_batches()));
  const int64_t lo = b * opts_.batch_size, hi = std::min(lo + opts_.batch_size, data_.size());
  Batch out;
  out.indices = slice(order_, 0, lo, hi);
  out.inputs = index_select(data_.inputs, 0, out.indices);
  out.targets = index_select(data_.targets, 0, out.indices);
  return out;
}

}  // namespace metaloss::data
