// Kernel-level checks that the op tests do not reach: accuracy of the vectorised float32 math
// against double-precision libm, and its special values.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/metaloss.h"
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

// The same bounds through the engine's unary kernels, which run the loops compiled for AVX2+FMA
// when the CPU has them (elementwise.cpp) and the baseline SSE2 loops otherwise.
TEST_CASE("unary kernels (run-time selected float32 loops) keep the ulp bounds and special values") {
  using metaloss::Tensor;
  auto worst_through = [](Tensor (*op)(const Tensor&), auto ref, double lo, double hi) {
    const int n = 100003;  // odd length: leaves a tail after the vector loop
    std::vector<float> xs(n);
    for (int i = 0; i < n; ++i) xs[size_t(i)] = float(lo + (hi - lo) * i / (n - 1));
    const std::vector<double> ys = op(Tensor::from_vector(xs, {n})).to_vector();
    double worst = 0;
    for (int i = 0; i < n; ++i) worst = std::max(worst, ulps(float(ys[size_t(i)]), ref(double(xs[size_t(i)]))));
    return worst;
  };
  CHECK(worst_through(metaloss::exp, [](double x) { return std::exp(x); }, -87, 88) <= 3);
  CHECK(worst_through(metaloss::log, [](double x) { return std::log(x); }, 1e-30, 1e4) <= 3);
  CHECK(worst_through(metaloss::tanh, [](double x) { return std::tanh(x); }, -10, 10) <= 4);
  CHECK(worst_through(metaloss::sigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }, -80, 20) <= 4);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> special{0.0f, inf, -inf, nan, 100.0f, -100.0f, 1e-40f, -1.0f};
  auto run = [&](Tensor (*op)(const Tensor&)) { return op(Tensor::from_vector(special, {int64_t(special.size())})).to_vector(); };
  const auto e = run(metaloss::exp), l = run(metaloss::log), t = run(metaloss::tanh), s = run(metaloss::sigmoid);
  CHECK(e[0] == 1.0);
  CHECK(e[1] == inf);
  CHECK(e[2] == 0.0);
  CHECK(std::isnan(e[3]));
  CHECK(l[0] == -inf);
  CHECK(l[1] == inf);
  CHECK(std::isnan(l[3]));
  CHECK(std::isnan(l[7]));
  CHECK(t[1] == 1.0);
  CHECK(t[2] == -1.0);
  CHECK(std::isnan(t[3]));
  CHECK(s[4] == 1.0);
  CHECK(s[5] == doctest::Approx(0.0).epsilon(1e-30));
  CHECK(std::isnan(s[3]));
}
