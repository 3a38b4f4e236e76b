#include "meta/data/normalize.h"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/ops.h"

namespace metaloss::data {

Tensor Standardizer::apply(const Tensor& x) const { return div(sub(x, mean), std); }
Tensor Standardizer::invert(const Tensor& z) const { return add(mul(z, std), mean); }

Standardizer fit_standardizer(const Tensor& x) {
  if (x.dtype() != DType::Float32 || x.dim() < 2 || x.size(0) == 0)
    throw std::invalid_argument("fit_standardizer: need float32 [N, C, ...] with N > 0, got " + x.desc());
  const Tensor c = x.contiguous();
  // Viewed as [N, C, inner]: statistic k pools dims 0 and 2.
  const int64_t n = c.size(0), channels = c.size(1), inner = c.numel() / (n * channels);
  const double count = double(n * inner);
  const float* p = c.data<float>();
  std::vector<double> mean(size_t(channels), 0.0), var(size_t(channels), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < channels; ++k) {
      const float* row = p + (i * channels + k) * inner;
      for (int64_t j = 0; j < inner; ++j) mean[size_t(k)] += row[j];
    }
  for (double& m : mean) m /= count;
  // Second pass over deviations rather than E[x^2] - E[x]^2, which cancels badly in float.
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < channels; ++k) {
      const float* row = p + (i * channels + k) * inner;
      const double m = mean[size_t(k)];
      for (int64_t j = 0; j < inner; ++j) var[size_t(k)] += (row[j] - m) * (row[j] - m);
    }
  std::vector<double> sd(mean.size());
  for (size_t k = 0; k < sd.size(); ++k) {
    const double s = std::sqrt(var[k] / count);
    sd[k] = s > 1e-12 ? s : 1.0;
  }
  Shape shape = Shape::filled(x.dim(), 1);
  shape[1] = channels;
  return {Tensor::from_vector(mean, shape), Tensor::from_vector(sd, shape)};
}

Normalization normalize(Splits& s) {
  Normalization out;
  out.inputs = fit_standardizer(s.train.inputs);
  if (!s.train.is_classification()) out.targets = fit_standardizer(s.train.targets);
  for (Dataset* d : {&s.train, &s.valid, &s.test}) {
    if (d->size() == 0) continue;
    d->inputs = out.inputs.apply(d->inputs);
    if (out.targets.defined()) d->targets = out.targets.apply(d->targets);
  }
  return out;
}

}  // namespace metaloss::data
