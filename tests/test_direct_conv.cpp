// The CPU's direct convolution kernels (kernels/cpu/direct_conv.cpp) against the im2col + GEMM
// path they replace for few input taps: forward, both adjoints and a second-order gradient, over
// paddings, dilations, kernel and channel counts, in float64 (to rounding) and float32. The
// kernels run in the machine's best instruction set (METALOSS_NO_AVX2=1 forces the baseline).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "engine/metaloss.h"
#include "engine/runtime.h"

using namespace metaloss;

namespace {

struct Geometry {
  int64_t n, c, h, w, o, k, stride, pad, dil;
};

// max |a - b| / (1 + max |b|)
double rel_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to(DType::Float64).to_vector(), y = b.to(DType::Float64).to_vector();
  REQUIRE(x.size() == y.size());
  double d = 0, m = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    d = std::max(d, std::abs(x[i] - y[i]));
    m = std::max(m, std::abs(y[i]));
  }
  return d / (1 + m);
}

// conv2d's value, its gradients w.r.t. input and weight of a random projection, and the gradient
// of the squared input-gradient norm w.r.t. the weight (a second-order term, as ML3's meta-gradient
// through an unrolled step takes), with the direct kernels at `taps` (0: im2col + GEMM).
std::vector<Tensor> run(const Geometry& g, DType t, int64_t taps) {
  const int64_t saved = direct_conv_max_taps();
  set_direct_conv_max_taps(taps);
  Generator gen(7);
  Tensor x = randn(Shape{g.n, g.c, g.h, g.w}, t, gen).set_requires_grad();
  Tensor w = randn(Shape{g.o, g.c, g.k, g.k}, t, gen).set_requires_grad();
  Tensor b = randn(Shape{g.o}, t, gen).set_requires_grad();
  Tensor y = conv2d(x, w, b, g.stride, g.pad, g.dil);
  Tensor proj = randn(y.shape(), t, gen);
  GradOptions keep;
  keep.create_graph = true;
  auto gs = grad({sum(mul(y, proj))}, {x, w}, {}, keep);
  auto gg = grad({sum(square(gs[0]))}, std::vector<Tensor>{w});
  set_direct_conv_max_taps(saved);
  return {y.detach(), gs[0].detach(), gs[1].detach(), gg[0]};
}

}  // namespace

TEST_CASE("direct conv2d (CPU) agrees with im2col + GEMM: forward, both adjoints, second order") {
  const std::vector<Geometry> shapes = {
      {3, 1, 28, 28, 6, 5, 1, 2, 1},  // LeNet-5's conv1
      {2, 6, 14, 14, 16, 5, 1, 0, 1},  // its conv2
      {2, 3, 9, 11, 4, 3, 1, 1, 1},    // a non-square image, 3x3
      {2, 2, 10, 9, 3, 3, 1, 2, 2},    // dilation 2, padding wider than the dilated half-kernel
      {1, 1, 4, 5, 2, 5, 1, 2, 1},     // a kernel larger than the input rows it reaches
      {2, 2, 7, 7, 3, 1, 1, 0, 1},     // 1x1
      {2, 3, 9, 11, 4, 3, 2, 1, 1},    // stride 2: im2col on both sides (the direct kernels are stride 1)
  };
  for (const Geometry& g : shapes) {
    CAPTURE(g.c);
    CAPTURE(g.k);
    CAPTURE(g.stride);
    CAPTURE(g.dil);
    const auto ref64 = run(g, DType::Float64, 0), dir64 = run(g, DType::Float64, 1 << 20);
    const auto ref32 = run(g, DType::Float32, 0), dir32 = run(g, DType::Float32, 1 << 20);
    for (size_t i = 0; i < ref64.size(); ++i) {
      CAPTURE(i);
      CHECK(rel_diff(dir64[i], ref64[i]) < 1e-12);
      CHECK(rel_diff(dir32[i], ref32[i]) < 1e-5);
    }
  }
}

TEST_CASE("direct conv2d (CPU): the same result on 1 and 2 threads (work split by planes)") {
  const Geometry g{8, 1, 28, 28, 6, 5, 1, 2, 1};
  const int threads = get_num_threads();
  set_num_threads(1);
  const auto one = run(g, DType::Float32, 1 << 20);
  set_num_threads(2);
  const auto two = run(g, DType::Float32, 1 << 20);
  set_num_threads(threads);
  for (size_t i = 0; i < one.size(); ++i) CHECK(rel_diff(one[i], two[i]) == 0);
}
