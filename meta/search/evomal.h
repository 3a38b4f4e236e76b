// EvoMAL's candidate evaluation (Raymond et al., TPAMI 2023 / GECCO 2023) and GP-LFL's (the same
// without local search), cheapest filter first:
//   1. rejection protocol: logits of a fresh base model on `rejection_samples` training examples
//      are optimised directly with the candidate loss (unit edge weights) for `rejection_steps`
//      SGD steps; if their error rate does not improve the candidate is rejected (fitness 1,
//      reason "rejected: ...") before any training;
//   2. local search (EvoMAL only): one weight per edge, 1 + 0.001 N(0, 1), trained for
//      `meta_steps` Adam steps (lr meta_lr); each step resets the base model to a fresh init,
//      takes one differentiable SGD step with the weighted loss on a training batch, and scores
//      cross entropy on a validation batch (unrolled differentiation, second order);
//   3. fitness: validation error after `fitness_steps` SGD steps with the (weighted) loss.
// The symbolic-equivalence cache is the population loop's (GiNaC-simplified text,
// meta/losses/simplify.h). The learned edge weights travel back as Evaluation::params (JSON,
// exact) for meta-testing the best loss.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "meta/learn/task.h"
#include "meta/losses/expression.h"
#include "meta/search/population.h"

namespace metaloss::search {

struct EvoMALConfig {
  int64_t fitness_steps = 500;
  bool local_search = true;  // false: GP-LFL
  int64_t meta_steps = 250;
  double lr = 0.01, meta_lr = 1e-3;
  int64_t batch_size = 128;
  int64_t rejection_samples = 100, rejection_steps = 100;
  // SGD step size on the logits in the rejection protocol (the thesis does not give one; with the
  // batch-mean loss, 10 moves a logit by about 1 over 100 steps of cross entropy).
  double rejection_lr = 10;
  double time_limit = 0;  // seconds of fitness training per candidate (0: none)
  void validate() const;
};

// Evaluates one expression; never throws for a bad candidate (status "failed" with the reason).
// weights_out (optional) receives the edge weights used for the fitness run.
Evaluation evaluate_evomal(const losses::Expression& e, const learn::LearnTask& task, const EvoMALConfig& cfg,
                           uint64_t seed, std::vector<double>* weights_out = nullptr);
EvalFn evomal_eval_fn(const learn::LearnTask& task, const EvoMALConfig& cfg);

// The gradient-equivalence signature (filter c of the thesis): per example, the L2 norm of the
// gradient of a genome's loss (unit weights) w.r.t. the logits of one fixed fresh base model, and
// that gradient's signed component along p - y (so a loss and its negation differ), on `samples`
// training examples; model and examples come from the run seed, so every candidate of a run is
// measured on the same predictions. A malformed genome or a non-finite gradient gives {} (no match).
std::function<std::vector<double>(const std::string&)> gradient_signature(const learn::LearnTask& task,
                                                                          uint64_t run_seed, int64_t samples);

// "[w0, w1, ...]" with exact (%.17g) numbers, and back.
std::string weights_json(const std::vector<double>& w);
std::vector<double> parse_weights_json(const std::string& text);

}  // namespace metaloss::search
