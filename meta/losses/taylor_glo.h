// TaylorGLO's loss (Gonzalez & Miikkulainen, GECCO 2021): a third-order bivariate Taylor
// polynomial f(x, y) in x = one-hot label and y = softmax prediction, keeping only the terms with a
// non-zero derivative in y (the others cannot change training):
//
//   f(x, y) = t2 (y - t1) + t3 (y - t1)^2 / 2 + t4 (y - t1)^3 / 6
//           + t5 (x - t0)(y - t1) + t6 (x - t0)(y - t1)^2 / 2 + t7 (x - t0)^2 (y - t1) / 2
//
//   loss = - mean over the batch of the sum over classes of f(x_c, y_c)
//
// theta = (t0, t1, t2, ..., t7): t0 and t1 are the expansion centres of x and y, t2..t7 the
// coefficients, 8 parameters in all. x is the label and y the prediction, as in the paper (the
// EvoMAL repository's re-implementation swaps them).
#pragma once
#include <array>

#include "engine/ops.h"

namespace metaloss::losses {

inline constexpr int kTaylorGLOParams = 8;

// logits [batch, classes], labels int64 [batch]; theta: 8 values (a float tensor [8] on the
// logits' device, so the loss is differentiable in theta too).
Tensor taylor_glo(const Tensor& logits, const Tensor& labels, const Tensor& theta);
Tensor taylor_glo(const Tensor& logits, const Tensor& labels, const std::array<double, kTaylorGLOParams>& theta);

// t = (0, 0, 0, 0, 0, 1, 0, 0) gives -mean sum_c x_c y_c = -mean p_target ("maximise the target's
// probability"): a simple valid loss, e.g. a starting point for a search.
inline constexpr std::array<double, kTaylorGLOParams> kTaylorGLOTargetProbability{0, 0, 0, 0, 0, 1, 0, 0};

}  // namespace metaloss::losses
