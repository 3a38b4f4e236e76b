// Regression tests for defects found in review: each failed before its fix.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/metaloss.h"
#include "kernels/cpu/strided_loop.h"

using namespace metaloss;
constexpr DType F64 = DType::Float64;

TEST_CASE("thread pool: varying task counts run every task exactly once; exceptions propagate") {
  const int before = kernels::get_num_threads();
  kernels::set_num_threads(8);  // more workers than tasks in some jobs, whatever the machine
  std::vector<std::atomic<int>> hits(64);
  bool ok = true;
  for (int iter = 0; iter < 20000 && ok; ++iter) {
    const int n = (iter % 2) ? 2 : 1 + iter % 64;
    for (int i = 0; i < n; ++i) hits[size_t(i)] = 0;
    kernels::parallel_run(n, [&](int i) { hits[size_t(i)].fetch_add(1); });
    for (int i = 0; i < n; ++i) ok = ok && hits[size_t(i)] == 1;
  }
  CHECK(ok);
  CHECK_THROWS_WITH_AS(kernels::parallel_run(8, [](int i) { if (i == 5) throw std::runtime_error("task 5 failed"); }),
                       "task 5 failed", std::runtime_error);
  int count = 0;
  kernels::parallel_run(3, [&](int) { kernels::parallel_run(4, [&](int) { ++count; }); });  // nested: serial inside
  CHECK(count == 12);
  kernels::set_num_threads(before);
}

TEST_CASE("a leaf's .grad owns dense memory and can be updated in place") {
  Tensor x = Tensor::ones({3, 4}, F64).set_requires_grad();
  mean(x).backward();
  CHECK(x.grad().is_contiguous());
  x.grad().mul_(0.5);
  CHECK(x.grad().to_vector() == std::vector<double>(12, 0.5 / 12));
}

TEST_CASE("matmul agrees with a naive product on random views, including 1x1 and strided operands") {
  Generator g(11);
  auto naive = [](const Tensor& a, const Tensor& b) {
    const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
    std::vector<double> out(size_t(m * n), 0.0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t t = 0; t < k; ++t) out[size_t(i * n + j)] += a.at({i, t}) * b.at({t, j});
    return out;
  };
  CHECK(matmul(expand(Tensor::scalar(2.0, F64), Shape{1, 1}), Tensor::ones({1, 3}, F64)).to_vector() ==
        std::vector<double>{2, 2, 2});
  Tensor base = Tensor::arange(0, 16, 1, F64);
  Tensor one = slice(slice(reshape(base, {4, 4}), 0, 1, 2), 1, 3, 4, 2);  // a 1x1 view with strides [4, 2]
  CHECK(matmul(one, Tensor::ones({1, 2}, F64)).to_vector() == std::vector<double>{7, 7});
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t m = 1 + trial % 4, k = 1 + (trial / 4) % 3, n = 1 + (trial / 12) % 4;
    Tensor a = randn({m, k}, F64, g), b = randn({k, n}, F64, g);
    if (trial % 3 == 1) a = transpose(contiguous(transpose(a, 0, 1)), 0, 1);
    if (trial % 5 == 2) b = slice(reshape(randn({k, 2 * n}, F64, g), {k, 2 * n}), 1, 0, 2 * n, 2);
    auto got = matmul(a, b).to_vector(), want = naive(a, b);
    for (size_t i = 0; i < got.size(); ++i) REQUIRE(std::abs(got[i] - want[i]) < 1e-12);
  }
}

TEST_CASE("amax/amin of all-infinite slices are infinite") {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(amax(Tensor::full({3}, -inf, F64)).item() == -inf);
  CHECK(amin(Tensor::full({3}, inf)).item() == inf);
}

TEST_CASE("a Tape drops dead nodes as it grows") {
  Tensor w = Tensor::ones({2}).set_requires_grad();
  Tape tape;
  for (int i = 0; i < 5000; ++i) Tensor discarded = mul(w, 2.0);
  CHECK(tape.recorded() < 2100);
  CHECK(tape.nodes().empty());
}

TEST_CASE("undefined tensors, huge shapes and 0-d edge cases raise clear errors") {
  Tensor u;
  CHECK_THROWS_WITH_AS(u.to_vector(), doctest::Contains("Tensor::to_vector: the tensor is undefined"), std::invalid_argument);
  CHECK_THROWS_AS(u.item(), std::invalid_argument);
  CHECK_THROWS_AS(u.clone(), std::invalid_argument);
  CHECK_THROWS_AS(Tensor::ones({2}).copy_(u), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Tensor::zeros({int64_t(1) << 33, int64_t(1) << 31}), doctest::Contains("overflows"), std::invalid_argument);
  CHECK(transpose(Tensor::scalar(3.0), 0, -1).item() == 3.0);
  CHECK_THROWS_WITH_AS(cat({Tensor::scalar(1.0), Tensor::scalar(2.0)}, 0), doctest::Contains("0-d"), std::invalid_argument);
  CHECK(stack({Tensor::scalar(1.0), Tensor::scalar(2.0)}, 0).shape() == Shape{2});
  CHECK_THROWS_AS(slice(Tensor::scalar(1.0), 0, 0, 1), std::invalid_argument);
  CHECK(expand(Tensor::ones({1, 3}), Shape{4, -1}).shape() == Shape{4, 3});
  CHECK_THROWS_WITH_AS(expand(Tensor::ones({1, 3}), Shape{-2, 3}), doctest::Contains("invalid size -2"), std::invalid_argument);
}

TEST_CASE("in-place updates of expanded or overlapping memory") {
  Tensor base = Tensor::ones({1, 3});
  CHECK_THROWS_WITH_AS(expand(base, Shape{4, 3}).add_(Tensor::ones({4, 3})), doctest::Contains("expanded tensor"),
                       std::invalid_argument);
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2});
  x.copy_(transpose(x, 0, 1));
  CHECK(x.to_vector() == std::vector<double>{1, 3, 2, 4});
}

TEST_CASE("small semantic fixes: int64 vs fractional scalar, relu(NaN), d/da a^b at a = b = 0") {
  Tensor i = Tensor::from_vector(std::vector<int64_t>{0, 1}, {2});
  CHECK(eq(i, 0.5).to_vector() == std::vector<double>{0, 0});
  CHECK(lt(i, 0.5).to_vector() == std::vector<double>{1, 0});
  CHECK(std::isnan(relu(Tensor::scalar(NAN, F64)).item()));
  Tensor a = Tensor::scalar(0.0, F64).set_requires_grad(), b = Tensor::scalar(0.0, F64).set_requires_grad();
  Grads g = grad({pow(a, b)}, {a, b});
  CHECK(g[0].item() == 0.0);
  CHECK(g[1].item() == 0.0);
}
