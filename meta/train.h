// Supervised training of a model on an in-memory dataset: the loop behind `metaloss train`.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "meta/data/data.h"
#include "meta/progress.h"
#include "models/module.h"
#include "models/optim.h"

namespace metaloss {

struct TrainOptions {
  int64_t steps = 0;   // total optimizer steps (used when epochs == 0)
  int64_t epochs = 0;  // whole passes over the training split (overrides steps)
  int64_t batch_size = 128;
  bool shuffle = true;
  bool augment = false;       // random crop (pad 4) + horizontal flip, images only
  // ce | mse (classification: MSE of softmax vs one-hot) | focal (gamma 2) | lsr | sparse_lsr
  // (smoothing 0.1) | l1 (regression); see meta/losses/losses.h.
  std::string loss = "ce";
  // When set, used instead of `loss`, which then only names it in messages: lets meta-testing
  // train with a frozen learned loss (meta/learn) through this same loop.
  std::function<Tensor(const Tensor& output, const Tensor& targets)> loss_fn;
  // Learning-rate schedule, advanced after every optimizer step: "none", "cosine" (annealed to 0
  // over all steps, PyTorch CosineAnnealingLR with T_max = total steps) or "step" (multiplied by
  // lr_gamma at each epoch in lr_milestones, PyTorch MultiStepLR).
  std::string lr_schedule = "none";
  std::vector<double> lr_milestones;  // in epochs (fractions allowed)
  double lr_gamma = 0.1;
  int64_t log_every = 100;
  // Added to every metrics line of the run (which run of a command it is: "event": "train",
  // "run": "baseline ce", "seed", "lr", ...), so one file holds several runs' curves apart.
  std::map<std::string, std::string> metrics_labels;
  std::map<std::string, double> metrics_numbers;
  int64_t eval_batch = 1000;  // batch size for evaluation passes
  bool progress = true;       // progress bar / log lines on stderr
  // Wall-clock budget in seconds for the whole run (0: none). Over it, training stops with
  // std::runtime_error naming the budget and the step (a population search scores such a
  // candidate as failed).
  double time_limit = 0;
};

struct TrainReport {
  int64_t steps = 0;
  double last_loss = 0;
  double seconds = 0;
};

// The loss named by `name` for a model output and targets (TrainOptions::loss); throws on other names.
Tensor supervised_loss(const std::string& name, const Tensor& output, const Tensor& targets, int64_t num_classes);

// Trains in place. Every random choice (order, augmentation) comes from gen. Throws
// std::runtime_error naming the step if the loss becomes NaN or infinite. `metrics` (optional)
// receives one line per log interval.
TrainReport train_supervised(Module& model, Optimizer& opt, const data::Dataset& train, const TrainOptions& o,
                             Generator& gen, MetricsWriter* metrics = nullptr);

// Classification accuracy (fraction correct) in eval mode, no graph recorded.
double evaluate_accuracy(Module& model, const data::Dataset& d, int64_t batch = 1000);
// Mean loss in eval mode (regression or classification), no graph recorded.
double evaluate_loss(Module& model, const data::Dataset& d, const std::string& loss, int64_t batch = 1000);

// Sets the drop probability of every Dropout in the model to 0 (for step-by-step comparisons).
// Where the model's parameters live (the CPU for a model without parameters); training and
// evaluation move each batch there.
Device model_device(Module& m);
void disable_dropout(Module& m);

}  // namespace metaloss
