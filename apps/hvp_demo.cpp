// A short autodiff demo: the Hessian-vector product of f(x) = sum(tanh(A x)^2) + x^T B x,
// computed by double backward, printed next to its closed form.
#include <cstdio>
#include <iostream>

#include "engine/metaloss.h"

using namespace metaloss;

int main() {
  manual_seed(7);
  const int64_t n = 5;
  Tensor A = randn({n, n}, DType::Float64), B = randn({n, n}, DType::Float64);
  Tensor x = randn({n}, DType::Float64), v = randn({n}, DType::Float64);
  auto f = [&](const Tensor& z) { return add(sum(square(tanh(matmul(A, z)))), sum(mul(z, matmul(B, z)))); };

  FnResult r = hvp(f, x, v);

  // Closed form: with u = A x, t = tanh(u): H = A^T diag(2 (1 - t^2)(1 - 3 t^2)) A + B + B^T.
  Tensor t = tanh(matmul(A, x));
  Tensor d = mul(mul(rsub(1.0, square(t)), rsub(1.0, mul(square(t), 3.0))), 2.0);
  Tensor H = add(matmul(transpose(A, 0, 1), mul(unsqueeze(d, 1), A)), add(B, transpose(B, 0, 1)));
  Tensor closed = matmul(H, v);

  std::printf("f(x) = %.10f\n", r.output.item());
  std::printf("%4s %20s %20s %12s\n", "i", "Hv (double backward)", "Hv (closed form)", "|diff|");
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = r.value.at({i}), b = closed.at({i});
    worst = std::max(worst, std::abs(a - b));
    std::printf("%4lld %20.12f %20.12f %12.2e\n", static_cast<long long>(i), a, b, std::abs(a - b));
  }
  std::printf("max |diff| = %.3e\n", worst);
  return worst < 1e-10 ? 0 : 1;
}
