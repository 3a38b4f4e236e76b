#include "meta/search/cmaes.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include "engine/ops.h"

namespace metaloss::search {

CMAES::CMAES(std::vector<double> mean, CMAESOptions o, uint64_t seed)
    : n_(int(mean.size())), sigma_(o.sigma), mean_(std::move(mean)), best_f_(std::numeric_limits<double>::infinity()),
      gen_(seed) {
  if (n_ < 1) throw std::invalid_argument("CMAES: the search space needs at least one dimension");
  if (!(o.sigma > 0) || !std::isfinite(o.sigma))
    throw std::invalid_argument("CMAES: sigma must be positive and finite, got " + std::to_string(o.sigma));
  if (o.population < 0 || o.population == 1)
    throw std::invalid_argument("CMAES: population must be >= 2 (or 0 for the default), got " + std::to_string(o.population));
  const double n = n_;
  lambda_ = o.population > 0 ? o.population : 4 + int(std::floor(3 * std::log(n)));
  mu_ = lambda_ / 2;
  for (int i = 0; i < mu_; ++i) weights_.push_back(std::log(mu_ + 0.5) - std::log(i + 1.0));
  const double wsum = std::accumulate(weights_.begin(), weights_.end(), 0.0);
  double w2 = 0;
  for (double& w : weights_) {
    w /= wsum;
    w2 += w * w;
  }
  mueff_ = 1 / w2;
  cc_ = (4 + mueff_ / n) / (n + 4 + 2 * mueff_ / n);
  cs_ = (mueff_ + 2) / (n + mueff_ + 5);
  c1_ = 2 / ((n + 1.3) * (n + 1.3) + mueff_);
  cmu_ = std::min(1 - c1_, 2 * (mueff_ - 2 + 1 / mueff_) / ((n + 2) * (n + 2) + mueff_));
  damps_ = 1 + 2 * std::max(0.0, std::sqrt((mueff_ - 1) / (n + 1)) - 1) + cs_;
  chi_n_ = std::sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n));
  pc_.assign(size_t(n_), 0);
  ps_.assign(size_t(n_), 0);
  C_.assign(size_t(n_ * n_), 0);
  B_.assign(size_t(n_ * n_), 0);
  D_.assign(size_t(n_), 1);
  for (int i = 0; i < n_; ++i) C_[size_t(i * n_ + i)] = B_[size_t(i * n_ + i)] = 1;
}

std::vector<std::vector<double>> CMAES::ask() {
  if (!asked_.empty()) throw std::logic_error("CMAES::ask: the previous population has not been told its fitness yet");
  for (int k = 0; k < lambda_; ++k) {
    const std::vector<double> z = randn(Shape{n_}, DType::Float64, gen_).to_vector();
    std::vector<double> x(static_cast<size_t>(n_));
    for (int i = 0; i < n_; ++i) {  // x = m + sigma * B (D z)
      double y = 0;
      for (int j = 0; j < n_; ++j) y += B_[size_t(i * n_ + j)] * D_[size_t(j)] * z[size_t(j)];
      x[size_t(i)] = mean_[size_t(i)] + sigma_ * y;
    }
    asked_.push_back(std::move(x));
  }
  return asked_;
}

void CMAES::tell(const std::vector<double>& fitness_in) {
  if (asked_.empty()) throw std::logic_error("CMAES::tell: nothing was asked");
  if (int(fitness_in.size()) != lambda_)
    throw std::invalid_argument("CMAES::tell: expected " + std::to_string(lambda_) + " fitness values, got " +
                                std::to_string(fitness_in.size()));
  std::vector<double> f = fitness_in;
  for (double& v : f)
    if (!std::isfinite(v)) v = std::numeric_limits<double>::max();  // failed candidates rank last
  std::vector<int> order(static_cast<size_t>(lambda_));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return f[size_t(a)] < f[size_t(b)]; });
  if (f[size_t(order[0])] < best_f_) {
    best_f_ = f[size_t(order[0])];
    best_x_ = asked_[size_t(order[0])];
  }
  const std::vector<double> old = mean_;
  for (int i = 0; i < n_; ++i) {
    double m = 0;
    for (int k = 0; k < mu_; ++k) m += weights_[size_t(k)] * asked_[size_t(order[size_t(k)])][size_t(i)];
    mean_[size_t(i)] = m;
  }
  std::vector<double> step(static_cast<size_t>(n_));  // (m - m_old) / sigma
  for (int i = 0; i < n_; ++i) step[size_t(i)] = (mean_[size_t(i)] - old[size_t(i)]) / sigma_;
  // C^{-1/2} step = B D^-1 B^T step
  std::vector<double> bt(static_cast<size_t>(n_), 0), cinv(static_cast<size_t>(n_), 0);
  for (int j = 0; j < n_; ++j) {
    for (int i = 0; i < n_; ++i) bt[size_t(j)] += B_[size_t(i * n_ + j)] * step[size_t(i)];
    bt[size_t(j)] /= D_[size_t(j)];
  }
  for (int i = 0; i < n_; ++i)
    for (int j = 0; j < n_; ++j) cinv[size_t(i)] += B_[size_t(i * n_ + j)] * bt[size_t(j)];
  const double cs_norm = std::sqrt(cs_ * (2 - cs_) * mueff_);
  double ps_len = 0;
  for (int i = 0; i < n_; ++i) {
    ps_[size_t(i)] = (1 - cs_) * ps_[size_t(i)] + cs_norm * cinv[size_t(i)];
    ps_len += ps_[size_t(i)] * ps_[size_t(i)];
  }
  ps_len = std::sqrt(ps_len);
  const double n = n_;
  const bool hsig = ps_len / std::sqrt(1 - std::pow(1 - cs_, 2.0 * (generation_ + 1))) / chi_n_ < 1.4 + 2 / (n + 1);
  const double cc_norm = std::sqrt(cc_ * (2 - cc_) * mueff_);
  for (int i = 0; i < n_; ++i) pc_[size_t(i)] = (1 - cc_) * pc_[size_t(i)] + (hsig ? cc_norm * step[size_t(i)] : 0.0);
  // C = (1 - c1 - cmu) C + c1 (pc pc^T + (1 - hsig) cc (2 - cc) C) + cmu sum_k w_k y_k y_k^T
  const double keep = 1 - c1_ - cmu_ + (hsig ? 0.0 : c1_ * cc_ * (2 - cc_));
  for (int i = 0; i < n_; ++i)
    for (int j = 0; j <= i; ++j) {
      double rank_mu = 0;
      for (int k = 0; k < mu_; ++k) {
        const auto& x = asked_[size_t(order[size_t(k)])];
        rank_mu += weights_[size_t(k)] * (x[size_t(i)] - old[size_t(i)]) * (x[size_t(j)] - old[size_t(j)]);
      }
      const double c = keep * C_[size_t(i * n_ + j)] + c1_ * pc_[size_t(i)] * pc_[size_t(j)] +
                       cmu_ * rank_mu / (sigma_ * sigma_);
      C_[size_t(i * n_ + j)] = C_[size_t(j * n_ + i)] = c;
    }
  sigma_ *= std::exp((cs_ / damps_) * (ps_len / chi_n_ - 1));
  if (!std::isfinite(sigma_) || sigma_ <= 0) throw std::runtime_error("CMAES: step size became " + std::to_string(sigma_));
  asked_.clear();
  ++generation_;
  decompose();
}

void CMAES::decompose() {
  const SymmetricEigen e = symmetric_eigen(Tensor::from_vector(C_, Shape{n_, n_}, DType::Float64));
  const std::vector<double> values = e.values.to_vector();
  B_ = e.vectors.to_vector();
  for (int i = 0; i < n_; ++i) D_[size_t(i)] = std::sqrt(std::max(values[size_t(i)], 1e-20));
}

}  // namespace metaloss::search
