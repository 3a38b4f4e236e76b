// Statistics for result tables over seeds: mean and sample standard deviation, and the paired
// two-sided t-test a comparison of two losses over the same seeds calls for (each seed gives both
// losses the same split, init and batches, so the per-seed differences are the observations).
#pragma once
#include <cstddef>
#include <vector>

namespace metaloss::stats {

struct MeanStd {
  double mean, std;  // std: sample standard deviation (n - 1); NaN for fewer than two values
};
MeanStd mean_std(const std::vector<double>& v);

struct PairedTest {
  size_t n = 0;           // pairs
  double mean_diff = 0;   // mean of a - b
  double t = 0;           // the t statistic, n - 1 degrees of freedom
  double p = 0;           // two-sided p-value; NaN for n < 2
};
// Paired t-test of a against b (same length). When every difference is equal, t is +-inf and
// p = 0 (a constant non-zero shift) or t = 0 and p = 1 (no difference at all).
PairedTest paired_t_test(const std::vector<double>& a, const std::vector<double>& b);

// P(|T| >= |t|) for Student's t with `df` degrees of freedom.
double student_t_two_sided_p(double t, double df);
// The regularised incomplete beta function I_x(a, b), x in [0, 1], a, b > 0.
double incomplete_beta(double a, double b, double x);

}  // namespace metaloss::stats
