// Kernel-level checks that the op tests do not reach: accuracy of the vectorised float32 math
// against double-precision libm, and its special values.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "kernels/cpu/fast_math.h"

namespace fast = metaloss::kernels::fast;

namespace {
// Error in units of float32 spacing at the true value.
double ulps(float got, double want) {
  const double spacing = std::max(double(std::nextafter(float(std::abs(want)), INFINITY)) - std::abs(double(float(std::abs(want)))),
                                  double(std::numeric_limits<float>::denorm_min()));
  return std::abs(double(got) - want) / spacing;
}
template <class F, class R>
double worst_ulps(F f, R ref, double lo, double hi, int n = 200001) {
  double worst = 0;
  for (int i = 0; i < n; ++i) {
    const float x = float(lo + (hi - lo) * i / (n - 1));
    worst = std::max(worst, ulps(f(x), ref(double(x))));
  }
  return worst;
}
}  // namespace

TEST_CASE("fast float32 exp/log/tanh/sigmoid are within a few ulp of double libm") {
  const double e_exp = worst_ulps(fast::exp, [](double x) { return std::exp(x); }, -87, 88);
  const double e_log = worst_ulps(fast::log, [](double x) { return std::log(x); }, 1e-30, 1e4);
  const double e_log1 = worst_ulps(fast::log, [](double x) { return std::log(x); }, 0.5, 2.0);
  const double e_tanh = worst_ulps(fast::tanh, [](double x) { return std::tanh(x); }, -10, 10);
  const double e_sig = worst_ulps(fast::sigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }, -80, 20);
  MESSAGE("max ulp error: exp ", e_exp, ", log ", e_log, " (", e_log1, " on [0.5, 2]), tanh ", e_tanh, ", sigmoid ", e_sig);
  CHECK(e_exp <= 3);
  CHECK(e_log <= 3);
  CHECK(e_log1 <= 3);
  CHECK(e_tanh <= 4);
  CHECK(e_sig <= 4);
}

TEST_CASE("fast float32 math: special values") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(fast::exp(0.0f) == 1.0f);
  CHECK(fast::exp(100.0f) == inf);
  CHECK(fast::exp(-inf) == 0.0f);
  CHECK(fast::exp(inf) == inf);
  CHECK(std::isnan(fast::exp(nan)));
  CHECK(fast::log(1.0f) == 0.0f);
  CHECK(fast::log(0.0f) == -inf);
  CHECK(fast::log(inf) == inf);
  CHECK(std::isnan(fast::log(-1.0f)));
  CHECK(std::isnan(fast::log(nan)));
  CHECK(fast::log(1e-40f) == doctest::Approx(std::log(1e-40)).epsilon(1e-5));  // denormal input
  CHECK(fast::tanh(0.0f) == 0.0f);
  CHECK(fast::tanh(50.0f) == 1.0f);
  CHECK(fast::tanh(-inf) == -1.0f);
  CHECK(std::isnan(fast::tanh(nan)));
  CHECK(fast::sigmoid(-200.0f) == 0.0f);
  CHECK(fast::sigmoid(200.0f) == 1.0f);
}
