// GLO (Gonzalez & Miikkulainen 2020) on the shared machinery: genetic programming over loss
// trees (GP-LFL: no local search) for `gp_generations`, then CMA-ES over the edge weights of the
// best tree found (the tree's "constants") for `cmaes_generations`. One PopulationOptimizer does
// both phases, so a GLO run is one run store and resumes like any other; phase-2 genomes are
// "EXPR @ [w0,w1,...]" (weighted_genome), which evomal_eval_fn trains without the rejection
// protocol or local search.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "meta/search/cmaes.h"
#include "meta/search/gp.h"

namespace metaloss::search {

std::string weighted_genome(const losses::Expression& e, const std::vector<double>& weights);
// Splits "EXPR @ [..]"; false (and nothing set) for a plain expression.
bool split_weighted_genome(const std::string& genome, losses::Expression& e, std::vector<double>& weights);

struct GLOConfig {
  GPConfig gp;
  int gp_generations = 50;
  int cmaes_generations = 10;
  double sigma = 0.2;    // CMA-ES step size around the unit weights
  int cmaes_population = 0;  // 0: 4 + floor(3 ln n)
};

class GLOOptimizer : public PopulationOptimizer {
 public:
  explicit GLOOptimizer(GLOConfig cfg);
  std::vector<Candidate> ask() override;
  void tell(const std::vector<double>& fitness) override;
  std::string save_state() const override;
  void load_state(const std::string& state) override;
  std::string rng_state() const override;

 private:
  GLOConfig cfg_;
  GPOptimizer gp_;
  std::unique_ptr<CMAES> es_;  // phase 2, once started
  losses::Expression tree_;    // the tree phase 2 tunes
  // The best tree told in the GP phase so far (first of the lowest fitness), kept across
  // generations so that phase 2 tunes it even when elitism is off.
  losses::Expression best_;
  double best_fitness_ = 0;
  bool have_best_ = false;
  int generation_ = 0;
  void start_phase2();
};

}  // namespace metaloss::search
