// The CUDA kernels (kernels/cuda/*.cu). Same contracts as kernels/kernels.h; every pointer and
// view is memory on the current CUDA device, and every kernel runs on that device's stream
// (kernels/cuda/runtime.h), asynchronously. Launch errors throw std::runtime_error naming the
// kernel and the CUDA error. Defined only in a CUDA build (METALOSS_WITH_CUDA).
#pragma once
#include "kernels/kernels.h"

namespace metaloss::kernels::cuda {

// out = op(x); x and out have the same shape and dtype (x may use zero strides).
void unary(UnaryOp op, const View& x, const View& out, double alpha = 0, double beta = 0);
// out = op(a, b); a, b already broadcast to out's shape through strides.
void binary(BinaryOp op, const View& a, const View& b, const View& out);
// out (bool) = a op b.
void compare(CompareOp op, const View& a, const View& b, const View& out);
// out (bool) = a op scalar.
void compare_scalar(CompareOp op, const View& a, double s, const View& out);
// out = cond ? a : b; cond is bool.
void where(const View& cond, const View& a, const View& b, const View& out);
// out = src, converting dtype as needed; shapes equal (src may use zero strides).
void copy(const View& src, const View& out);
void fill(const View& out, double value);

// Reduction of x into out: out has x's ndim, with size 1 on each reduced dim.
void reduce(ReduceOp op, const View& x, const View& out);

// Index of the first maximum along the middle dim of a contiguous [outer, dim, inner] tensor
// (NaN counts as the maximum, as in PyTorch); out is int64 [outer, inner].
void argmax(DType t, const void* x, int64_t* out, int64_t outer, int64_t dim, int64_t inner);

// Softmax / log-softmax of a contiguous tensor seen as [outer, dim, inner].
void softmax(DType t, const void* x, void* out, int64_t outer, int64_t dim, int64_t inner, bool log);

// C[b] = op(A[b]) @ op(B[b]) (+ C if accumulate), row-major, batch strides in elements.
void gemm(DType t, const GemmArgs& g, const void* a, const void* b, void* c);

// Convolution helpers: images [n, c, h, w] contiguous <-> columns [n, c*kh*kw, oh*ow].
void im2col(DType t, const Conv2dGeom& g, const void* x, void* cols);
void col2im(DType t, const Conv2dGeom& g, const void* cols, void* x);  // x is overwritten

// Pooling over planes of a contiguous [planes, h, w] tensor.
void max_pool2d_indices(DType t, const Pool2dGeom& g, const void* x, int64_t* idx);
void avg_pool2d(DType t, const Pool2dGeom& g, const void* x, void* out);
void avg_pool2d_backward(DType t, const Pool2dGeom& g, const void* gout, void* gin);
void adaptive_avg_pool2d(DType t, const Pool2dGeom& g, const void* x, void* out);
void adaptive_avg_pool2d_backward(DType t, const Pool2dGeom& g, const void* gout, void* gin);

// Indexing along `dim`. For gather/scatter_add the index view has the output's/source's shape.
void gather(const View& x, int dim, const View& index, const View& out);
void scatter_add(const View& out, int dim, const View& index, const View& src);  // out += scatter(src)
void index_select(const View& x, int dim, const int64_t* index, int64_t n, const View& out);
void index_add(const View& out, int dim, const int64_t* index, int64_t n, const View& src);
// Checks every index lies in [0, size); returns the first bad position or -1.
int64_t find_bad_index(const View& index, int64_t size);

// Counter-based Philox-4x32-10 random numbers: element i of a draw with (seed, offset) depends
// only on (seed, offset + i), so CPU and GPU generators give the same numbers.
void philox_uniform(DType t, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi);
void philox_normal(DType t, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std);
void philox_randint(int64_t* out, int64_t n, uint64_t seed, uint64_t offset, int64_t lo, int64_t hi);

// cuDNN convolution (see kernels/kernels.h); defined only when built with cuDNN.
void conv2d_forward(DType t, const Conv2dGeom& g, int64_t out_channels, const void* x, const void* w, void* y);
void conv2d_backward_data(DType t, const Conv2dGeom& g, int64_t out_channels, const void* dy, const void* w, void* dx);
void conv2d_backward_filter(DType t, const Conv2dGeom& g, int64_t out_channels, const void* x, const void* dy, void* dw);

}  // namespace metaloss::kernels::cuda
