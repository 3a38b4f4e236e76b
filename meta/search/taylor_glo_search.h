// TaylorGLO's search (Gonzalez & Miikkulainen 2021), local and serial: CMA-ES over the 8 TaylorGLO
// parameters, each candidate scored by training a fresh base model with its loss for a budget of
// steps and measuring the validation error. What later parallel/MPI workers and the run store
// build on:
//   - every candidate's seed is derived from (run seed, generation, index), so its result does not
//     depend on who evaluates it or when;
//   - a candidate whose training produces a non-finite loss gets the worst fitness (1: every
//     validation example wrong) with the reason recorded, and the search goes on;
//   - evaluations are cached by the candidate's exact parameter bits.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "meta/learn/task.h"
#include "meta/losses/taylor_glo.h"
#include "meta/search/cmaes.h"

namespace metaloss::search {

using TaylorParams = std::array<double, losses::kTaylorGLOParams>;

struct Evaluation {
  double fitness = 1;     // validation error in [0, 1]; 1 for a failed candidate
  std::string status;     // "ok" or "failed"
  std::string reason;     // why it failed (empty when ok)
  uint64_t seed = 0;
  double seconds = 0;
  bool cached = false;
};

struct TaylorGLOConfig {
  uint64_t seed = 0;
  int generations = 50;
  int population = 20;  // TaylorGLO: 20-25
  double sigma = 1.2;
  int64_t steps = 1000;  // base-training steps per candidate ("partial training")
  int64_t batch_size = 128;
  double lr = 0.01;
  TaylorParams initial = losses::kTaylorGLOTargetProbability;
};

// The seed of candidate `index` of generation `generation` (splitmix64 of the three).
uint64_t candidate_seed(uint64_t run_seed, int generation, int index);

// Trains task.make_model's model from `seed` with the TaylorGLO loss `theta` for cfg.steps SGD
// steps on task.train and returns the validation error on task.valid (classification).
Evaluation evaluate_candidate(const TaylorParams& theta, const learn::LearnTask& task, const TaylorGLOConfig& cfg,
                              uint64_t seed);

struct GenerationLog {
  int generation = 0;
  double best = 1, mean = 1;  // fitness of this generation (mean over successful candidates)
  int failed = 0, cached = 0;
  double seconds = 0;
};

struct TaylorGLOResult {
  TaylorParams best{};
  double best_fitness = 1;
  std::vector<GenerationLog> generations;
  int64_t evaluations = 0;  // trainings actually run (cache hits excluded)
};

// Runs the search; on_generation (optional) sees each generation's log as it completes.
TaylorGLOResult taylor_glo_search(const learn::LearnTask& task, const TaylorGLOConfig& cfg,
                                  const std::function<void(const GenerationLog&)>& on_generation = {});

}  // namespace metaloss::search
