// Episodic meta-training of a few-shot Learner: Adam on the meta-parameters with cosine decay,
// meta-gradient clipping, periodic meta-validation keeping the best state, checkpoints that let a
// killed run resume where it was, and the final meta-test (mean accuracy and 95% CI).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "meta/fewshot/learner.h"
#include "meta/progress.h"
#include "meta/search/run_store.h"

namespace metaloss::fewshot {

struct MetaTrainOptions {
  int64_t iterations = 1000;  // meta-steps
  int64_t meta_batch = 4;     // tasks per meta-step
  double meta_lr = 1e-3, meta_lr_min = 1e-5;  // Adam, cosine decay from meta_lr to meta_lr_min
  double clip = 10;           // meta-gradient norm clipping (0: off)
  int64_t val_every = 100;    // meta-validation period (meta-steps; 0: only at the end)
  int64_t val_tasks = 100, test_tasks = 600;
  int64_t checkpoint_every = 25;  // meta-steps between checkpoints (with a run folder)
  std::string run_dir;            // "": no checkpoints
  // Test hooks: stop (as if killed) after this many meta-steps of this process (0: never).
  int64_t stop_after = 0;
  // JSON lines (optional): "event": "meta-train" every log_every meta-steps (interval means of
  // the query loss and accuracy, the last meta-gradient norm before clipping, the meta lr) and
  // "event": "validation" at each meta-validation (accuracy, 95 % CI).
  MetricsWriter* metrics = nullptr;
  int64_t log_every = 10;
};

struct Evaluation {
  double accuracy = 0, ci95 = 0, loss = 0;
  std::vector<double> accuracies;  // per task
};

// One meta-validation: the meta-step after which it ran, the mean accuracy over the validation
// tasks and its 95 % confidence half-width (NaN when read from a checkpoint older than the field).
struct ValidationPoint {
  int64_t step = 0;
  double accuracy = 0, ci95 = 0;
  bool operator==(const ValidationPoint& o) const {
    return step == o.step && accuracy == o.accuracy && (ci95 == o.ci95 || (ci95 != ci95 && o.ci95 != o.ci95));
  }
};

struct MetaTrainResult {
  Evaluation test;
  double best_val_accuracy = 0;
  int64_t best_iteration = 0;  // the meta-step whose state was kept (0: the initial state)
  int64_t iterations_done = 0;
  double train_seconds = 0, test_seconds = 0;  // all sessions / this process
  size_t peak_meta_step_bytes = 0;  // host allocator's peak during this process' first meta-step
  bool stopped = false;                        // stop_after reached: no meta-test
  std::vector<ValidationPoint> validation;
};

// Adapts to the first `tasks` episodes of `sampler` and scores the query sets (no meta-gradient).
Evaluation evaluate(const Learner& learner, const data::EpisodeSampler& sampler, int64_t tasks);

// One meta-step's meta-loss and meta-gradient over tasks [first, first + meta_batch) of `train`:
// accumulates d(mean query loss)/d(meta-parameters) into their .grad; returns the mean query loss
// and accuracy. Exposed for the tests and the memory benchmark.
std::pair<double, double> meta_gradient(const Learner& learner, const data::EpisodeSampler& train, int64_t first,
                                        int64_t meta_batch);

// Meta-trains `learner` (resuming from RUN_DIR/checkpoint.safetensors when present and made by
// the same configuration, `config_hash`), keeps the best meta-validation state, meta-tests it.
// `store` (optional) receives the validation curve and the results.
MetaTrainResult meta_train(Learner& learner, const data::EpisodeSampler& train, const data::EpisodeSampler& valid,
                           const data::EpisodeSampler& test, const MetaTrainOptions& o, const std::string& config_hash,
                           search::RunStore* store);

}  // namespace metaloss::fewshot
