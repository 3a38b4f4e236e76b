#include "meta/losses/taylor_glo.h"

#include <stdexcept>
#include <string>

namespace metaloss::losses {

Tensor taylor_glo(const Tensor& logits, const Tensor& labels, const Tensor& theta) {
  if (!logits.defined() || logits.dim() != 2 || !is_floating(logits.dtype()))
    throw std::invalid_argument("taylor_glo: expected float logits [batch, classes], got " + logits.desc());
  if (!labels.defined() || labels.dtype() != DType::Int64 || labels.dim() != 1 || labels.size(0) != logits.size(0))
    throw std::invalid_argument("taylor_glo: expected int64 labels [" + std::to_string(logits.size(0)) + "], got " +
                                labels.desc());
  if (!theta.defined() || theta.dim() != 1 || theta.size(0) != kTaylorGLOParams)
    throw std::invalid_argument("taylor_glo: expected theta with 8 values (2 centres + 6 coefficients), got " +
                                theta.desc());
  const Tensor th = theta.dtype() == logits.dtype() ? theta : theta.to(logits.dtype());
  auto t = [&](int64_t i) { return reshape(slice(th, 0, i, i + 1), {}); };  // 0-d, differentiable
  const Tensor y = softmax(logits, 1), x = one_hot(labels, logits.size(1), logits.dtype());
  const Tensor dy = y - t(1), dx = x - t(0), dy2 = dy * dy;
  const Tensor f = t(2) * dy + t(3) * dy2 * 0.5 + t(4) * dy2 * dy * (1.0 / 6) + t(5) * dx * dy +
                   t(6) * dx * dy2 * 0.5 + t(7) * dx * dx * dy * 0.5;
  return -sum(f) * (1.0 / double(logits.size(0)));
}

Tensor taylor_glo(const Tensor& logits, const Tensor& labels, const std::array<double, kTaylorGLOParams>& theta) {
  return taylor_glo(logits, labels,
                    Tensor::from_vector(std::vector<double>(theta.begin(), theta.end()), Shape{kTaylorGLOParams},
                                        logits.dtype()).to(logits.device()));
}

}  // namespace metaloss::losses
