// Standardisation with statistics from the training split only, so that nothing about the
// validation or test data leaks into training.
#pragma once
#include "meta/data/dataset.h"

namespace metaloss::data {

// (x - mean) / std with mean/std shaped to broadcast: [1, C, 1, 1] for images (per channel),
// [1, F] for tabular data (per column).
struct Standardizer {
  Tensor mean, std;
  bool defined() const { return mean.defined(); }
  Tensor apply(const Tensor& x) const;
  Tensor invert(const Tensor& z) const;  // back to original units (e.g. regression predictions)
};

// Population mean and std of x over every dim but 1 (accumulated in float64). A constant
// feature gets std 1, so it maps to 0 instead of NaN.
Standardizer fit_standardizer(const Tensor& x);

struct Normalization {
  Standardizer inputs;
  Standardizer targets;  // defined for regression only
};

// Fits on s.train and rewrites all three splits' inputs (and, for regression, targets).
Normalization normalize(Splits& s);

}  // namespace metaloss::data
