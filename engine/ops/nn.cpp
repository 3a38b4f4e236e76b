// Normalisation, dropout and losses, composed from differentiable ops (so every order of
// derivative is available with no extra rules).
#include "engine/ops/common.h"

namespace metaloss {
using namespace detail;

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  METALOSS_PROFILE_SCOPE("batch_norm", "op");
  check_float(x, "batch_norm");
  if (x.dim() < 2) fail("batch_norm", "expected input [n, c, ...], got " + x.desc());
  const int64_t c = x.shape()[1];
  auto check_param = [&](const Tensor& t, const char* what) {
    if (t.defined() && (t.dim() != 1 || t.shape()[0] != c || t.dtype() != x.dtype() || t.device() != x.device()))
      fail("batch_norm", std::string(what) + " " + t.desc() + " does not match " + std::to_string(c) +
                             " channels of " + x.desc());
  };
  check_param(running_mean, "running_mean");
  check_param(running_var, "running_var");
  check_param(weight, "weight");
  check_param(bias, "bias");
  std::vector<int64_t> bshape(size_t(x.dim()), 1), dims;
  bshape[1] = c;
  for (int d = 0; d < x.dim(); ++d)
    if (d != 1) dims.push_back(d);
  Tensor mu, var;
  if (training) {
    const int64_t count = x.numel() / c;
    if (count <= 1) fail("batch_norm", "training needs more than one value per channel, got " + x.desc());
    mu = mean(x, dims, true);
    var = mean(square(sub(x, mu)), dims, true);
    if (running_mean.defined() && running_var.defined()) {
      NoGrad ng;
      Tensor m = reshape_to(mu.detach(), Shape{c}), v = reshape_to(var.detach(), Shape{c});
      running_mean.copy_(add(mul(running_mean, 1 - momentum), mul(m, momentum)));
      running_var.copy_(add(mul(running_var, 1 - momentum), mul(v, momentum * double(count) / double(count - 1))));
    }
  } else {
    if (!running_mean.defined() || !running_var.defined())
      fail("batch_norm", "evaluation mode needs running_mean and running_var");
    mu = reshape(running_mean, bshape);
    var = reshape(running_var, bshape);
  }
  Tensor y = mul(sub(x, mu), rsqrt(add(var, eps)));
  if (weight.defined()) y = mul(y, reshape(weight, bshape));
  if (bias.defined()) y = add(y, reshape(bias, bshape));
  return y;
}

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  METALOSS_PROFILE_SCOPE("dropout", "op");
  check_float(x, "dropout");
  if (p < 0 || p > 1) fail("dropout", "probability must be in [0, 1], got " + std::to_string(p));
  if (!training || p == 0) return x;
  if (p == 1) return mul(x, 0.0);
  Tensor keep = cast(ge(rand(x.shape(), x.dtype(), gen, x.device()), p), x.dtype());
  return mul(x, mul(keep, 1.0 / (1.0 - p)));
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  METALOSS_PROFILE_SCOPE("cross_entropy", "op");
  check_float(logits, "cross_entropy");
  check_index(labels, "cross_entropy");
  if (logits.dim() != 2 || labels.dim() != 1 || labels.shape()[0] != logits.shape()[0])
    fail("cross_entropy", "expected logits [n, classes] and labels [n], got " + logits.desc() + " and " + labels.desc());
  Tensor lp = log_softmax(logits, 1);
  return neg(mean(gather(lp, 1, unsqueeze(labels, 1))));
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  METALOSS_PROFILE_SCOPE("mse_loss", "op");
  check_same_dtype(pred, target, "mse_loss");
  if (pred.shape() != target.shape())
    fail("mse_loss", "prediction " + pred.desc() + " and target " + target.desc() + " differ in shape");
  return mean(square(sub(pred, target)));
}

}  // namespace metaloss
