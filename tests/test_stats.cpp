// meta/stats: the paired t-test of the result tables against closed forms of Student's t.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>

#include "meta/stats/stats.h"

namespace st = metaloss::stats;

TEST_CASE("stats: Student's t two-sided p-values match closed forms and table values") {
  // df = 1 is the Cauchy distribution: P(|T| >= t) = 1 - (2 / pi) atan(t).
  for (double t : {0.1, 1.0, 3.0, 12.706})
    CHECK(st::student_t_two_sided_p(t, 1) == doctest::Approx(1 - 2 / M_PI * std::atan(t)).epsilon(1e-12));
  // df = 2: P(|T| >= t) = 1 - t / sqrt(2 + t^2).
  for (double t : {0.5, 1.0, 4.303})
    CHECK(st::student_t_two_sided_p(t, 2) == doctest::Approx(1 - t / std::sqrt(2 + t * t)).epsilon(1e-12));
  // Critical values from t tables (two-sided 5 % and 1 %).
  CHECK(st::student_t_two_sided_p(2.776445, 4) == doctest::Approx(0.05).epsilon(1e-5));
  CHECK(st::student_t_two_sided_p(4.604095, 4) == doctest::Approx(0.01).epsilon(1e-5));
  CHECK(st::student_t_two_sided_p(2.262157, 9) == doctest::Approx(0.05).epsilon(1e-5));
  CHECK(st::student_t_two_sided_p(-2.262157, 9) == doctest::Approx(0.05).epsilon(1e-5));
  CHECK(st::student_t_two_sided_p(0, 4) == 1);
  CHECK(st::student_t_two_sided_p(INFINITY, 4) == 0);
  // The incomplete beta itself: I_x(1, 1) = x, I_x(a, 1) = x^a.
  CHECK(st::incomplete_beta(1, 1, 0.3) == doctest::Approx(0.3).epsilon(1e-14));
  CHECK(st::incomplete_beta(2.5, 1, 0.7) == doctest::Approx(std::pow(0.7, 2.5)).epsilon(1e-13));
  CHECK_THROWS_AS(st::incomplete_beta(0, 1, 0.5), std::invalid_argument);
}

TEST_CASE("stats: paired t-test over seeds") {
  // d = a - b = {-0.1, -0.5, 0.1, -0.6, 0.5}: mean -0.12, sample std sqrt(0.202), t = -0.597022...
  const std::vector<double> a{1, 2, 3, 4, 5.5}, b{1.1, 2.5, 2.9, 4.6, 5.0};
  const st::PairedTest r = st::paired_t_test(a, b);
  CHECK(r.n == 5);
  CHECK(r.mean_diff == doctest::Approx(-0.12));
  CHECK(r.t == doctest::Approx(-0.12 / (std::sqrt(0.202) / std::sqrt(5.0))).epsilon(1e-12));
  CHECK(r.p == doctest::Approx(st::student_t_two_sided_p(r.t, 4)));
  CHECK(r.p > 0.5);
  CHECK(r.p < 0.7);
  // The same shift on every seed: significant without any spread; no shift: p = 1.
  CHECK(st::paired_t_test({1, 2, 3}, {0, 1, 2}).p == 0);
  CHECK(st::paired_t_test({1, 2, 3}, {1, 2, 3}).p == 1);
  CHECK(std::isnan(st::paired_t_test({1}, {2}).p));
  CHECK_THROWS_WITH_AS(st::paired_t_test({1, 2}, {1}), doctest::Contains("must be paired"), std::invalid_argument);
  const st::MeanStd ms = st::mean_std({1, 2, 3, 4});
  CHECK(ms.mean == 2.5);
  CHECK(ms.std == doctest::Approx(std::sqrt(5.0 / 3)));
}
