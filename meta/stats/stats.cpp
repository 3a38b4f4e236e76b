#include "meta/stats/stats.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace metaloss::stats {

MeanStd mean_std(const std::vector<double>& v) {
  if (v.empty()) return {NAN, NAN};
  double m = 0;
  for (double x : v) m += x;
  m /= double(v.size());
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return {m, v.size() > 1 ? std::sqrt(ss / double(v.size() - 1)) : NAN};
}

namespace {
// The continued fraction of I_x(a, b) (modified Lentz), which converges fast for
// x < (a + 1) / (a + b + 2); the caller uses the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) otherwise.
double beta_fraction(double a, double b, double x) {
  constexpr double tiny = 1e-300, eps = 1e-15;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  if (std::fabs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 500; ++m) {
    const double m2 = 2.0 * m;
    double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));  // even step
    d = 1 + num * d;
    d = std::fabs(d) < tiny ? 1 / tiny : 1 / d;
    c = 1 + num / c;
    if (std::fabs(c) < tiny) c = tiny;
    h *= d * c;
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));  // odd step
    d = 1 + num * d;
    d = std::fabs(d) < tiny ? 1 / tiny : 1 / d;
    c = 1 + num / c;
    if (std::fabs(c) < tiny) c = tiny;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < eps) return h;
  }
  return h;  // 500 terms reach double precision for every (a, b) a t-test over seeds produces
}
}  // namespace

double incomplete_beta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0) || !(x >= 0 && x <= 1))
    throw std::invalid_argument("incomplete_beta: needs a, b > 0 and x in [0, 1], got a = " + std::to_string(a) +
                                ", b = " + std::to_string(b) + ", x = " + std::to_string(x));
  if (x == 0 || x == 1) return x;
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1) / (a + b + 2)) return std::exp(log_front) * beta_fraction(a, b, x) / a;
  return 1 - std::exp(log_front) * beta_fraction(b, a, 1 - x) / b;
}

double student_t_two_sided_p(double t, double df) {
  if (!(df > 0)) throw std::invalid_argument("student_t_two_sided_p: df must be positive, got " + std::to_string(df));
  if (std::isnan(t)) return NAN;
  if (std::isinf(t)) return 0;
  // P(|T| >= |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2)
  return incomplete_beta(df / 2, 0.5, df / (df + t * t));
}

PairedTest paired_t_test(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size())
    throw std::invalid_argument("paired_t_test: " + std::to_string(a.size()) + " values against " +
                                std::to_string(b.size()) + " (the samples must be paired)");
  PairedTest r;
  r.n = a.size();
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  const MeanStd s = mean_std(d);
  r.mean_diff = s.mean;
  if (r.n < 2) {
    r.t = r.p = NAN;
    return r;
  }
  if (s.std == 0) {
    r.t = s.mean == 0 ? 0 : std::copysign(INFINITY, s.mean);
    r.p = s.mean == 0 ? 1 : 0;
    return r;
  }
  r.t = s.mean / (s.std / std::sqrt(double(r.n)));
  r.p = student_t_two_sided_p(r.t, double(r.n - 1));
  return r;
}

}  // namespace metaloss::stats
