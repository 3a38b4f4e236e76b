// Convolution and 2-d pooling. conv2d is im2col + GEMM composed from differentiable ops, or, on a
// CUDA device with cuDNN, conv2d_direct: one op whose backward rules are its two adjoints
// (conv2d_input_grad, conv2d_weight_grad), each of which has the other two as its own backward
// rules, so every order of derivative stays available. On the CPU conv2d_direct (the im2col path
// inside one op that saves only input and weight) serves set_conv_recompute(true).
#include <atomic>
#include <cstdlib>

#include "engine/ops/common.h"

namespace metaloss {
using namespace detail;

namespace {
kernels::Conv2dGeom conv_geom(const Shape& x, Pair2 k, Pair2 s, Pair2 p, Pair2 d, const char* op) {
  if (x.size() != 4) fail(op, "expected a 4-d input [n, c, h, w], got shape " + x.str());
  if (k.h <= 0 || k.w <= 0 || s.h <= 0 || s.w <= 0 || d.h <= 0 || d.w <= 0 || p.h < 0 || p.w < 0)
    fail(op, "kernel, stride and dilation must be positive and padding non-negative");
  kernels::Conv2dGeom g{x[0], x[1], x[2], x[3], k.h, k.w, s.h, s.w, p.h, p.w, d.h, d.w, 0, 0};
  const int64_t span_h = g.h + 2 * p.h - d.h * (k.h - 1) - 1, span_w = g.w + 2 * p.w - d.w * (k.w - 1) - 1;
  g.oh = span_h / s.h + 1;
  g.ow = span_w / s.w + 1;
  if (span_h < 0 || span_w < 0)
    fail(op, "input " + x.str() + " is too small for kernel " + std::to_string(k.h) + "x" + std::to_string(k.w) +
                 " with padding " + std::to_string(p.h) + "x" + std::to_string(p.w));
  return g;
}
}  // namespace

namespace {
Shape cols_shape(const kernels::Conv2dGeom& g) {
  return g.k_major ? Shape{g.c * g.kh * g.kw, g.n, g.oh * g.ow} : Shape{g.n, g.c * g.kh * g.kw, g.oh * g.ow};
}
}  // namespace

Tensor im2col(const Tensor& x_in, Pair2 k, Pair2 s, Pair2 p, Pair2 d, bool k_major) {
  METALOSS_PROFILE_SCOPE("im2col", "op");
  check_float(x_in, "im2col");
  auto g = conv_geom(x_in.shape(), k, s, p, d, "im2col");
  g.k_major = k_major;
  Tensor x = x_in.is_contiguous() ? x_in : contiguous(x_in.detach());
  Tensor cols = Tensor::empty(cols_shape(g), x.dtype(), x.device());
  kernels::im2col(x.device(), x.dtype(), g, x.raw_data(), cols.raw_data());
  if (should_record(x_in))
    record("im2col", {x_in}, cols, {}, [shape = x_in.shape(), k, s, p, d, k_major](Node&, const Tensor& gr) -> RuleGrads {
      return {col2im(gr, shape, k, s, p, d, k_major)};
    });
  return cols;
}

Tensor col2im(const Tensor& cols_in, const Shape& image, Pair2 k, Pair2 s, Pair2 p, Pair2 d, bool k_major) {
  METALOSS_PROFILE_SCOPE("col2im", "op");
  check_float(cols_in, "col2im");
  auto g = conv_geom(image, k, s, p, d, "col2im");
  g.k_major = k_major;
  const Shape want = cols_shape(g);
  if (cols_in.shape() != want) fail("col2im", "columns " + cols_in.desc() + " do not match " + want.str());
  Tensor cols = cols_in.is_contiguous() ? cols_in : contiguous(cols_in.detach());
  Tensor x = Tensor::empty(image, cols.dtype(), cols.device());
  kernels::col2im(cols.device(), cols.dtype(), g, cols.raw_data(), x.raw_data());
  if (should_record(cols_in))
    record("col2im", {cols_in}, x, {}, [k, s, p, d, k_major](Node&, const Tensor& gr) -> RuleGrads {
      return {im2col(gr, k, s, p, d, k_major)};
    });
  return x;
}

namespace {

// Switches read by every conv2d, possibly on several threads (search workers, thread pools):
// atomics, so flipping one while other threads convolve is not a data race.
std::atomic<bool> g_conv_recompute{[] {
  const char* e = std::getenv("METALOSS_CONV_RECOMPUTE");
  return e && e[0] == '1';
}()};

std::atomic<bool> g_cudnn_enabled{[] {
  const char* e = std::getenv("METALOSS_NO_CUDNN");
  return !(e && e[0] == '1');
}()};

constexpr int64_t kBatchChannelSwap[4] = {1, 0, 2, 3};

// One GEMM for the whole batch, [o, K] x [K, n*L], instead of n small ones: fewer BLAS calls,
// and the weight gradient becomes one GEMM with inner dimension n*L rather than n GEMMs plus a
// sum over the batch. The result is [o, n, L]; it is viewed as [n, o, oh, ow].
Tensor conv2d_im2col(const Tensor& x, const Tensor& w, const kernels::Conv2dGeom& g, Pair2 stride, Pair2 padding,
                     Pair2 dilation) {
  const int64_t o = w.shape()[0], K = w.shape()[1] * g.kh * g.kw;
  Tensor cols = im2col(x, {g.kh, g.kw}, stride, padding, dilation, /*k_major=*/true);  // [K, n, L]
  Tensor yt = matmul(reshape_to(w, Shape{o, K}), reshape_to(cols, Shape{K, g.n * g.oh * g.ow}));
  return permute_dims(reshape_to(yt, Shape{o, g.n, g.oh, g.ow}), kBatchChannelSwap, 4);
}

// The gradient [o, n*L] laid out for the GEMMs of the two adjoints.
Tensor grad_rows(const Tensor& gy) {
  return reshape_to(contiguous(permute_dims(gy, kBatchChannelSwap, 4)),
                    Shape{gy.shape()[1], gy.shape()[0] * gy.shape()[2] * gy.shape()[3]});
}

void check_conv_operands(const Tensor& a, const Tensor& b, const char* op) {
  check_float(a, op);
  check_same_dtype(a, b, op);
  if (a.dim() != 4 || b.dim() != 4) fail(op, "expected 4-d operands, got " + a.desc() + " and " + b.desc());
}

bool use_cudnn(const Tensor& x) {
  return x.is_cuda() && g_cudnn_enabled.load(std::memory_order_relaxed) && kernels::cudnn_available();
}

// The CPU's direct kernels (kernels/cpu/direct_conv.cpp, stride 1) for few input taps c * kh * kw, where
// im2col + GEMM moves kh * kw copies of the input through memory for little arithmetic
// (LeNet-5's conv1: 25 taps); above it the GEMM wins (bench/README.md, "direct convolution").
// METALOSS_DIRECT_CONV_MAX_TAPS overrides the bound (0: always im2col), for the benchmark.
std::atomic<int64_t> g_direct_max_taps{[]() -> int64_t {
  const char* e = std::getenv("METALOSS_DIRECT_CONV_MAX_TAPS");
  return e ? std::atoll(e) : 64;
}()};

bool use_cpu_direct(const Tensor& x, const kernels::Conv2dGeom& g) {
  return !x.is_cuda() && g.sh == 1 && g.sw == 1 && g.c * g.kh * g.kw <= g_direct_max_taps.load(std::memory_order_relaxed);
}

// Whether conv2d and its adjoints run as direct kernels (cuDNN, or the CPU's) rather than im2col + GEMM.
bool use_direct_kernels(const Tensor& x, const kernels::Conv2dGeom& g) { return use_cudnn(x) || use_cpu_direct(x, g); }

}  // namespace

void set_cudnn_enabled(bool on) { g_cudnn_enabled.store(on, std::memory_order_relaxed); }
void set_direct_conv_max_taps(int64_t taps) { g_direct_max_taps.store(taps, std::memory_order_relaxed); }
int64_t direct_conv_max_taps() { return g_direct_max_taps.load(std::memory_order_relaxed); }
void set_conv_recompute(bool on) { g_conv_recompute.store(on, std::memory_order_relaxed); }
bool conv_recompute() { return g_conv_recompute.load(std::memory_order_relaxed); }
bool cudnn_enabled() { return g_cudnn_enabled.load(std::memory_order_relaxed) && kernels::cudnn_available(); }

Tensor conv2d_direct(const Tensor& x_in, const Tensor& w_in, Pair2 stride, Pair2 padding, Pair2 dilation) {
  METALOSS_PROFILE_SCOPE("conv2d_direct", "op");
  check_conv_operands(x_in, w_in, "conv2d_direct");
  if (w_in.shape()[1] != x_in.shape()[1])
    fail("conv2d_direct", "input " + x_in.desc() + " and weight " + w_in.desc() + " disagree on input channels");
  const auto g = conv_geom(x_in.shape(), {w_in.shape()[2], w_in.shape()[3]}, stride, padding, dilation, "conv2d_direct");
  const int64_t o = w_in.shape()[0];
  Tensor y;
  if (use_direct_kernels(x_in, g)) {
    const Tensor x = contiguous(x_in.detach()), w = contiguous(w_in.detach());
    y = Tensor::empty(Shape{g.n, o, g.oh, g.ow}, x.dtype(), x.device());
    kernels::conv2d_forward(x.device(), x.dtype(), g, o, x.raw_data(), w.raw_data(), y.raw_data());
  } else {
    NoGrad ng;
    y = contiguous(conv2d_im2col(x_in, w_in, g, stride, padding, dilation));
  }
  if (should_record(x_in, w_in))
    record("conv2d_direct", {x_in, w_in}, y, {x_in, w_in},
           [stride, padding, dilation, xs = x_in.shape(), ws = w_in.shape()](Node& n, const Tensor& gy) -> RuleGrads {
             RuleGrads gs(2);
             if (n.needs_grad(0)) gs[0] = conv2d_input_grad(gy, n.saved_tensor(1), xs, stride, padding, dilation);
             if (n.needs_grad(1)) gs[1] = conv2d_weight_grad(n.saved_tensor(0), gy, ws, stride, padding, dilation);
             return gs;
           });
  return y;
}

Tensor conv2d_input_grad(const Tensor& gy_in, const Tensor& w_in, const Shape& x_shape, Pair2 stride, Pair2 padding,
                         Pair2 dilation) {
  METALOSS_PROFILE_SCOPE("conv2d_input_grad", "op");
  check_conv_operands(gy_in, w_in, "conv2d_input_grad");
  const auto g = conv_geom(x_shape, {w_in.shape()[2], w_in.shape()[3]}, stride, padding, dilation, "conv2d_input_grad");
  const int64_t o = w_in.shape()[0];
  if (gy_in.shape() != Shape{g.n, o, g.oh, g.ow} || w_in.shape()[1] != g.c)
    fail("conv2d_input_grad", "gradient " + gy_in.desc() + " and weight " + w_in.desc() + " do not fit input " + x_shape.str());
  Tensor dx;
  if (use_direct_kernels(gy_in, g)) {
    const Tensor gy = contiguous(gy_in.detach()), w = contiguous(w_in.detach());
    dx = Tensor::empty(x_shape, gy.dtype(), gy.device());
    kernels::conv2d_backward_data(gy.device(), gy.dtype(), g, o, gy.raw_data(), w.raw_data(), dx.raw_data());
  } else {
    NoGrad ng;
    const int64_t K = g.c * g.kh * g.kw;
    Tensor cols = matmul(transpose(reshape_to(w_in, Shape{o, K}), 0, 1), grad_rows(gy_in));  // [K, n*L]
    dx = col2im(reshape_to(cols, Shape{K, g.n, g.oh * g.ow}), x_shape, {g.kh, g.kw}, stride, padding, dilation, true);
  }
  if (should_record(gy_in, w_in))
    record("conv2d_input_grad", {gy_in, w_in}, dx, {gy_in, w_in},
           [stride, padding, dilation, ws = w_in.shape()](Node& n, const Tensor& u) -> RuleGrads {
             RuleGrads gs(2);
             if (n.needs_grad(0)) gs[0] = conv2d_direct(u, n.saved_tensor(1), stride, padding, dilation);
             if (n.needs_grad(1)) gs[1] = conv2d_weight_grad(u, n.saved_tensor(0), ws, stride, padding, dilation);
             return gs;
           });
  return dx;
}

Tensor conv2d_weight_grad(const Tensor& x_in, const Tensor& gy_in, const Shape& w_shape, Pair2 stride, Pair2 padding,
                          Pair2 dilation) {
  METALOSS_PROFILE_SCOPE("conv2d_weight_grad", "op");
  check_conv_operands(x_in, gy_in, "conv2d_weight_grad");
  if (w_shape.size() != 4) fail("conv2d_weight_grad", "weight shape " + w_shape.str() + " is not 4-d");
  const auto g = conv_geom(x_in.shape(), {w_shape[2], w_shape[3]}, stride, padding, dilation, "conv2d_weight_grad");
  const int64_t o = w_shape[0];
  if (gy_in.shape() != Shape{g.n, o, g.oh, g.ow} || w_shape[1] != g.c)
    fail("conv2d_weight_grad", "input " + x_in.desc() + " and gradient " + gy_in.desc() + " do not fit weight " + w_shape.str());
  Tensor dw;
  if (use_direct_kernels(x_in, g)) {
    const Tensor x = contiguous(x_in.detach()), gy = contiguous(gy_in.detach());
    dw = Tensor::empty(w_shape, x.dtype(), x.device());
    kernels::conv2d_backward_filter(x.device(), x.dtype(), g, o, x.raw_data(), gy.raw_data(), dw.raw_data());
  } else {
    NoGrad ng;
    const int64_t K = g.c * g.kh * g.kw;
    Tensor cols = im2col(x_in, {g.kh, g.kw}, stride, padding, dilation, true);  // [K, n, L]
    dw = reshape_to(matmul(grad_rows(gy_in), transpose(reshape_to(cols, Shape{K, g.n * g.oh * g.ow}), 0, 1)), w_shape);
  }
  if (should_record(x_in, gy_in))
    record("conv2d_weight_grad", {x_in, gy_in}, dw, {x_in, gy_in},
           [stride, padding, dilation, xs = x_in.shape()](Node& n, const Tensor& u) -> RuleGrads {
             RuleGrads gs(2);
             if (n.needs_grad(0)) gs[0] = conv2d_input_grad(n.saved_tensor(1), u, xs, stride, padding, dilation);
             if (n.needs_grad(1)) gs[1] = conv2d_direct(n.saved_tensor(0), u, stride, padding, dilation);
             return gs;
           });
  return dw;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, Pair2 stride, Pair2 padding, Pair2 dilation,
              int64_t groups) {
  METALOSS_PROFILE_SCOPE("conv2d", "op");
  check_same_dtype(x, w, "conv2d");
  if (w.dim() != 4) fail("conv2d", "weight must be 4-d [out, in/groups, kh, kw], got " + w.desc());
  if (x.dim() != 4) fail("conv2d", "input must be 4-d [n, c, h, w], got " + x.desc());
  const int64_t c = x.shape()[1], o = w.shape()[0];
  if (groups < 1 || c % groups || o % groups)
    fail("conv2d", "groups " + std::to_string(groups) + " must divide in channels " + std::to_string(c) +
                       " and out channels " + std::to_string(o));
  if (w.shape()[1] * groups != c)
    fail("conv2d", "input " + x.desc() + " has " + std::to_string(c) + " channels but weight " + w.desc() +
                       " expects " + std::to_string(w.shape()[1] * groups) + " (groups " + std::to_string(groups) + ")");
  const Pair2 k{w.shape()[2], w.shape()[3]};
  const auto g = conv_geom(x.shape(), k, stride, padding, dilation, "conv2d");
  if (bias.defined()) {
    check_same_dtype(x, bias, "conv2d");
    if (bias.dim() != 1 || bias.shape()[0] != o)
      fail("conv2d", "bias " + bias.desc() + " does not match " + std::to_string(o) + " out channels");
  }
  Tensor y;
  if (groups == 1 && use_direct_kernels(x, g)) {
    y = conv2d_direct(x, w, stride, padding, dilation);
  } else if (groups == 1 && g_conv_recompute.load(std::memory_order_relaxed) && should_record(x, w)) {
    y = conv2d_direct(x, w, stride, padding, dilation);
  } else if (groups == 1) {
    y = conv2d_im2col(x, w, g, stride, padding, dilation);
    if (!bias.defined()) return contiguous(y);  // later ops run fastest on dense memory
  } else {
    Tensor cols = im2col(x, k, stride, padding, dilation);  // [n, c*kh*kw, L]
    Tensor cg = reshape(cols, {g.n, groups, -1, g.oh * g.ow});
    Tensor wg = reshape(w, {groups, o / groups, -1});
    y = reshape(matmul(wg, cg), {g.n, o, g.oh, g.ow});  // [n, groups, o/groups, L]
  }
  if (bias.defined()) y = add(y, reshape_to(bias, Shape{1, o, 1, 1}));
  return y;
}

namespace {
kernels::Pool2dGeom pool_geom(const Tensor& x, Pair2 k, Pair2 s, Pair2 p, const char* op) {
  check_float(x, op);
  if (x.dim() != 4) fail(op, "expected a 4-d input [n, c, h, w], got " + x.desc());
  if (s.h == 0 && s.w == 0) s = k;
  if (k.h <= 0 || k.w <= 0 || s.h <= 0 || s.w <= 0 || p.h < 0 || p.w < 0)
    fail(op, "kernel and stride must be positive and padding non-negative");
  if (p.h * 2 > k.h || p.w * 2 > k.w) fail(op, "padding must be at most half the kernel size");
  kernels::Pool2dGeom g{x.shape()[0] * x.shape()[1], x.shape()[2], x.shape()[3], k.h, k.w, s.h, s.w, p.h, p.w, 0, 0};
  g.oh = (g.h + 2 * p.h - k.h) / s.h + 1;
  g.ow = (g.w + 2 * p.w - k.w) / s.w + 1;
  if (g.h + 2 * p.h < k.h || g.w + 2 * p.w < k.w) fail(op, "input " + x.desc() + " is smaller than the pooling window");
  return g;
}
}  // namespace

// max_pool2d = gather of the arg-max positions: its backward is gather's (a scatter-add), whose
// own backward is a gather again, so every order is covered.
Tensor max_pool2d(const Tensor& x, Pair2 k, Pair2 s, Pair2 p) {
  METALOSS_PROFILE_SCOPE("max_pool2d", "op");
  const auto g = pool_geom(x, k, s, p, "max_pool2d");
  Tensor xc = x.is_contiguous() ? x : contiguous(x.detach());
  Tensor idx = Tensor::empty(Shape{x.shape()[0], x.shape()[1], g.oh * g.ow}, DType::Int64, x.device());
  kernels::max_pool2d_indices(x.device(), x.dtype(), g, xc.raw_data(), idx.data<int64_t>());
  Tensor flat = reshape_to(x, Shape{x.shape()[0], x.shape()[1], g.h * g.w});
  return reshape_to(gather(flat, 2, idx), Shape{x.shape()[0], x.shape()[1], g.oh, g.ow});
}

namespace {
// A linear pooling op and its adjoint, each the other's backward rule.
Tensor avg_pool_pair(const Tensor& in, const kernels::Pool2dGeom& g, const Shape& out_shape, bool adaptive,
                     bool backward) {
  METALOSS_PROFILE_SCOPE(adaptive ? (backward ? "adaptive_avg_pool2d_backward" : "adaptive_avg_pool2d")
                                  : (backward ? "avg_pool2d_backward" : "avg_pool2d"),
                         "op");
  Tensor src = in.is_contiguous() ? in : contiguous(in.detach());
  Tensor out = Tensor::empty(out_shape, in.dtype(), in.device());
  if (adaptive)
    (backward ? kernels::adaptive_avg_pool2d_backward : kernels::adaptive_avg_pool2d)(in.device(), in.dtype(), g, src.raw_data(),
                                                                                      out.raw_data());
  else
    (backward ? kernels::avg_pool2d_backward : kernels::avg_pool2d)(in.device(), in.dtype(), g, src.raw_data(), out.raw_data());
  if (should_record(in)) {
    const char* name = adaptive ? (backward ? "adaptive_avg_pool2d_backward" : "adaptive_avg_pool2d")
                                : (backward ? "avg_pool2d_backward" : "avg_pool2d");
    record(name, {in}, out, {}, [g, shape = in.shape(), adaptive, backward](Node&, const Tensor& gr) -> RuleGrads {
      return {avg_pool_pair(gr, g, shape, adaptive, !backward)};
    });
  }
  return out;
}
}  // namespace

Tensor avg_pool2d(const Tensor& x, Pair2 k, Pair2 s, Pair2 p) {
  const auto g = pool_geom(x, k, s, p, "avg_pool2d");
  return avg_pool_pair(x, g, Shape{x.shape()[0], x.shape()[1], g.oh, g.ow}, false, false);
}

Tensor adaptive_avg_pool2d(const Tensor& x, Pair2 out) {
  check_float(x, "adaptive_avg_pool2d");
  if (x.dim() != 4) fail("adaptive_avg_pool2d", "expected a 4-d input [n, c, h, w], got " + x.desc());
  if (out.h <= 0 || out.w <= 0) fail("adaptive_avg_pool2d", "output size must be positive");
  kernels::Pool2dGeom g{x.shape()[0] * x.shape()[1], x.shape()[2], x.shape()[3], 0, 0, 0, 0, 0, 0, out.h, out.w};
  return avg_pool_pair(x, g, Shape{x.shape()[0], x.shape()[1], out.h, out.w}, true, false);
}

}  // namespace metaloss
