// Indexing kernels on the GPU: gather / scatter_add along a dim, index_select / index_add,
// find_bad_index. Same semantics as kernels/cpu/index.cpp. One thread per element; each thread
// turns its linear position into coordinates over the iterated shape and from them into element
// offsets of every operand (int64 throughout). The accumulating kernels use atomics, so with
// repeated indices the order of the float additions, and hence the last bits, can differ from
// the CPU's sequential order.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace metaloss::kernels::cuda {
namespace {

constexpr int kThreads = 256;

// The iterated shape and the strides (elements) of N operands over it; `dim`'s coordinate is
// reported separately because index_select/index_add look it up in the index array.
template <int N>
struct Walk {
  int nd = 0, dim = -1;
  int64_t shape[kMaxDims] = {};
  int64_t strides[N][kMaxDims] = {};
};

// Offsets of the N operands at linear position k (row-major over shape); returns the coordinate
// along w.dim (0 when dim is not one of the dims).
template <int N>
__host__ __device__ inline int64_t offsets_at(const Walk<N>& w, int64_t k, int64_t (&off)[N]) {
  int64_t at_dim = 0;
  for (int j = 0; j < N; ++j) off[j] = 0;
  for (int d = w.nd - 1; d >= 0; --d) {
    const int64_t c = k % w.shape[d];
    k /= w.shape[d];
    if (d == w.dim) at_dim = c;
    for (int j = 0; j < N; ++j) off[j] += c * w.strides[j][d];
  }
  return at_dim;
}

// Walk over `shape_of`'s shape with the strides of the given views; a view listed in
// `zero_dim` gets stride 0 along dim (its dim offset comes from the index instead).
template <int N>
Walk<N> make_walk(const View& shape_of, int dim, const View* const (&views)[N], const bool (&zero_dim)[N]) {
  Walk<N> w;
  w.nd = shape_of.ndim;
  w.dim = dim;
  for (int d = 0; d < shape_of.ndim; ++d) {
    w.shape[d] = shape_of.shape[d];
    for (int j = 0; j < N; ++j) w.strides[j][d] = (zero_dim[j] && d == dim) ? 0 : views[j]->strides[d];
  }
  return w;
}

// ---- atomics: out += v for every element type the CPU kernels accept --------------------------

// A bool (uint8) lives inside a 32-bit word: update its byte with compare-and-swap (GPU memory is
// little-endian; the aligned word lies inside the allocation's granule, and the other bytes are
// written back unchanged).
__device__ inline void atomic_add_byte(uint8_t* p, uint8_t v) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
  unsigned int* word = reinterpret_cast<unsigned int*>(addr & ~uintptr_t(3));
  const unsigned shift = unsigned(addr & 3) * 8;
  unsigned int old = *word, assumed;
  do {
    assumed = old;
    const unsigned byte = ((assumed >> shift) + v) & 0xFFu;  // uint8 += uint8 wraps, as on the CPU
    old = atomicCAS(word, assumed, (assumed & ~(0xFFu << shift)) | (byte << shift));
  } while (assumed != old);
}
__device__ inline void atomic_or_byte(uint8_t* p, uint8_t v) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
  unsigned int* word = reinterpret_cast<unsigned int*>(addr & ~uintptr_t(3));
  atomicOr(word, unsigned(v) << (unsigned(addr & 3) * 8));
}

__device__ inline void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ inline void atomic_add(double* p, double v) { atomicAdd(p, v); }  // native since sm_60
// Two's-complement addition is the same on signed and unsigned 64-bit words.
__device__ inline void atomic_add(int64_t* p, int64_t v) {
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}

// scatter_add on the CPU does `out += src` in the element type (bool: uint8 add, wrapping);
// index_add goes through binary Add, which for bool is logical or.
template <class T>
__device__ inline void scatter_accumulate(T* p, T v) {
  if constexpr (std::is_same_v<T, uint8_t>) atomic_add_byte(p, v);
  else atomic_add(p, v);
}
template <class T>
__device__ inline void binary_add_accumulate(T* p, T v) {
  if constexpr (std::is_same_v<T, uint8_t>) atomic_or_byte(p, v);
  else atomic_add(p, v);
}

// Conversion as kernels/cpu copy(): to bool is `!= 0`, everything else a C++ cast.
template <class TO, class FROM>
__host__ __device__ inline TO convert(FROM v) {
  if constexpr (std::is_same_v<TO, uint8_t> && !std::is_same_v<FROM, uint8_t>) return TO(v != FROM(0));
  else return TO(v);
}

// ---- kernels ------------------------------------------------------------------------------------

#define ML_GRID_STRIDE(k, n) \
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < (n); k += int64_t(gridDim.x) * blockDim.x)

// Operands: 0 = index, 1 = out, 2 = x (stride 0 along dim).
template <class T>
__global__ void gather_kernel(Walk<3> w, int64_t n, const T* x, int64_t x_dim_stride, const int64_t* index, T* out) {
  ML_GRID_STRIDE(k, n) {
    int64_t off[3];
    offsets_at(w, k, off);
    out[off[1]] = x[off[2] + index[off[0]] * x_dim_stride];
  }
}

// Operands: 0 = index, 1 = src, 2 = out (stride 0 along dim).
template <class T>
__global__ void scatter_add_kernel(Walk<3> w, int64_t n, T* out, int64_t out_dim_stride, const int64_t* index, const T* src) {
  ML_GRID_STRIDE(k, n) {
    int64_t off[3];
    offsets_at(w, k, off);
    scatter_accumulate(out + off[2] + index[off[0]] * out_dim_stride, src[off[1]]);
  }
}

// Over out's shape. Operands: 0 = out, 1 = x (stride 0 along dim).
template <class TO, class FROM>
__global__ void index_select_kernel(Walk<2> w, int64_t n, const FROM* x, int64_t x_dim_stride, const int64_t* index, TO* out) {
  ML_GRID_STRIDE(k, n) {
    int64_t off[2];
    const int64_t j = offsets_at(w, k, off);
    out[off[0]] = convert<TO>(x[off[1] + index[j] * x_dim_stride]);
  }
}

// Over src's shape. Operands: 0 = src, 1 = out (stride 0 along dim).
template <class T>
__global__ void index_add_kernel(Walk<2> w, int64_t n, T* out, int64_t out_dim_stride, const int64_t* index, const T* src) {
  ML_GRID_STRIDE(k, n) {
    int64_t off[2];
    const int64_t j = offsets_at(w, k, off);
    binary_add_accumulate(out + off[1] + index[j] * out_dim_stride, src[off[0]]);
  }
}

// The first bad position wins: atomicMin over positions, starting from the all-ones sentinel.
__global__ void find_bad_index_kernel(const int64_t* index, int64_t n, int64_t size, unsigned long long* first) {
  ML_GRID_STRIDE(k, n) {
    const int64_t v = index[k];
    if (v < 0 || v >= size) atomicMin(first, static_cast<unsigned long long>(k));
  }
}

#undef ML_GRID_STRIDE

void check_index_dtype(const char* k, const View& index) {
  if (index.dtype != DType::Int64)
    throw std::invalid_argument(std::string("kernel ") + k + ": index must be int64, got " + dtype_name(index.dtype));
}
void check_same_dtype(const char* k, const View& a, const View& b) {
  if (a.dtype != b.dtype)
    throw std::invalid_argument(std::string("kernel ") + k + ": dtype mismatch " + dtype_name(a.dtype) + " vs " +
                                dtype_name(b.dtype));
}

// Device scratch for one value, returned to the caching allocator even when a call throws.
struct Scratch {
  int device;
  void* p;
  size_t bytes;
  Scratch(int dev, size_t b) : device(dev), p(allocate(dev, b)), bytes(b) {}
  ~Scratch() { release(device, p, bytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

}  // namespace

// out[p] = x[p with p[dim] = index[p]]; out and index share a shape.
void gather(const View& x, int dim, const View& index, const View& out) {
  check_index_dtype("gather", index);
  check_same_dtype("gather", x, out);
  const int64_t n = index.numel();
  if (n == 0) return;
  const View* views[3] = {&index, &out, &x};
  const Walk<3> w = make_walk<3>(index, dim, views, {false, false, true});
  dispatch_dtype(x.dtype, [&](auto t) {
    using T = decltype(t);
    gather_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(w, n, x.ptr<const T>(), x.strides[dim],
                                                                         index.ptr<const int64_t>(), out.ptr<T>());
  });
  ML_CUDA_CHECK_LAUNCH("gather");
}

// out[p with p[dim] = index[p]] += src[p]; src and index share a shape.
void scatter_add(const View& out, int dim, const View& index, const View& src) {
  check_index_dtype("scatter_add", index);
  check_same_dtype("scatter_add", out, src);
  const int64_t n = index.numel();
  if (n == 0) return;
  const View* views[3] = {&index, &src, &out};
  const Walk<3> w = make_walk<3>(index, dim, views, {false, false, true});
  dispatch_dtype(out.dtype, [&](auto t) {
    using T = decltype(t);
    scatter_add_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(w, n, out.ptr<T>(), out.strides[dim],
                                                                              index.ptr<const int64_t>(), src.ptr<const T>());
  });
  ML_CUDA_CHECK_LAUNCH("scatter_add");
}

// out = x with dim replaced by the n entries of index (device memory); converts dtype like copy().
void index_select(const View& x, int dim, const int64_t* index, int64_t n, const View& out) {
  const int64_t total = out.numel();
  if (n == 0 || total == 0) return;
  const View* views[2] = {&out, &x};
  const Walk<2> w = make_walk<2>(out, dim, views, {false, true});
  dispatch_dtype(out.dtype, [&](auto to) {
    dispatch_dtype(x.dtype, [&](auto from) {
      using TO = decltype(to);
      using FROM = decltype(from);
      index_select_kernel<TO, FROM><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
          w, total, x.ptr<const FROM>(), x.strides[dim], index, out.ptr<TO>());
    });
  });
  ML_CUDA_CHECK_LAUNCH("index_select");
}

// out[.., index[j], ..] += src[.., j, ..] (bool: logical or, as binary Add on the CPU).
void index_add(const View& out, int dim, const int64_t* index, int64_t n, const View& src) {
  check_same_dtype("index_add", out, src);
  const int64_t total = src.numel();
  if (n == 0 || total == 0) return;
  const View* views[2] = {&src, &out};
  const Walk<2> w = make_walk<2>(src, dim, views, {false, true});
  dispatch_dtype(out.dtype, [&](auto t) {
    using T = decltype(t);
    index_add_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(w, total, out.ptr<T>(), out.strides[dim],
                                                                              index, src.ptr<const T>());
  });
  ML_CUDA_CHECK_LAUNCH("index_add");
}

// Checks every index lies in [0, size); returns the first bad position or -1. Synchronises.
int64_t find_bad_index(const View& index, int64_t size) {
  if (!index.contiguous()) throw std::invalid_argument("kernel find_bad_index: index must be contiguous");
  check_index_dtype("find_bad_index", index);
  const int64_t n = index.numel();
  if (n == 0) return -1;
  Scratch first(current_device(), sizeof(unsigned long long));
  ML_CUDA_CHECK(cudaMemsetAsync(first.p, 0xFF, sizeof(unsigned long long), stream()), "find_bad_index");
  find_bad_index_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(index.ptr<const int64_t>(), n, size,
                                                                          static_cast<unsigned long long*>(first.p));
  ML_CUDA_CHECK_LAUNCH("find_bad_index");
  unsigned long long host = 0;
  ML_CUDA_CHECK(cudaMemcpyAsync(&host, first.p, sizeof host, cudaMemcpyDeviceToHost, stream()), "find_bad_index");
  ML_CUDA_CHECK(cudaStreamSynchronize(stream()), "find_bad_index");
  return host == ~0ull ? -1 : int64_t(host);
}

}  // namespace metaloss::kernels::cuda
