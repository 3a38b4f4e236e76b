// CMA-ES (Hansen, "The CMA Evolution Strategy: A Tutorial", 2016), (mu/mu_w, lambda) with
// weighted recombination, cumulative step-size adaptation and rank-one + rank-mu covariance
// updates, as an ask/tell optimiser that minimises. The covariance is eigendecomposed through
// LAPACK (engine symmetric_eigen) every generation. All randomness comes from the Generator given
// at construction: the same seed gives the same sequence of populations.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/random.h"

namespace metaloss::search {

struct CMAESOptions {
  double sigma = 1.2;      // initial step size (TaylorGLO: 1.2)
  int population = 0;      // lambda; 0: 4 + floor(3 ln n)
};

class CMAES {
 public:
  CMAES(std::vector<double> mean, CMAESOptions o, uint64_t seed);
  // A new population of lambda candidates (rows). Call tell() with their fitness before asking again.
  std::vector<std::vector<double>> ask();
  // Fitness of the candidates of the last ask(), lower is better; non-finite values count as worst.
  void tell(const std::vector<double>& fitness);

  int dimension() const { return n_; }
  int population() const { return lambda_; }
  int generation() const { return generation_; }
  double sigma() const { return sigma_; }
  const std::vector<double>& mean() const { return mean_; }
  // Best candidate and fitness seen so far (empty / +inf before the first tell).
  const std::vector<double>& best() const { return best_x_; }
  double best_fitness() const { return best_f_; }

  // The whole state (mean, step size, paths, covariance and its decomposition, the pending
  // population, best so far, the Generator's seed and offset) as text with exact (hex) floats.
  // load_state on an optimiser built with the same dimension and population continues exactly
  // where save_state left off; anything else is refused with std::invalid_argument.
  std::string save_state() const;
  void load_state(const std::string& state);
  const Generator& generator() const { return gen_; }

 private:
  int n_, lambda_, mu_, generation_ = 0;
  double sigma_, mueff_, cc_, cs_, c1_, cmu_, damps_, chi_n_;
  std::vector<double> weights_, mean_, pc_, ps_;
  std::vector<double> C_, B_, D_;  // covariance (row-major n x n), its eigenvectors (columns), sqrt eigenvalues
  std::vector<std::vector<double>> asked_;
  std::vector<double> best_x_;
  double best_f_;
  Generator gen_;
  void decompose();
};

}  // namespace metaloss::search
