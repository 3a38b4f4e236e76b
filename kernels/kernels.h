// The compute kernels, on whichever device the data lives: each call goes to the CPU kernel
// (kernels/cpu) or the CUDA kernel (kernels/cuda) of the same contract. Views carry their device;
// functions that take raw pointers take the device first. Every operand of one call must be on
// the same device (a mismatch throws std::invalid_argument naming the kernel and the devices).
// The caller (engine) allocates outputs, checks shapes and dtypes, and expresses broadcasting as
// zero strides.
#pragma once
#include <cstdint>
#include "kernels/cpu/view.h"
#include "kernels/device.h"

namespace metaloss::kernels {

enum class UnaryOp : uint8_t {
  Neg, Exp, Log, Sqrt, Rsqrt, Abs, Sign, Square, Tanh, Sigmoid, Relu,
  LeakyRelu,   // alpha = negative slope
  Softplus,    // alpha = beta, beta = threshold
  AddScalar,   // x + alpha
  MulScalar,   // x * alpha
  PowScalar,   // x ^ alpha
  RSubScalar,  // alpha - x
  RDivScalar,  // alpha / x
  Clamp,       // min(max(x, alpha), beta)
};
// TanhBackward(g, y) = g * (1 - y*y), SigmoidBackward(g, y) = g * (y * (1 - y)),
// ReluBackward(g, x) = x > 0 ? g : 0 (a select: g = inf gives 0, not NaN): the fused backward rules
// of tanh/sigmoid/relu (the engine ops tanh_backward, sigmoid_backward, relu_backward).
enum class BinaryOp : uint8_t { Add, Sub, Mul, Div, Pow, Min, Max, TanhBackward, SigmoidBackward, ReluBackward };
enum class CompareOp : uint8_t { Eq, Ne, Lt, Le, Gt, Ge };
enum class ReduceOp : uint8_t { Sum, Max, Min };

// out = op(x); x and out have the same shape and dtype (x may use zero strides).
void unary(UnaryOp op, const View& x, const View& out, double alpha = 0, double beta = 0);
// out = op(a, b); a, b already broadcast to out's shape through strides.
void binary(BinaryOp op, const View& a, const View& b, const View& out);
// out (bool) = a op b.
void compare(CompareOp op, const View& a, const View& b, const View& out);
// out (bool) = a op scalar.
void compare_scalar(CompareOp op, const View& a, double s, const View& out);
// out = alpha * a + beta * b (floating dtypes; out may alias a or b only as the identical view).
void axpby(const View& a, const View& b, const View& out, double alpha, double beta);
// out = cond ? a : b; cond is bool.
void where(const View& cond, const View& a, const View& b, const View& out);
// out = src, converting dtype as needed; shapes equal (src may use zero strides).
void copy(const View& src, const View& out);
void fill(const View& out, double value);

// Reduction of x into out: out has x's ndim, with size 1 on each reduced dim.
void reduce(ReduceOp op, const View& x, const View& out);

// Index of the first maximum along the middle dim of a contiguous [outer, dim, inner] tensor
// (NaN counts as the maximum, as in PyTorch); out is int64 [outer, inner].
void argmax(Device dev, DType t, const void* x, int64_t* out, int64_t outer, int64_t dim, int64_t inner);

// Softmax / log-softmax of a contiguous tensor seen as [outer, dim, inner].
void softmax(Device dev, DType t, const void* x, void* out, int64_t outer, int64_t dim, int64_t inner, bool log);

// C[b] = op(A[b]) @ op(B[b]) (+ C if accumulate), row-major, batch strides in elements.
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;
  bool accumulate = false;
};
void gemm(Device dev, DType t, const GemmArgs& g, const void* a, const void* b, void* c);

// Convolution helpers: images [n, c, h, w] contiguous <-> columns [n, c*kh*kw, oh*ow].
struct Conv2dGeom {
  int64_t n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
  // Column layout: false = [n, c*kh*kw, oh*ow] (one matrix per image); true = [c*kh*kw, n, oh*ow],
  // so a whole batch is one [c*kh*kw, n*oh*ow] matrix and a convolution is a single GEMM.
  bool k_major = false;
};
void im2col(Device dev, DType t, const Conv2dGeom& g, const void* x, void* cols);
void col2im(Device dev, DType t, const Conv2dGeom& g, const void* cols, void* x);  // x is overwritten

// Pooling over planes of a contiguous [planes, h, w] tensor.
struct Pool2dGeom {
  int64_t planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow;
};
void max_pool2d_indices(Device dev, DType t, const Pool2dGeom& g, const void* x, int64_t* idx);
void avg_pool2d(Device dev, DType t, const Pool2dGeom& g, const void* x, void* out);
void avg_pool2d_backward(Device dev, DType t, const Pool2dGeom& g, const void* gout, void* gin);
void adaptive_avg_pool2d(Device dev, DType t, const Pool2dGeom& g, const void* x, void* out);
void adaptive_avg_pool2d_backward(Device dev, DType t, const Pool2dGeom& g, const void* gout, void* gin);

// Indexing along `dim`. For gather/scatter_add the index view has the output's/source's shape.
// index_select/index_add read `index` (n values) from the views' device.
void gather(const View& x, int dim, const View& index, const View& out);
void scatter_add(const View& out, int dim, const View& index, const View& src);  // out += scatter(src)
void index_select(const View& x, int dim, const int64_t* index, int64_t n, const View& out);
void index_add(const View& out, int dim, const int64_t* index, int64_t n, const View& src);
// Checks every index lies in [0, size); returns the first bad position or -1.
int64_t find_bad_index(const View& index, int64_t size);

// Counter-based Philox-4x32-10 random numbers: element i of a draw with (seed, offset) depends
// only on (seed, offset + i), so CPU and GPU generators give the same numbers.
void philox_uniform(Device dev, DType t, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi);
void philox_normal(Device dev, DType t, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std);
void philox_randint(Device dev, int64_t* out, int64_t n, uint64_t seed, uint64_t offset, int64_t lo, int64_t hi);

// Eigenvalues (ascending) and eigenvectors (row-major n x n, column j the vector of eigenvalue j)
// of a contiguous symmetric n x n matrix (its lower triangle is read), through LAPACK ?syev.
// CPU only: a CUDA device throws.
void symmetric_eigen(Device dev, DType t, int64_t n, const void* a, void* eigenvalues, void* eigenvectors);

// Direct convolution (groups 1) of contiguous x [n, c, h, w] with w [k, c, kh, kw] into
// y [n, k, oh, ow], and its two adjoints: cuDNN on a CUDA device (only when built with cuDNN:
// cudnn_available()), the direct kernels of kernels/cpu/direct_conv.cpp on the host.
bool cudnn_available();
void conv2d_forward(Device dev, DType t, const Conv2dGeom& g, int64_t out_channels, const void* x, const void* w, void* y);
void conv2d_backward_data(Device dev, DType t, const Conv2dGeom& g, int64_t out_channels, const void* dy, const void* w,
                          void* dx);
void conv2d_backward_filter(Device dev, DType t, const Conv2dGeom& g, int64_t out_channels, const void* x,
                            const void* dy, void* dw);

}  // namespace metaloss::kernels
