// The device-neutral kernel API (kernels/kernels.h): checks that a call's operands share a device
// and sends it to the CPU kernel or the CUDA kernel of the same contract.
#include <initializer_list>
#include <stdexcept>
#include <string>

#include "kernels/cpu/kernels.h"
#include "kernels/cuda/runtime.h"
#include "kernels/kernels.h"
#ifdef METALOSS_WITH_CUDA
#include "kernels/cuda/cuda_kernels.h"
#endif

namespace metaloss::kernels {
namespace {

// The device all views of one call live on; throws when they differ.
Device common_device(const char* kernel, std::initializer_list<const View*> views) {
  const Device d = (*views.begin())->device;
  for (const View* v : views)
    if (v->device != d)
      throw std::invalid_argument(std::string("kernel ") + kernel + ": operands on different devices (" + d.str() +
                                  " and " + v->device.str() + "); move them with .to(device) first");
  return d;
}

#ifdef METALOSS_WITH_CUDA
// CUDA kernels launch on the current device: make it the operands' one.
bool on_cuda(Device d) {
  if (!d.is_cuda()) return false;
  cuda::make_current(d.index);
  return true;
}
#define METALOSS_DISPATCH(dev, call) \
  do {                               \
    if (on_cuda(dev)) return cuda::call; \
    return cpu::call;                \
  } while (0)
// The same, with the CUDA launch timed on the device while profiling (cuda::KernelTimer); bytes
// and flops are evaluated only then.
#define METALOSS_DISPATCH_TIMED(dev, name, bytes, flops, call)                                            \
  do {                                                                                                    \
    if (on_cuda(dev)) {                                                                                   \
      const bool timed_ = profiler::enabled();                                                            \
      cuda::KernelTimer timer_(name, timed_ ? double(bytes) : 0.0, timed_ ? double(flops) : 0.0);         \
      return cuda::call;                                                                                  \
    }                                                                                                     \
    return cpu::call;                                                                                     \
  } while (0)
#else
[[noreturn]] void no_cuda(const char* kernel) {
  throw std::runtime_error(std::string("kernel ") + kernel + ": a CUDA operand, but metaloss was built without CUDA");
}
#define METALOSS_DISPATCH(dev, call)    \
  do {                                  \
    if ((dev).is_cuda()) no_cuda(#call); \
    return cpu::call;                   \
  } while (0)
#define METALOSS_DISPATCH_TIMED(dev, name, bytes, flops, call) METALOSS_DISPATCH(dev, call)
#endif

// Bytes a kernel moves at the least: each operand read or written once (what its GB/s is of).
[[maybe_unused]] double traffic(std::initializer_list<const View*> views) {
  double b = 0;
  for (const View* v : views) b += double(v->numel()) * double(dtype_size(v->dtype));
  return b;
}
[[maybe_unused]] double gemm_bytes(DType t, const GemmArgs& g) {
  return double(dtype_size(t)) * double(g.batch) * double(g.m * g.k + g.k * g.n + (g.accumulate ? 2 : 1) * g.m * g.n);
}
[[maybe_unused]] double conv_flops(const Conv2dGeom& g, int64_t k) {
  return 2.0 * double(g.n) * double(k) * double(g.oh * g.ow) * double(g.c * g.kh * g.kw);
}
[[maybe_unused]] double conv_bytes(DType t, const Conv2dGeom& g, int64_t k) {
  return double(dtype_size(t)) * double(g.n * g.c * g.h * g.w + k * g.c * g.kh * g.kw + g.n * k * g.oh * g.ow);
}

}  // namespace

void unary(UnaryOp op, const View& x, const View& out, double alpha, double beta) {
  METALOSS_DISPATCH_TIMED(common_device("unary", {&x, &out}), "unary", traffic({&x, &out}), out.numel(), unary(op, x, out, alpha, beta));
}
void binary(BinaryOp op, const View& a, const View& b, const View& out) {
  METALOSS_DISPATCH_TIMED(common_device("binary", {&a, &b, &out}), "binary", traffic({&a, &b, &out}), out.numel(), binary(op, a, b, out));
}
void compare(CompareOp op, const View& a, const View& b, const View& out) {
  METALOSS_DISPATCH_TIMED(common_device("compare", {&a, &b, &out}), "compare", traffic({&a, &b, &out}), out.numel(), compare(op, a, b, out));
}
void compare_scalar(CompareOp op, const View& a, double s, const View& out) {
  METALOSS_DISPATCH_TIMED(common_device("compare_scalar", {&a, &out}), "compare_scalar", traffic({&a, &out}), out.numel(), compare_scalar(op, a, s, out));
}
void axpby(const View& a, const View& b, const View& out, double alpha, double beta) {
  METALOSS_DISPATCH_TIMED(common_device("axpby", {&a, &b, &out}), "axpby", traffic({&a, &b, &out}), 3 * out.numel(), axpby(a, b, out, alpha, beta));
}
void where(const View& cond, const View& a, const View& b, const View& out) {
  METALOSS_DISPATCH_TIMED(common_device("where", {&cond, &a, &b, &out}), "where", traffic({&cond, &a, &b, &out}), 0, where(cond, a, b, out));
}
void copy(const View& src, const View& out) { METALOSS_DISPATCH_TIMED(common_device("copy", {&src, &out}), "copy", traffic({&src, &out}), 0, copy(src, out)); }
void fill(const View& out, double value) { METALOSS_DISPATCH_TIMED(out.device, "fill", traffic({&out}), 0, fill(out, value)); }
void reduce(ReduceOp op, const View& x, const View& out) {
  METALOSS_DISPATCH_TIMED(common_device("reduce", {&x, &out}), "reduce", traffic({&x, &out}), x.numel(), reduce(op, x, out));
}
void argmax(Device dev, DType t, const void* x, int64_t* out, int64_t outer, int64_t dim, int64_t inner) {
  METALOSS_DISPATCH_TIMED(dev, "argmax", double(dtype_size(t)) * outer * dim * inner + 8.0 * outer * inner, outer * dim * inner, argmax(t, x, out, outer, dim, inner));
}
void softmax(Device dev, DType t, const void* x, void* out, int64_t outer, int64_t dim, int64_t inner, bool log) {
  METALOSS_DISPATCH_TIMED(dev, log ? "log_softmax" : "softmax", 2.0 * double(dtype_size(t)) * outer * dim * inner, 4.0 * outer * dim * inner, softmax(t, x, out, outer, dim, inner, log));
}
void gemm(Device dev, DType t, const GemmArgs& g, const void* a, const void* b, void* c) {
  METALOSS_DISPATCH_TIMED(dev, "gemm", gemm_bytes(t, g), 2.0 * double(g.batch) * g.m * g.n * g.k, gemm(t, g, a, b, c));
}
void im2col(Device dev, DType t, const Conv2dGeom& g, const void* x, void* cols) {
  METALOSS_DISPATCH_TIMED(dev, "im2col", double(dtype_size(t)) * (g.n * g.c * g.h * g.w + g.n * g.c * g.kh * g.kw * g.oh * g.ow), 0, im2col(t, g, x, cols));
}
void col2im(Device dev, DType t, const Conv2dGeom& g, const void* cols, void* x) {
  METALOSS_DISPATCH_TIMED(dev, "col2im", double(dtype_size(t)) * (g.n * g.c * g.h * g.w + g.n * g.c * g.kh * g.kw * g.oh * g.ow), 0, col2im(t, g, cols, x));
}
void max_pool2d_indices(Device dev, DType t, const Pool2dGeom& g, const void* x, int64_t* idx) {
  METALOSS_DISPATCH_TIMED(dev, "max_pool2d_indices", 0, 0, max_pool2d_indices(t, g, x, idx));
}
void avg_pool2d(Device dev, DType t, const Pool2dGeom& g, const void* x, void* out) {
  METALOSS_DISPATCH_TIMED(dev, "avg_pool2d", 0, 0, avg_pool2d(t, g, x, out));
}
void avg_pool2d_backward(Device dev, DType t, const Pool2dGeom& g, const void* gout, void* gin) {
  METALOSS_DISPATCH_TIMED(dev, "avg_pool2d_backward", 0, 0, avg_pool2d_backward(t, g, gout, gin));
}
void adaptive_avg_pool2d(Device dev, DType t, const Pool2dGeom& g, const void* x, void* out) {
  METALOSS_DISPATCH_TIMED(dev, "adaptive_avg_pool2d", 0, 0, adaptive_avg_pool2d(t, g, x, out));
}
void adaptive_avg_pool2d_backward(Device dev, DType t, const Pool2dGeom& g, const void* gout, void* gin) {
  METALOSS_DISPATCH_TIMED(dev, "adaptive_avg_pool2d_backward", 0, 0, adaptive_avg_pool2d_backward(t, g, gout, gin));
}
void gather(const View& x, int dim, const View& index, const View& out) {
  METALOSS_DISPATCH_TIMED(common_device("gather", {&x, &index, &out}), "gather", traffic({&index, &out}) + double(out.numel()) * dtype_size(out.dtype), 0, gather(x, dim, index, out));
}
void scatter_add(const View& out, int dim, const View& index, const View& src) {
  METALOSS_DISPATCH_TIMED(common_device("scatter_add", {&out, &index, &src}), "scatter_add", traffic({&index, &src}) + 2.0 * double(src.numel()) * dtype_size(src.dtype), src.numel(), scatter_add(out, dim, index, src));
}
void index_select(const View& x, int dim, const int64_t* index, int64_t n, const View& out) {
  METALOSS_DISPATCH_TIMED(common_device("index_select", {&x, &out}), "index_select", 2.0 * traffic({&out}), 0, index_select(x, dim, index, n, out));
}
void index_add(const View& out, int dim, const int64_t* index, int64_t n, const View& src) {
  METALOSS_DISPATCH_TIMED(common_device("index_add", {&out, &src}), "index_add", 3.0 * traffic({&src}), src.numel(), index_add(out, dim, index, n, src));
}
int64_t find_bad_index(const View& index, int64_t size) { METALOSS_DISPATCH(index.device, find_bad_index(index, size)); }
void philox_uniform(Device dev, DType t, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  METALOSS_DISPATCH_TIMED(dev, "philox_uniform", double(dtype_size(t)) * n, n, philox_uniform(t, out, n, seed, offset, lo, hi));
}
void philox_normal(Device dev, DType t, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  METALOSS_DISPATCH_TIMED(dev, "philox_normal", double(dtype_size(t)) * n, n, philox_normal(t, out, n, seed, offset, mean, std));
}
void philox_randint(Device dev, int64_t* out, int64_t n, uint64_t seed, uint64_t offset, int64_t lo, int64_t hi) {
  METALOSS_DISPATCH_TIMED(dev, "philox_randint", 8.0 * n, n, philox_randint(out, n, seed, offset, lo, hi));
}

void symmetric_eigen(Device dev, DType t, int64_t n, const void* a, void* eigenvalues, void* eigenvectors) {
  if (dev.is_cuda()) throw std::invalid_argument("kernel symmetric_eigen: CPU only (move the matrix with .cpu())");
  cpu::symmetric_eigen(t, n, a, eigenvalues, eigenvectors);
}

bool cudnn_available() {
#if defined(METALOSS_WITH_CUDA) && defined(METALOSS_WITH_CUDNN)
  return cuda::device_count() > 0;
#else
  return false;
#endif
}

// Direct convolution: cuDNN on a CUDA device, the CPU's direct kernels (kernels/cpu/direct_conv.cpp)
// on the host.
#if defined(METALOSS_WITH_CUDA) && defined(METALOSS_WITH_CUDNN)
#define METALOSS_CONV_DISPATCH(dev, name, bytes, flops, cuda_call, cpu_call)                   \
  do {                                                                                         \
    if (on_cuda(dev)) {                                                                        \
      const bool timed_ = profiler::enabled();                                                 \
      cuda::KernelTimer timer_(name, timed_ ? (bytes) : 0.0, timed_ ? (flops) : 0.0);          \
      return cuda::cuda_call;                                                                  \
    }                                                                                          \
    return cpu::cpu_call;                                                                      \
  } while (0)
#else
#define METALOSS_CONV_DISPATCH(dev, name, bytes, flops, cuda_call, cpu_call)                                   \
  do {                                                                                                         \
    if ((dev).is_cuda())                                                                                       \
      throw std::runtime_error(std::string("kernel ") + name + ": a CUDA operand, but metaloss was built without cuDNN"); \
    return cpu::cpu_call;                                                                                      \
  } while (0)
#endif
void conv2d_forward(Device dev, DType t, const Conv2dGeom& g, int64_t k, const void* x, const void* w, void* y) {
  METALOSS_CONV_DISPATCH(dev, "cudnn_conv2d_forward", conv_bytes(t, g, k), conv_flops(g, k),
                         conv2d_forward(t, g, k, x, w, y), direct_conv2d_forward(t, g, k, x, w, y));
}
void conv2d_backward_data(Device dev, DType t, const Conv2dGeom& g, int64_t k, const void* dy, const void* w, void* dx) {
  METALOSS_CONV_DISPATCH(dev, "cudnn_conv2d_backward_data", conv_bytes(t, g, k), conv_flops(g, k),
                         conv2d_backward_data(t, g, k, dy, w, dx), direct_conv2d_backward_data(t, g, k, dy, w, dx));
}
void conv2d_backward_filter(Device dev, DType t, const Conv2dGeom& g, int64_t k, const void* x, const void* dy,
                            void* dw) {
  METALOSS_CONV_DISPATCH(dev, "cudnn_conv2d_backward_filter", conv_bytes(t, g, k), conv_flops(g, k),
                         conv2d_backward_filter(t, g, k, x, dy, dw), direct_conv2d_backward_filter(t, g, k, x, dy, dw));
}
#undef METALOSS_CONV_DISPATCH

}  // namespace metaloss::kernels
