// TaylorGLO's search (Gonzalez & Miikkulainen 2021): CMA-ES over the 8 TaylorGLO parameters, each
// candidate scored by training a fresh base model with its loss for a budget of steps and
// measuring the validation error. The loop, the run store, the cache and the evaluators are the
// shared population-search machinery of meta/search/population.h; this file supplies the genome
// (8 doubles written with 17 significant digits, so the text round-trips exactly), the optimiser
// and the candidate evaluation.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "meta/learn/task.h"
#include "meta/losses/taylor_glo.h"
#include "meta/search/cmaes.h"
#include "meta/search/population.h"

namespace metaloss::search {

using TaylorParams = std::array<double, losses::kTaylorGLOParams>;

struct TaylorGLOConfig {
  uint64_t seed = 0;
  int generations = 50;
  int population = 20;  // TaylorGLO: 20-25
  double sigma = 1.2;
  int64_t steps = 1000;  // base-training steps per candidate ("partial training")
  int64_t batch_size = 128;
  double lr = 0.01;
  double time_limit = 0;  // seconds of training per candidate (0: none); over it the candidate fails
  TaylorParams initial = losses::kTaylorGLOTargetProbability;
};

// "taylorglo(t0, ..., t7)" with %.17g numbers, and back (throws std::invalid_argument naming the text).
std::string taylor_glo_genome(const TaylorParams& theta);
TaylorParams parse_taylor_glo_genome(const std::string& genome);

// The fitness run every method shares: task.make_model's model from `seed` (init stream 0, batch
// order 2, dropout 4, as `metaloss learn`), `steps` SGD steps (lr, batch_size, no momentum) with
// `loss`, then the error on task.valid. Throws on a non-finite loss or error and over time_limit
// seconds (0: none); callers turn that into a failed candidate.
double fitness_run(const learn::LearnTask& task, uint64_t seed,
                   const std::function<Tensor(const Tensor&, const Tensor&)>& loss, int64_t steps, int64_t batch_size,
                   double lr, double time_limit);

// Trains task.make_model's model from `seed` with the TaylorGLO loss `theta` for cfg.steps SGD
// steps on task.train and returns the validation error on task.valid (classification). A
// non-finite parameter, loss or error, or a training over cfg.time_limit, is a failed
// candidate (fitness 1) with the reason.
Evaluation evaluate_candidate(const TaylorParams& theta, const learn::LearnTask& task, const TaylorGLOConfig& cfg,
                              uint64_t seed);
// The same as an EvalFn over genome text.
EvalFn taylor_glo_eval_fn(const learn::LearnTask& task, const TaylorGLOConfig& cfg);

// CMA-ES on TaylorGLO parameters as a PopulationOptimizer (state: the CMA-ES state text).
class TaylorGLOOptimizer : public PopulationOptimizer {
 public:
  explicit TaylorGLOOptimizer(const TaylorGLOConfig& cfg);
  std::vector<Candidate> ask() override;
  void tell(const std::vector<double>& fitness) override { es_.tell(fitness); }
  std::string save_state() const override { return es_.save_state(); }
  void load_state(const std::string& s) override { es_.load_state(s); }
  std::string rng_state() const override;
  const CMAES& cmaes() const { return es_; }

 private:
  CMAES es_;
};

struct TaylorGLOResult {
  TaylorParams best{};
  double best_fitness = 1;
  std::vector<GenerationLog> generations;
  int64_t evaluations = 0;  // trainings actually run (cache hits excluded)
};

// The whole search in this process with a throw-away (in-memory) run store; on_generation
// (optional) sees each generation's log as it completes.
TaylorGLOResult taylor_glo_search(const learn::LearnTask& task, const TaylorGLOConfig& cfg,
                                  const std::function<void(const GenerationLog&)>& on_generation = {});

}  // namespace metaloss::search
