#include "meta/losses/losses.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <utility>

namespace metaloss::losses {

namespace {

[[noreturn]] void fail(const char* loss, const std::string& what) {
  throw std::invalid_argument(std::string(loss) + ": " + what);
}

// Logits [B, C] (float) and labels [B] (int64, each in [0, C)). Checked here rather than left to
// gather so that the message names the loss and says what a label is.
void check_classification(const char* loss, const Tensor& logits, const Tensor& labels, const char* what = "logits") {
  if (!logits.defined()) fail(loss, std::string(what) + " is an undefined tensor");
  if (!labels.defined()) fail(loss, "labels is an undefined tensor");
  if (!is_floating(logits.dtype()) || logits.dim() != 2 || logits.size(1) < 1)
    fail(loss, std::string("expected ") + what + " float32 or float64 [batch, classes], got " + logits.desc());
  if (labels.dtype() != DType::Int64 || labels.dim() != 1)
    fail(loss, "expected labels int64 [batch] (class indices), got " + labels.desc());
  if (labels.size(0) != logits.size(0))
    fail(loss, "batch size mismatch: " + std::string(what) + " " + logits.desc() + " has " +
                   std::to_string(logits.size(0)) + " rows, labels " + labels.desc() + " has " +
                   std::to_string(labels.size(0)));
  const Tensor lc = labels.contiguous().cpu();  // a CUDA batch's labels: one small copy
  const int64_t* p = lc.data<int64_t>();
  const int64_t classes = logits.size(1);
  for (int64_t i = 0; i < lc.numel(); ++i)
    if (p[i] < 0 || p[i] >= classes)
      fail(loss, "label " + std::to_string(p[i]) + " at position " + std::to_string(i) + " is out of range for " +
                     std::to_string(classes) + " classes");
}

std::string num(double v) {  // shortest readable form: "1", "0.25", not "1.000000"
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
void check_smoothing(const char* loss, double xi) {
  if (!(xi >= 0 && xi < 1)) fail(loss, "smoothing xi must be in [0, 1), got " + num(xi));
}
void check_gamma(const char* loss, double gamma) {
  if (!(gamma >= 0 && std::isfinite(gamma))) fail(loss, "gamma must be finite and >= 0, got " + num(gamma));
}

// Same shape and float dtype; [B, 1] against [B] is allowed (one-output regression head).
std::pair<Tensor, Tensor> regression_pair(const char* loss, const Tensor& pred, const Tensor& target) {
  if (!pred.defined() || !target.defined()) fail(loss, "prediction or target is an undefined tensor");
  if (!is_floating(pred.dtype()) || pred.dtype() != target.dtype())
    fail(loss, "prediction and target must share a float dtype, got " + pred.desc() + " and " + target.desc());
  if (pred.shape() == target.shape()) return {pred, target};
  if (pred.dim() == 2 && pred.size(1) == 1 && target.dim() == 1 && target.size(0) == pred.size(0))
    return {squeeze(pred, 1), target};
  fail(loss, "prediction " + pred.desc() + " and target " + target.desc() + " differ in shape");
}

// log p_t [B]: the label's entry of each row of log-probabilities.
Tensor pick(const Tensor& log_probs, const Tensor& labels) {
  return squeeze(gather(log_probs, 1, unsqueeze(labels, 1)), 1);
}

}  // namespace

Tensor nll(const Tensor& log_probs, const Tensor& labels) {
  check_classification("nll", log_probs, labels, "log_probs");
  return neg(mean(pick(log_probs, labels)));
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  check_classification("cross_entropy", logits, labels);
  return neg(mean(pick(log_softmax(logits, 1), labels)));
}

Tensor mse(const Tensor& pred, const Tensor& target) {
  auto [p, t] = regression_pair("mse", pred, target);
  return mean(square(sub(p, t)));
}

Tensor l1(const Tensor& pred, const Tensor& target) {
  auto [p, t] = regression_pair("l1", pred, target);
  return mean(abs(sub(p, t)));
}

Tensor focal(const Tensor& logits, const Tensor& labels, double gamma) {
  check_classification("focal", logits, labels);
  check_gamma("focal", gamma);
  const Tensor lpt = pick(log_softmax(logits, 1), labels);
  // gamma = 0: skip pow(., 0), whose derivative 0 * x^-1 is NaN where p_t rounds to 1.
  if (gamma == 0) return neg(mean(lpt));
  // 1 - p_t >= 0 since log_softmax <= 0. For gamma < 1 the derivative gamma (1 - p_t)^(gamma - 1)
  // is infinite where p_t rounds to 1, so the base is kept at least 1e-12 (a change of the value
  // below 1e-12^gamma).
  const Tensor weight = pow(maximum(rsub(1.0, exp(lpt)), Tensor::scalar(1e-12, lpt.dtype(), lpt.device())), gamma);
  return neg(mean(mul(weight, lpt)));
}

Tensor label_smoothing(const Tensor& logits, const Tensor& labels, double xi) {
  check_classification("label_smoothing", logits, labels);
  check_smoothing("label_smoothing", xi);
  const int64_t c = logits.size(1);
  const Tensor target = add(mul(one_hot(labels, c, logits.dtype()), 1.0 - xi), xi / double(c));
  return neg(mean(sum(mul(target, log_softmax(logits, 1)), {1})));
}

Tensor sparse_lsr(const Tensor& logits, const Tensor& labels, double xi) {
  check_classification("sparse_lsr", logits, labels);
  check_smoothing("sparse_lsr", xi);
  const double c = double(logits.size(1));
  const double w_target = 1.0 - xi + xi / c, w_rest = xi * (c - 1.0) / c;
  const Tensor lpt = pick(log_softmax(logits, 1), labels);
  Tensor per_sample = mul(lpt, w_target);
  // w_rest = 0 (xi = 0 or one class): the second term vanishes; skipping it also avoids 0 * log(x/0).
  if (w_rest > 0) {
    // 1e-7 keeps the log finite as p_t -> 1 (the thesis' stable form).
    const Tensor rest = log(mul(add(rsub(1.0, exp(lpt)), 1e-7), 1.0 / (c - 1.0)));
    per_sample = add(per_sample, mul(rest, w_rest));
  }
  return neg(mean(per_sample));
}

const std::vector<std::string>& loss_names() {
  static const std::vector<std::string> names = {"ce", "nll", "mse", "l1", "focal", "lsr", "sparse_lsr"};
  return names;
}

LossFn make_loss(const std::string& name, const LossOptions& o) {
  if (name == "ce") return [](const Tensor& out, const Tensor& y) { return losses::cross_entropy(out, y); };
  if (name == "nll") return [](const Tensor& out, const Tensor& y) { return nll(out, y); };
  if (name == "mse") return [](const Tensor& out, const Tensor& y) { return mse(out, y); };
  if (name == "l1") return [](const Tensor& out, const Tensor& y) { return l1(out, y); };
  if (name == "focal") {
    check_gamma("make_loss(\"focal\")", o.focal_gamma);
    return [g = o.focal_gamma](const Tensor& out, const Tensor& y) { return focal(out, y, g); };
  }
  if (name == "lsr") {
    check_smoothing("make_loss(\"lsr\")", o.smoothing);
    return [xi = o.smoothing](const Tensor& out, const Tensor& y) { return label_smoothing(out, y, xi); };
  }
  if (name == "sparse_lsr") {
    check_smoothing("make_loss(\"sparse_lsr\")", o.smoothing);
    return [xi = o.smoothing](const Tensor& out, const Tensor& y) { return sparse_lsr(out, y, xi); };
  }
  std::string known;
  for (const auto& n : loss_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("make_loss: unknown loss '" + name + "' (known: " + known + ")");
}

}  // namespace metaloss::losses
