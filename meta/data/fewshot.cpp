#include "meta/data/fewshot.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <unordered_set>

#include "meta/data/splitmix.h"

namespace metaloss::data {

namespace {

std::string class_label(const FewShotDataset& d, int64_t cls) {
  return "class " + std::to_string(cls) + " (" + d.class_name(cls) + ")";
}

// The first k entries of a uniformly random permutation of v (partial Fisher-Yates, in place).
template <class T>
void choose_prefix(std::vector<T>& v, int64_t k, SplitMix& rng) {
  const int64_t n = int64_t(v.size());
  for (int64_t i = 0; i < k; ++i) std::swap(v[i], v[i + int64_t(rng.below(uint64_t(n - i)))]);
}

}  // namespace

EpisodeSampler::EpisodeSampler(std::shared_ptr<const FewShotDataset> dataset, std::vector<int64_t> classes,
                               int64_t ways, int64_t shots, int64_t queries, uint64_t seed)
    : dataset_(std::move(dataset)),
      classes_(std::move(classes)),
      ways_(ways),
      shots_(shots),
      queries_(queries),
      seed_(seed) {
  if (!dataset_) throw std::invalid_argument("EpisodeSampler: no dataset");
  const std::string where = "EpisodeSampler on dataset " + dataset_->name() + ": ";
  if (ways < 2) throw std::invalid_argument(where + "ways must be >= 2, got " + std::to_string(ways));
  if (shots < 1) throw std::invalid_argument(where + "shots must be >= 1, got " + std::to_string(shots));
  if (queries < 1) throw std::invalid_argument(where + "queries must be >= 1, got " + std::to_string(queries));
  if (int64_t(classes_.size()) < ways)
    throw std::invalid_argument(where + std::to_string(ways) + "-way episodes need at least " + std::to_string(ways) +
                                " classes, got " + std::to_string(classes_.size()));
  std::unordered_set<int64_t> seen;
  for (int64_t c : classes_) {
    if (c < 0 || c >= dataset_->num_classes())
      throw std::invalid_argument(where + "class id " + std::to_string(c) + " is outside [0, " +
                                  std::to_string(dataset_->num_classes()) + ")");
    if (!seen.insert(c).second) throw std::invalid_argument(where + class_label(*dataset_, c) + " is listed twice");
    const int64_t have = dataset_->samples_per_class(c);
    if (have < shots + queries)
      throw std::invalid_argument(where + class_label(*dataset_, c) + " has " + std::to_string(have) +
                                  " samples, fewer than shots + queries = " + std::to_string(shots) + " + " +
                                  std::to_string(queries));
  }
}

Episode EpisodeSampler::episode(int64_t index) const {
  // Everything below flows from (seed, index): no state is shared between calls.
  SplitMix rng(hash_seed({seed_, uint64_t(index)}));
  const FewShotDataset& d = *dataset_;
  const int64_t C = d.channels(), H = d.height(), W = d.width(), image = C * H * W;
  Episode e;
  std::vector<int64_t> pool = classes_;
  choose_prefix(pool, ways_, rng);
  e.classes.assign(pool.begin(), pool.begin() + ways_);
  e.support_x = Tensor::empty({ways_ * shots_, C, H, W});
  e.support_y = Tensor::empty({ways_ * shots_}, DType::Int64);
  e.query_x = Tensor::empty({ways_ * queries_, C, H, W});
  e.query_y = Tensor::empty({ways_ * queries_}, DType::Int64);
  float* sx = e.support_x.data<float>();
  float* qx = e.query_x.data<float>();
  int64_t* sy = e.support_y.data<int64_t>();
  int64_t* qy = e.query_y.data<int64_t>();
  std::vector<int64_t> idx;
  for (int64_t label = 0; label < ways_; ++label) {
    const int64_t cls = e.classes[label];
    idx.resize(d.samples_per_class(cls));
    std::iota(idx.begin(), idx.end(), int64_t(0));
    choose_prefix(idx, shots_ + queries_, rng);
    for (int64_t k = 0; k < shots_; ++k) {
      const int64_t row = label * shots_ + k;
      d.sample(cls, idx[k], sx + row * image);
      sy[row] = label;
    }
    for (int64_t q = 0; q < queries_; ++q) {
      const int64_t row = label * queries_ + q;
      d.sample(cls, idx[shots_ + q], qx + row * image);
      qy[row] = label;
    }
  }
  return e;
}

Episode to_device(const Episode& e, Device device) {
  Episode out = e;
  for (Tensor* t : {&out.support_x, &out.support_y, &out.query_x, &out.query_y}) *t = t->to(device);
  return out;
}

ClassSplits kanji_splits(int64_t n) {
  if (n < 3)
    throw std::invalid_argument("kanji_splits: need at least 3 classes (one per split), got " + std::to_string(n));
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), int64_t(0));
  SplitMix rng(20241128);  // the documented split seed; never derived from a run's seed
  choose_prefix(perm, n - 1, rng);
  // 4000 / 800 / rest of the full 6394, rounded; every split keeps at least one class.
  int64_t train = (n * 4000 + 3197) / 6394, valid = (n * 800 + 3197) / 6394;
  train = std::clamp<int64_t>(train, 1, n - 2);
  valid = std::clamp<int64_t>(valid, 1, n - 1 - train);
  ClassSplits s;
  s.train.assign(perm.begin(), perm.begin() + train);
  s.valid.assign(perm.begin() + train, perm.begin() + train + valid);
  s.test.assign(perm.begin() + train + valid, perm.end());
  return s;
}

}  // namespace metaloss::data
