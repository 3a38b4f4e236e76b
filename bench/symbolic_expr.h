// The 40-op EvoMAL-style symbolic loss shared by bench_autograd and bench_compare; its PyTorch
// twin is expression() in bench/compare/symbolic_loss.py (keep the two in sync, op for op).
#pragma once
#include <cmath>
#include <vector>

#include "engine/metaloss.h"

namespace metaloss::bench {

constexpr int64_t kSymRows = 128, kSymCols = 10;
constexpr int kExprOps = 40;

struct SymbolicInputs {
  Tensor y, f;
};

// Deterministic inputs without an RNG, so Python builds bit-identical ones:
// f[i][j] = softmax_j(sin(0.37 i + 1.3 j)) computed in double, then rounded to float32;
// y = one-hot of (i % 10). f requires grad.
inline SymbolicInputs make_symbolic_inputs() {
  std::vector<double> f(kSymRows * kSymCols), y(kSymRows * kSymCols, 0.0);
  for (int64_t i = 0; i < kSymRows; ++i) {
    double z = 0;
    for (int64_t j = 0; j < kSymCols; ++j) z += f[i * kSymCols + j] = std::exp(std::sin(0.37 * i + 1.3 * j));
    for (int64_t j = 0; j < kSymCols; ++j) f[i * kSymCols + j] /= z;
    y[i * kSymCols + i % kSymCols] = 1.0;
  }
  SymbolicInputs in;
  in.y = Tensor::from_vector(y, {kSymRows, kSymCols});
  in.f = Tensor::from_vector(f, {kSymRows, kSymCols});
  in.f.set_requires_grad(true);
  return in;
}

// Exactly 40 elementwise engine ops (one call each; numbered), in the style of EvoMAL's loss
// trees: log/sqrt/div only ever see |x| + eps or |x| + 1, so the value and gradient stay finite.
// The final mean of symbolic_loss() is a reduction and is NOT counted among the 40.
inline Tensor symbolic_expression(const Tensor& y, const Tensor& f) {
  Tensor a1 = mul(y, f);             // 1
  Tensor a2 = abs(f);                // 2
  Tensor a3 = add(a2, 1e-7);         // 3
  Tensor a4 = log(a3);               // 4   protected log
  Tensor a5 = mul(y, a4);            // 5
  Tensor a6 = neg(a5);               // 6   cross-entropy-like term
  Tensor a7 = sub(f, y);             // 7
  Tensor a8 = square(a7);            // 8
  Tensor a9 = add(a6, a8);           // 9
  Tensor a10 = abs(a7);              // 10
  Tensor a11 = sqrt(a10);            // 11
  Tensor a12 = tanh(a11);            // 12
  Tensor a13 = mul(a12, 0.5);        // 13
  Tensor a14 = maximum(a9, a13);     // 14
  Tensor a15 = minimum(a1, a12);     // 15
  Tensor a16 = sign(a7);             // 16
  Tensor a17 = mul(a16, a15);        // 17
  Tensor a18 = abs(a17);             // 18
  Tensor a19 = add(a18, 1.0);        // 19  denominator >= 1
  Tensor a20 = div(a14, a19);        // 20
  Tensor a21 = neg(a20);             // 21
  Tensor a22 = exp(a21);             // 22  exp of a non-positive value
  Tensor a23 = sub(a20, a22);        // 23
  Tensor a24 = tanh(a23);            // 24
  Tensor a25 = rsub(1.0, a24);       // 25  1 - x
  Tensor a26 = square(a25);          // 26
  Tensor a27 = mul(a26, a9);         // 27
  Tensor a28 = add(a27, a14);        // 28
  Tensor a29 = abs(a28);             // 29
  Tensor a30 = add(a29, 1e-7);       // 30
  Tensor a31 = sqrt(a30);            // 31  protected sqrt
  Tensor a32 = mul(y, a31);          // 32
  Tensor a33 = sub(a31, a32);        // 33
  Tensor a34 = maximum(a33, a22);    // 34
  Tensor a35 = minimum(a34, a29);    // 35
  Tensor a36 = div(a35, a19);        // 36
  Tensor a37 = mul(a36, 0.25);       // 37
  Tensor a38 = add(a37, a5);         // 38
  Tensor a39 = tanh(a38);            // 39
  Tensor a40 = add(a39, a9);         // 40
  return a40;
}

inline Tensor symbolic_loss(const Tensor& y, const Tensor& f) { return mean(symbolic_expression(y, f)); }

}  // namespace metaloss::bench
