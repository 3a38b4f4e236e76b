// Bad input gives an exception that names the op, the shapes and the dtypes involved.
#include <doctest/doctest.h>

#include "engine/metaloss.h"

using namespace metaloss;

TEST_CASE("shape mismatch names the op and both shapes") {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4});
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("add: shapes [2, 3] and [4] cannot be broadcast"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(matmul(a, Tensor::zeros({4, 2})), doctest::Contains("matmul: inner dims differ: float32[2, 3] @ float32[4, 2]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(reshape(a, {4, 2}), doctest::Contains("reshape: shape [4, 2] (8 elements) is invalid for float32[2, 3]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(Tensor::zeros({1, 3, 5, 5}), Tensor::zeros({2, 2, 3, 3})),
                       doctest::Contains("conv2d: input float32[1, 3, 5, 5] has 3 channels but weight float32[2, 2, 3, 3]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cat({a, Tensor::zeros({3, 3})}, 1), doctest::Contains("cat: tensor 1 has shape [3, 3]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(sum(a, {2}), doctest::Contains("sum: dim 2 out of range for a 2-d tensor"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(max_pool2d(Tensor::zeros({1, 1, 1, 1}), 2), doctest::Contains("max_pool2d"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(linear(a, Tensor::zeros({5, 4})), doctest::Contains("linear: input float32[2, 3]"),
                       std::invalid_argument);
}

TEST_CASE("dtype mismatch names the op and both dtypes") {
  Tensor f = Tensor::zeros({2}), d = Tensor::zeros({2}, DType::Float64);
  CHECK_THROWS_WITH_AS(mul(f, d), doctest::Contains("mul: dtype mismatch: float32[2] and float64[2]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(exp(Tensor::zeros({2}, DType::Int64)), doctest::Contains("exp: expected a float32 or float64 tensor, got int64[2]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(gather(f, 0, f), doctest::Contains("gather: index must be int64, got float32[2]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(Tensor::zeros({2}, DType::Int64).set_requires_grad(), doctest::Contains("only floating-point"),
                       std::invalid_argument);
}

TEST_CASE("index out of range is reported with its position") {
  Tensor x = Tensor::zeros({3, 4});
  Tensor i = Tensor::from_vector(std::vector<int64_t>{0, 7}, {1, 2});
  CHECK_THROWS_WITH_AS(gather(x, 1, i), doctest::Contains("gather: index 7 at position 1 is out of range for dim 1 of size 4"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(one_hot(Tensor::from_vector(std::vector<int64_t>{3}, {1}), 3), doctest::Contains("one_hot: index 3"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(x.at({3, 0}), doctest::Contains("at: index 3 out of range for dim 0"), std::invalid_argument);
}

TEST_CASE("autodiff misuse") {
  Tensor x = Tensor::zeros({2}, DType::Float64);
  Tensor w = Tensor::ones({2}, DType::Float64);
  w.set_requires_grad(true);
  Tensor y = sum(mul(w, x));
  CHECK_THROWS_WITH_AS(grad({y}, {x}), doctest::Contains("grad: input 0 (float64[2]) does not require grad"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(backward({sum(x)}), doctest::Contains("does not require grad and has no grad_fn"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(mul(w, x).backward(), doctest::Contains("is not a scalar"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(grad({y}, {w}, {Tensor::ones({3}, DType::Float64)}),
                       doctest::Contains("grad_output 0 is float64[3] but output is float64[]"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(mul(w, 2.0).set_requires_grad(), doctest::Contains("only leaves"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(hvp([](const Tensor& z) { return z; }, x, x), doctest::Contains("hvp: f must return a scalar"),
                       std::invalid_argument);
}

TEST_CASE("other bad arguments") {
  CHECK_THROWS_WITH_AS(Tensor::from_vector(std::vector<double>{1, 2, 3}, {2, 2}), doctest::Contains("3 values do not fill shape [2, 2]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(reshape(Tensor::zeros({6}), {-1, -1}), doctest::Contains("only one dimension can be -1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(dropout(Tensor::zeros({2}), 1.5, true), doctest::Contains("dropout: probability must be in [0, 1]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(randint(3, 3, {2}), doctest::Contains("randint: empty range"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Tensor::zeros({1, 1, 1, 1, 1, 1, 1, 1, 1}), doctest::Contains("maximum of 8 dims"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(batch_norm(Tensor::zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                       doctest::Contains("more than one value per channel"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(permute(Tensor::zeros({2, 3}), {0, 0}), doctest::Contains("permute: dim 0 repeated"),
                       std::invalid_argument);
}

#include "kernels/cuda/runtime.h"
#include "kernels/kernels.h"

TEST_CASE("devices: names, parsing, and a clear error for a device that is not there") {
  CHECK(Device::cpu().str() == "cpu");
  CHECK(Device::cuda(2).str() == "cuda:2");
  CHECK(Device::parse("cuda") == Device::cuda(0));
  CHECK(Device::parse("cuda:3") == Device::cuda(3));
  CHECK(Device::parse("cpu") == Device::cpu());
  CHECK(Device::parse("cpu:0") == Device::cpu());
  CHECK(Device::parse("cpu:1") == Device::cpu(1));
  CHECK(Device::cpu(1).str() == "cpu:1");
  CHECK(Device::cpu(1) != Device::cpu());
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", "", "cpu:", "cpu:8", "cpu:-1", "cpu:1x"})
    CHECK_THROWS_WITH_AS(Device::parse(bad), doctest::Contains("is not a device"), std::invalid_argument);
  Tensor x = Tensor::ones(Shape{2, 2});
  CHECK(x.to(Device::cpu()).same(x));  // already there: the same tensor, no copy
  CHECK(x.device() == Device::cpu());
  CHECK(x.desc() == "float32[2, 2]");
  // A CUDA device beyond those present (all of them on a machine without a GPU) is refused by
  // name, whether the build has CUDA or not.
  const Device missing = Device::cuda(kernels::cuda::device_count());
  CHECK_THROWS_WITH_AS(Tensor::zeros(Shape{2}, DType::Float32, missing),
                       doctest::Contains((missing.str() + " is not available").c_str()), std::invalid_argument);
  CHECK_THROWS_WITH_AS(x.to(missing), doctest::Contains("is not available"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(rand(Shape{3}, DType::Float32, default_generator(), missing),
                       doctest::Contains("is not available"), std::invalid_argument);
  // The kernel layer refuses operands on different devices before touching any memory.
  kernels::View a = x.view(), b = x.view();
  b.device = Device::cuda(0);
  CHECK_THROWS_WITH_AS(kernels::binary(kernels::BinaryOp::Add, a, b, a), doctest::Contains("operands on different devices"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(kernels::symmetric_eigen(Device::cuda(0), DType::Float64, 1, nullptr, nullptr, nullptr),
                       doctest::Contains("CPU only"), std::invalid_argument);
}

TEST_CASE("devices: the host check device cpu:1 refuses mixing with cpu, as cuda would, and computes the same") {
  const Device dev = Device::cpu(1);
  Tensor x = Tensor::from_vector(std::vector<double>{1, -2, 3, 4}, Shape{2, 2}, DType::Float64).set_requires_grad();
  Tensor xd = x.to(dev);
  CHECK(xd.device() == dev);
  CHECK(xd.desc() == "float64[2, 2] on cpu:1");
  CHECK(xd.to(dev).same(xd));
  CHECK(xd.to_vector() == x.to_vector());
  CHECK(xd.at({1, 0}) == 3.0);
  // Mixing devices is an error naming both, in the ops and in the kernel layer.
  CHECK_THROWS_WITH_AS(add(xd, x), doctest::Contains("cpu:1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(matmul(xd, x), doctest::Contains("cpu:1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(mul(xd, Tensor::scalar(2.0, DType::Float64)), doctest::Contains("cpu:1"), std::invalid_argument);
  // Same kernels: bit-identical values and gradients, and the gradient flows back across .to().
  Tensor yd = sum(mul(tanh(matmul(xd, xd)), xd)), y = sum(mul(tanh(matmul(x, x)), x));
  CHECK(yd.device() == dev);
  CHECK(yd.item() == y.item());
  const Tensor gd = gradients(yd, {x}).at(0), g = gradients(y, {x}).at(0);
  CHECK(gd.device() == Device::cpu());
  CHECK(gd.to_vector() == g.to_vector());
  CHECK(rand(Shape{5}, DType::Float32, default_generator(), dev).device() == dev);
}
