// Fixed loss functions for classification and regression, written with engine ops only so that
// every loss can be differentiated to any order (meta-gradients differentiate the gradient of
// the inner loss).
//
// Conventions: classification losses take logits (nll: log-probabilities) [B, C] of float32 or
// float64 and int64 class indices [B]; the result is the mean over the batch, a 0-d tensor.
// Regression losses take prediction and target of the same shape and dtype ([B, 1] against [B]
// is also accepted: a one-output regression model against a vector of targets); the result is
// the mean over all elements. Errors are std::invalid_argument naming the loss, shapes and dtypes.
// losses::cross_entropy has the signature of the engine's metaloss::cross_entropy (same value;
// this one checks labels more thoroughly): call it qualified, argument-dependent lookup sees both.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/metaloss.h"

namespace metaloss::losses {

Tensor cross_entropy(const Tensor& logits, const Tensor& labels);
Tensor nll(const Tensor& log_probs, const Tensor& labels);
Tensor mse(const Tensor& pred, const Tensor& target);
Tensor l1(const Tensor& pred, const Tensor& target);
// Focal loss (Lin et al. 2017): -(1 - p_t)^gamma * log p_t; gamma = 0 is cross entropy.
Tensor focal(const Tensor& logits, const Tensor& labels, double gamma = 2);
// Dense label smoothing (LSR): cross entropy against (1 - xi) * onehot + xi / C. Builds the
// B x C smoothed target; sparse_lsr below is the version that does not.
Tensor label_smoothing(const Tensor& logits, const Tensor& labels, double xi = 0.1);
// SparseLSR (EvoMAL paper), with the sign of the second term as in the thesis notes:
//   L = -[(1 - xi + xi/C) log p_t + (xi (C-1)/C) log((1 - p_t) / (C - 1))]
// Only p_t is used: log p_t is gathered from log_softmax and the second log is taken of
// (1 - exp(log p_t) + 1e-7) / (C - 1), so there is no B x C target. It equals label_smoothing
// when the non-target probabilities are equal and is minimised at p_t = 1 - xi + xi/C.
// (The reference code adds the second term, which rewards p_t -> 1: that is not smoothing.)
Tensor sparse_lsr(const Tensor& logits, const Tensor& labels, double xi = 0.1);

// ---- by-name factory -----------------------------------------------------------------------
struct LossOptions {
  double focal_gamma = 2;   // "focal"
  double smoothing = 0.1;   // xi of "lsr" and "sparse_lsr"
};
using LossFn = std::function<Tensor(const Tensor& out, const Tensor& targets)>;
// "ce", "nll", "mse", "l1", "focal", "lsr", "sparse_lsr". Options are checked here, so a bad xi
// fails when the loss is made, not at the first step. Unknown names list the known ones.
LossFn make_loss(const std::string& name, const LossOptions& options = {});
const std::vector<std::string>& loss_names();

}  // namespace metaloss::losses
