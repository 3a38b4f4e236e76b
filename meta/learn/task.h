// What the loss learners (ML3, AdaLFL) share: the learning problem (the two splits the meta-
// objective needs and a base-model factory), the task loss of the meta-objective, seeded
// generator streams, finiteness checks, and snapshots of phi for plots.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "meta/data/dataset.h"
#include "meta/data/sampler.h"
#include "meta/losses/learned_loss.h"
#include "models/module.h"

namespace metaloss::learn {

// Builds a freshly initialised base model from gen. ML3 calls it once per meta step (every meta
// step starts from a fresh init, so phi learns a loss that trains from scratch).
using ModelFactory = std::function<std::shared_ptr<Module>(Generator& gen)>;

struct LearnTask {
  data::Dataset train;  // inner (support) batches: what the learned loss trains the base model on
  data::Dataset valid;  // outer (query) batches: held out, so phi is judged on unseen data
  ModelFactory make_model;
  int64_t num_classes() const { return train.num_classes; }  // 0: regression
  // Where the splits live (data::to_device); the factory's models must be there too (on_device).
  Device device() const { return train.inputs.defined() ? train.inputs.device() : Device::cpu(); }
  void validate() const;  // throws std::invalid_argument naming what is missing
};

// The meta-objective: cross entropy for classification (logits vs int64 labels), MSE for
// regression (a [B, 1] output against [B, 1] or [B] targets).
Tensor task_loss(const Tensor& out, const Tensor& targets, int64_t num_classes);

// Sum of squares of all elements, in float64, without recording a graph.
double squared_norm(const std::vector<Tensor>& ts);
// False when any element is NaN or infinite. The test is the squared norm, so a tensor so large
// that its squared norm overflows counts as non-finite too: for a gradient that is exploding.
bool all_finite(const std::vector<Tensor>& ts);

// Base models for tabular regression (the zoo's models take images): "linear" (in -> 1) or
// "mlp" (in -> 100 -> 100 -> 1, ReLU), PyTorch's default Linear initialisation.
std::shared_ptr<Module> make_regression_model(const std::string& name, int64_t in_features, Generator& gen);
const std::vector<std::string>& regression_model_names();

// The factory's models, moved to `device` after their (host, seeded) initialisation: the same
// initial values on every device.
ModelFactory on_device(ModelFactory factory, Device device);

// A copy of `loss` whose phi is frozen (no gradient), for meta-testing with train_supervised:
// the base model's backward pass then does not also accumulate gradients into phi.
std::function<Tensor(const Tensor&, const Tensor&)> frozen_loss(const losses::LearnedLoss& loss);

// phi at one point of meta-training, for plots of how the learned loss evolved.
struct LossSnapshot {
  std::string label;  // "offline init", "step 500", ...
  int64_t step = 0;
  NamedTensors phi;   // cloned values
};
LossSnapshot snapshot(const losses::LearnedLoss& loss, std::string label, int64_t step);

// Cycles through a dataset's batches, starting a fresh shuffled epoch when one is used up.
class BatchStream {
 public:
  BatchStream(const data::Dataset& d, int64_t batch_size, Generator& gen);
  data::Batch next();

 private:
  data::BatchSampler sampler_;
  Generator* gen_;
  int64_t next_ = 0;
};

}  // namespace metaloss::learn
