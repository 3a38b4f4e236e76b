#include "meta/search/cmaes.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <sstream>
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

namespace {

void put(std::string& out, const char* key, const std::vector<double>& v) {
  out += key;
  char buf[40];
  for (double x : v) {
    std::snprintf(buf, sizeof buf, " %a", x);
    out += buf;
  }
  out += '\n';
}

// Reads "key v1 v2 ..." from the line stream, expecting `count` values (-1: any).
std::vector<double> get(std::istringstream& in, const char* key, long count) {
  std::string line;
  if (!std::getline(in, line)) throw std::invalid_argument(std::string("CMAES::load_state: missing '") + key + "' line");
  std::istringstream ls(line);
  std::string k;
  ls >> k;
  if (k != key)
    throw std::invalid_argument(std::string("CMAES::load_state: expected '") + key + "', found '" + k + "'");
  std::vector<double> v;
  std::string tok;
  while (ls >> tok) {
    char* end = nullptr;
    const double x = std::strtod(tok.c_str(), &end);
    if (end == tok.c_str() || *end != '\0')
      throw std::invalid_argument(std::string("CMAES::load_state: bad number '") + tok + "' in '" + key + "'");
    v.push_back(x);
  }
  if (count >= 0 && long(v.size()) != count)
    throw std::invalid_argument(std::string("CMAES::load_state: '") + key + "' has " + std::to_string(v.size()) +
                                " values, expected " + std::to_string(count));
  return v;
}

}  // namespace

std::string CMAES::save_state() const {
  std::string s = "cmaes 1\n";
  put(s, "shape", {double(n_), double(lambda_), double(generation_)});
  put(s, "sigma", {sigma_});
  put(s, "mean", mean_);
  put(s, "pc", pc_);
  put(s, "ps", ps_);
  put(s, "C", C_);
  put(s, "B", B_);
  put(s, "D", D_);
  put(s, "best_f", {best_f_});
  put(s, "best_x", best_x_);
  std::vector<double> asked;
  for (const auto& x : asked_) asked.insert(asked.end(), x.begin(), x.end());
  put(s, "asked", asked);
  s += "generator " + std::to_string(gen_.seed()) + " " + std::to_string(gen_.offset()) + "\n";
  return s;
}

void CMAES::load_state(const std::string& state) {
  std::istringstream in(state);
  std::string header;
  if (!std::getline(in, header) || header != "cmaes 1")
    throw std::invalid_argument("CMAES::load_state: not a CMA-ES state (first line '" + header + "')");
  const auto shape = get(in, "shape", 3);
  if (int(shape[0]) != n_ || int(shape[1]) != lambda_)
    throw std::invalid_argument("CMAES::load_state: state of dimension " + std::to_string(int(shape[0])) +
                                " and population " + std::to_string(int(shape[1])) + ", this optimiser has " +
                                std::to_string(n_) + " and " + std::to_string(lambda_));
  const size_t n = size_t(n_);
  const int generation = int(shape[2]);
  const double sigma = get(in, "sigma", 1)[0];
  auto mean = get(in, "mean", long(n)), pc = get(in, "pc", long(n)), ps = get(in, "ps", long(n));
  auto C = get(in, "C", long(n * n)), B = get(in, "B", long(n * n)), D = get(in, "D", long(n));
  const double best_f = get(in, "best_f", 1)[0];
  auto best_x = get(in, "best_x", -1);
  const auto asked = get(in, "asked", -1);
  if (!best_x.empty() && best_x.size() != n) throw std::invalid_argument("CMAES::load_state: 'best_x' has the wrong size");
  if (asked.size() % n != 0 || (!asked.empty() && asked.size() != n * size_t(lambda_)))
    throw std::invalid_argument("CMAES::load_state: 'asked' has " + std::to_string(asked.size()) + " values");
  std::string line, key;
  unsigned long long seed = 0, offset = 0;
  if (!std::getline(in, line) || std::sscanf(line.c_str(), "generator %llu %llu", &seed, &offset) != 2)
    throw std::invalid_argument("CMAES::load_state: missing or bad 'generator' line");
  generation_ = generation;
  sigma_ = sigma;
  mean_ = std::move(mean);
  pc_ = std::move(pc);
  ps_ = std::move(ps);
  C_ = std::move(C);
  B_ = std::move(B);
  D_ = std::move(D);
  best_f_ = best_f;
  best_x_ = std::move(best_x);
  asked_.clear();
  for (size_t k = 0; k < asked.size(); k += n) asked_.emplace_back(asked.begin() + long(k), asked.begin() + long(k + n));
  gen_ = Generator(seed);
  gen_.set_offset(offset);
}

void CMAES::decompose() {
  const SymmetricEigen e = symmetric_eigen(Tensor::from_vector(C_, Shape{n_, n_}, DType::Float64));
  const std::vector<double> values = e.values.to_vector();
  B_ = e.vectors.to_vector();
  for (int i = 0; i < n_; ++i) D_[size_t(i)] = std::sqrt(std::max(values[size_t(i)], 1e-20));
}

}  // namespace metaloss::search
