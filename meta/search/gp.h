// Genetic programming over loss expressions (EvoMAL / GP-LFL, the thesis' DEAP settings) as an
// ask/tell PopulationOptimizer:
//   - ramped half-and-half initial population with heights init_min..init_max (grow or full,
//     alternating), user-given seed expressions first;
//   - each generation: the best `elitism` fraction (at least 1 when > 0) is kept unchanged (the
//     reference code configures 0.05 but never applies it); the rest are chosen by double
//     tournament (fitness tournaments of `tournament`, then a size tournament between two winners
//     that picks the smaller with probability parsimony / 2), then one-point crossover of
//     consecutive pairs with probability `crossover` and uniform mutation (a random subtree
//     replaced by a full tree of height mut_min..mut_max) with probability `mutation`;
//   - an offspring over max_height is replaced by its parent; every tree is repaired to contain
//     both y and f (a random terminal becomes add/sub/mul/div over y and f until it does).
// All randomness comes from one Generator whose (seed, offset) is part of the saved state.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/random.h"
#include "meta/losses/expression.h"
#include "meta/search/population.h"

namespace metaloss::search {

struct GPConfig {
  int population = 25;
  double crossover = 0.7, mutation = 0.25;
  int tournament = 4;
  double parsimony = 1.0;  // DEAP parsimony_size in [1, 2]; 1: no size pressure
  int init_min = 2, init_max = 4;
  int mut_min = 0, mut_max = 2;
  int max_height = 10;
  double elitism = 0.05;
  uint64_t seed = 0;
  std::vector<std::string> seeds;  // expressions placed first in the initial population
  void validate() const;
};

// A random tree of exactly `height` (full) or at most `height` (grow).
losses::Expression random_tree(Generator& gen, int min_height, int max_height, bool full);
// Makes e contain y and f (no-op if it does).
void repair(losses::Expression& e, Generator& gen);
// One-point crossover: swaps a random subtree of a (not the root) with one of b.
void crossover(losses::Expression& a, losses::Expression& b, Generator& gen);
// Uniform mutation: a random subtree replaced by random_tree(min, max, full).
void mutate(losses::Expression& e, Generator& gen, int min_height, int max_height);

class GPOptimizer : public PopulationOptimizer {
 public:
  explicit GPOptimizer(GPConfig cfg);
  std::vector<Candidate> ask() override;
  void tell(const std::vector<double>& fitness) override;
  std::string save_state() const override;
  void load_state(const std::string& state) override;
  std::string rng_state() const override;

  const std::vector<losses::Expression>& population() const { return pop_; }
  const std::vector<double>& fitness() const { return fit_; }

 private:
  GPConfig cfg_;
  Generator gen_;
  int generation_ = 0;
  std::vector<losses::Expression> pop_;  // the last told population
  std::vector<double> fit_;
  std::vector<losses::Expression> asked_;
  size_t select_one();
};

}  // namespace metaloss::search
