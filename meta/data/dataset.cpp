#include "meta/data/dataset.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/ops.h"

namespace metaloss::data {

Dataset to_device(const Dataset& d, Device device) {
  Dataset out = d;
  if (d.inputs.defined()) out.inputs = d.inputs.to(device);
  if (d.targets.defined()) out.targets = d.targets.to(device);
  return out;
}

Splits to_device(const Splits& s, Device device) {
  return Splits{to_device(s.train, device), to_device(s.valid, device), to_device(s.test, device)};
}

Dataset subset(const Dataset& d, const std::vector<int64_t>& indices) {
  const Tensor idx = Tensor::from_vector(indices, {int64_t(indices.size())});
  Dataset out = d;
  out.inputs = index_select(d.inputs, 0, idx);
  out.targets = index_select(d.targets, 0, idx);
  return out;
}

std::vector<int64_t> randperm(int64_t n, Generator& gen) {
  std::vector<int64_t> p(size_t(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  if (n < 2) return p;
  // float64 draws: 53 bits, so the bias of floor(u * (i + 1)) is negligible for any real n.
  const Tensor u = rand({n}, DType::Float64, gen);
  const double* up = u.data<double>();
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = std::min<int64_t>(i, int64_t(up[i] * double(i + 1)));
    std::swap(p[size_t(i)], p[size_t(j)]);
  }
  return p;
}

Splits stratified_split(const TrainTest& tt, Generator& gen, double fraction) {
  const Dataset& d = tt.train;
  if (!d.is_classification()) throw std::invalid_argument("stratified_split: dataset '" + d.name + "' is not a classification dataset");
  if (!(fraction >= 0 && fraction < 1)) throw std::invalid_argument("stratified_split: fraction must be in [0, 1), got " + std::to_string(fraction));
  const Tensor labels = d.targets.contiguous();
  const int64_t* lp = labels.data<int64_t>();
  std::vector<std::vector<int64_t>> by_class(size_t(d.num_classes));
  for (int64_t i = 0; i < d.size(); ++i) {
    if (lp[i] < 0 || lp[i] >= d.num_classes)
      throw std::invalid_argument("stratified_split: label " + std::to_string(lp[i]) + " of example " + std::to_string(i) +
                                  " is outside [0, " + std::to_string(d.num_classes) + ")");
    by_class[size_t(lp[i])].push_back(i);
  }

  std::vector<char> in_valid(size_t(d.size()), 0);
  for (const auto& members : by_class) {
    const int64_t n = int64_t(members.size());
    const int64_t take = std::llround(fraction * double(n));
    // Classes are visited in order and each draws its own permutation, so gen is used the
    // same way on every run.
    const std::vector<int64_t> perm = randperm(n, gen);
    for (int64_t k = 0; k < take; ++k) in_valid[size_t(members[size_t(perm[size_t(k)])])] = 1;
  }
  std::vector<int64_t> train_idx, valid_idx;
  for (int64_t i = 0; i < d.size(); ++i) (in_valid[size_t(i)] ? valid_idx : train_idx).push_back(i);
  return {subset(d, train_idx), subset(d, valid_idx), tt.test};
}

Splits random_split(const Dataset& d, Generator& gen, double train_fraction, double valid_fraction) {
  if (!(train_fraction > 0 && valid_fraction >= 0 && train_fraction + valid_fraction <= 1))
    throw std::invalid_argument("random_split: need train > 0, valid >= 0, train + valid <= 1");
  const int64_t n = d.size();
  const int64_t n_train = std::llround(train_fraction * double(n));
  const int64_t n_valid = std::min(n - n_train, int64_t(std::llround(valid_fraction * double(n))));
  std::vector<int64_t> perm = randperm(n, gen);
  auto part = [&](int64_t lo, int64_t hi) {
    std::vector<int64_t> idx(perm.begin() + lo, perm.begin() + hi);
    std::sort(idx.begin(), idx.end());  // keep file order within a part
    return subset(d, idx);
  };
  return {part(0, n_train), part(n_train, n_train + n_valid), part(n_train + n_valid, n)};
}

}  // namespace metaloss::data
