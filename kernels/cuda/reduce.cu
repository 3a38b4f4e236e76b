// Reductions (sum/max/min over any set of dims), argmax and softmax on CUDA. Same contracts,
// dtype support and NaN rules as kernels/cpu/reduce.cpp. float32 sums accumulate in double (as on
// the CPU): the kernels are bandwidth bound, so the wider adds cost nothing measurable.
//
// reduce picks one of two kernels per call (after coalescing the reduced and the kept dims):
//   - rows: the reduced elements of one output are read by a group of L consecutive threads
//     (L = 1, a warp, or a whole block), e.g. row sums; coalesced when the reduced run is
//     contiguous;
//   - cols: when the innermost kept dim is contiguous in x (e.g. a bias gradient, summing
//     [batch, n] over the batch), consecutive threads take consecutive outputs and loop over the
//     reduced elements (8 threads per output split that loop), so every load is coalesced.
// When that leaves too few blocks to fill the GPU (a full reduction, a few long rows), the
// reduced range is also split across blockIdx.y into partial results in a temporary buffer,
// which a second launch of the same kernel reduces. Every reduction has a fixed order: results
// are deterministic from run to run.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace metaloss::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;


// ---- warp / block helpers ------------------------------------------------------------------

// `width` < 32 shuffles within aligned segments of that many lanes (small groups per row).
template <class T>
__device__ __forceinline__ T shfl_down(T v, int off, int width = 32) {
  if constexpr (sizeof(T) < 4) return T(__shfl_down_sync(0xffffffffu, unsigned(v), off, width));
  else return __shfl_down_sync(0xffffffffu, v, off, width);
}
template <class T>
__device__ __forceinline__ T shfl_idx(T v, int src, int width = 32) {
  if constexpr (sizeof(T) < 4) return T(__shfl_sync(0xffffffffu, unsigned(v), src, width));
  else return __shfl_sync(0xffffffffu, v, src, width);
}

// Reduces v over a group of L consecutive threads (L = 32: one warp, L = kThreads: the block);
// every thread of the group gets the same result (lane 0's, then broadcast: a butterfly would give
// lanes differently rounded sums). All threads of the group must call it.
template <int L, class T, class Op>
__device__ __forceinline__ T group_allreduce(T v, const Op& op) {
  static_assert(L == kThreads || (L <= 32 && (L & (L - 1)) == 0), "a power-of-two part of a warp, or the block");
  if constexpr (L < 32) {  // a segment of a warp: rows of a few elements (e.g. 10 classes)
#pragma unroll
    for (int off = L / 2; off > 0; off >>= 1) v = op(v, shfl_down(v, off, L));
    return shfl_idx(v, 0, L);
  } else {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = op(v, shfl_down(v, off));
    v = shfl_idx(v, 0);
  }
  if constexpr (L == kThreads) {
    __shared__ T part[kWarps];
    if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    v = part[0];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) v = op(v, part[w]);
    __syncthreads();  // part may be rewritten by the next call
  }
  return v;
}

// ---- reduce ------------------------------------------------------------------------------

template <class A> struct SumR {
  __device__ A operator()(A a, A b) const { return a + b; }
};
// NaN wins (and then stays), as on the CPU; the seed is -inf/+inf for floating types.
template <class A> struct MaxR {
  __device__ A operator()(A a, A b) const {
    if constexpr (std::is_floating_point_v<A>) return (b > a || b != b) ? b : a;
    else return b > a ? b : a;
  }
};
template <class A> struct MinR {
  __device__ A operator()(A a, A b) const {
    if constexpr (std::is_floating_point_v<A>) return (b < a || b != b) ? b : a;
    else return b < a ? b : a;
  }
};

// Geometry of one reduction, dims innermost first. Output k (a linear index over the kept dims)
// reads x at kx-offset + reduced offsets and writes out at ko-offset + split * split_os.
struct RGeom {
  int knd = 0, rnd = 0;
  int64_t kshape[kMaxDims] = {}, kx[kMaxDims] = {}, ko[kMaxDims] = {};
  int64_t rshape[kMaxDims] = {}, rs[kMaxDims] = {};
  int64_t K = 1, R = 1;  // number of outputs, elements reduced into each
  int64_t chunk = 0;     // reduced elements per split (blockIdx.y)
  int64_t split_os = 0;
};

// Loops unrolled over kMaxDims with constant indices keep the struct in the parameter bank.
__device__ __forceinline__ void kept_offsets(const RGeom& g, int64_t k, int64_t& xo, int64_t& oo) {
  xo = 0;
  oo = 0;
#pragma unroll
  for (int d = 0; d < kMaxDims; ++d) {
    if (d >= g.knd) break;
    int64_t i = k;
    if (d + 1 < g.knd) {
      const int64_t q = k / g.kshape[d];
      i = k - q * g.kshape[d];
      k = q;
    }
    xo += i * g.kx[d];
    oo += i * g.ko[d];
  }
}

// Offset of run o of the reduced space (dims 1.. of it; dim 0 is the innermost run).
__device__ __forceinline__ int64_t red_outer_offset(const RGeom& g, int64_t o) {
  int64_t off = 0;
#pragma unroll
  for (int d = 1; d < kMaxDims; ++d) {
    if (d >= g.rnd) break;
    int64_t i = o;
    if (d + 1 < g.rnd) {
      const int64_t q = o / g.rshape[d];
      i = o - q * g.rshape[d];
      o = q;
    }
    off += i * g.rs[d];
  }
  return off;
}

// Folds reduced elements j, j + step, ... < end into acc, in that order.
template <class Acc, class TIn, class Op>
__device__ __forceinline__ Acc reduce_range(const TIn* x, const RGeom& g, int64_t j, int64_t end, int step, Acc acc,
                                            const Op& op) {
  if (j >= end) return acc;
  if (g.rnd <= 1) {
    const int64_t s = g.rnd == 1 ? g.rs[0] : 0;
    // Four independent loads in flight per iteration (the folds stay in order).
    for (; j + 3 * step < end; j += 4 * step) {
      const TIn v0 = x[j * s], v1 = x[(j + step) * s], v2 = x[(j + 2 * step) * s], v3 = x[(j + 3 * step) * s];
      acc = op(op(op(op(acc, Acc(v0)), Acc(v1)), Acc(v2)), Acc(v3));
    }
    for (; j < end; j += step) acc = op(acc, Acc(x[j * s]));
    return acc;
  }
  // Several reduced dims: walk the innermost run, re-deriving the outer offset (divisions) only
  // when a step leaves it.
  const int64_t n0 = g.rshape[0], s0 = g.rs[0];
  int64_t o = j / n0, i = j - o * n0;
  int64_t base = red_outer_offset(g, o);
  for (;;) {
    acc = op(acc, Acc(x[base + i * s0]));
    j += step;
    if (j >= end) break;
    i += step;
    if (i >= n0) {
      o += i / n0;
      i %= n0;
      base = red_outer_offset(g, o);
    }
  }
  return acc;
}

// L consecutive threads per output (L = 1, 32 or kThreads), kThreads / L outputs per block.
template <int L, class TIn, class TOut, class Acc, class Op>
__global__ void __launch_bounds__(kThreads) reduce_rows_kernel(const TIn* x, TOut* out, RGeom g, Acc init, Op op) {
  constexpr int kPer = kThreads / L;
  const int lane = int(threadIdx.x) % L;
  const int64_t k = int64_t(blockIdx.x) * kPer + threadIdx.x / L;
  if (k >= g.K) return;  // L <= 32: the whole group leaves together; L == kThreads: never taken
  const int64_t begin = int64_t(blockIdx.y) * g.chunk;
  const int64_t end = begin + g.chunk < g.R ? begin + g.chunk : g.R;
  int64_t xo, oo;
  kept_offsets(g, k, xo, oo);
  Acc acc = reduce_range<Acc>(x + xo, g, begin + lane, end, L, init, op);
  if constexpr (L > 1) acc = group_allreduce<L>(acc, op);
  if (lane == 0) out[oo + int64_t(blockIdx.y) * g.split_os] = TOut(acc);
}

// 32 consecutive outputs per block (one per lane, coalesced), kWarps threads per output.
template <class TIn, class TOut, class Acc, class Op>
__global__ void __launch_bounds__(kThreads) reduce_cols_kernel(const TIn* x, TOut* out, RGeom g, Acc init, Op op) {
  __shared__ Acc part[kWarps][32];
  const int tx = int(threadIdx.x) % 32, ty = int(threadIdx.x) / 32;
  const int64_t k = int64_t(blockIdx.x) * 32 + tx;
  const int64_t begin = int64_t(blockIdx.y) * g.chunk;
  const int64_t end = begin + g.chunk < g.R ? begin + g.chunk : g.R;
  Acc acc = init;
  int64_t xo = 0, oo = 0;
  if (k < g.K) {
    kept_offsets(g, k, xo, oo);
    acc = reduce_range<Acc>(x + xo, g, begin + ty, end, kWarps, init, op);
  }
  part[ty][tx] = acc;
  __syncthreads();
  if (ty == 0 && k < g.K) {
#pragma unroll
    for (int r = 1; r < kWarps; ++r) acc = op(acc, part[r][tx]);
    out[oo + int64_t(blockIdx.y) * g.split_os] = TOut(acc);
  }
}

// Coalesces the reduced dims (size 1 in out) and the kept dims of x, as the CPU does.
RGeom make_geom(const View& x, const View& out) {
  int kn = 0, rn = 0;
  int64_t ks[kMaxDims], kxs[kMaxDims], kos[kMaxDims], rsh[kMaxDims], rst[kMaxDims];
  for (int d = 0; d < x.ndim; ++d) {
    const int64_t n = x.shape[d], sx = x.strides[d], so = out.strides[d];
    if (n == 1) continue;
    if (out.shape[d] == 1) {
      if (rn > 0 && rst[rn - 1] == sx * n) {
        rsh[rn - 1] *= n;
        rst[rn - 1] = sx;
      } else {
        rsh[rn] = n;
        rst[rn] = sx;
        ++rn;
      }
    } else if (kn > 0 && kxs[kn - 1] == sx * n && kos[kn - 1] == so * n) {
      ks[kn - 1] *= n;
      kxs[kn - 1] = sx;
      kos[kn - 1] = so;
    } else {
      ks[kn] = n;
      kxs[kn] = sx;
      kos[kn] = so;
      ++kn;
    }
  }
  RGeom g;
  g.knd = kn;
  g.rnd = rn;
  for (int i = 0; i < kn; ++i) {
    g.kshape[i] = ks[kn - 1 - i];
    g.kx[i] = kxs[kn - 1 - i];
    g.ko[i] = kos[kn - 1 - i];
    g.K *= g.kshape[i];
  }
  for (int i = 0; i < rn; ++i) {
    g.rshape[i] = rsh[rn - 1 - i];
    g.rs[i] = rst[rn - 1 - i];
    g.R *= g.rshape[i];
  }
  g.chunk = g.R;
  return g;
}

// Temporary device memory for partial results. Released right after the launches are queued:
// the caching allocator hands memory out again only to work queued later on the same stream.
struct Scratch {
  int dev;
  size_t bytes;
  void* p;
  explicit Scratch(size_t b) : dev(current_device()), bytes(b), p(allocate(dev, b)) {}
  ~Scratch() { release(dev, p, bytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

template <int L, class TIn, class TOut, class Acc, class Op>
void launch_rows(const TIn* x, TOut* out, const RGeom& g, int64_t splits, Acc init, Op op) {
  constexpr int kPer = kThreads / L;
  const dim3 grid(unsigned((g.K + kPer - 1) / kPer), unsigned(splits));
  reduce_rows_kernel<L, TIn, TOut, Acc, Op><<<grid, kThreads, 0, stream()>>>(x, out, g, init, op);
  ML_CUDA_CHECK_LAUNCH("reduce");
}

template <class TIn, class TOut, class Acc, class Op>
void launch_cols(const TIn* x, TOut* out, const RGeom& g, int64_t splits, Acc init, Op op) {
  const dim3 grid(unsigned((g.K + 31) / 32), unsigned(splits));
  reduce_cols_kernel<TIn, TOut, Acc, Op><<<grid, kThreads, 0, stream()>>>(x, out, g, init, op);
  ML_CUDA_CHECK_LAUNCH("reduce");
}

template <int L, class T, class Acc, class Op>
void launch_rows_any(const T* x, T* out, const RGeom& g, Acc init, Op op) {
  launch_rows<L, T, T, Acc, Op>(x, out, g, 1, init, op);
}

template <class T, class Acc, class Op>
void reduce_run(const View& x, const View& out, RGeom g, Acc init, Op op) {
  const T* xp = x.ptr<const T>();
  T* op_ = out.ptr<T>();
  const int64_t sms = sm_count();
  // Outputs adjacent in x (innermost kept dim contiguous) and not the reduced elements: cols.
  const bool cols = g.knd > 0 && g.kx[0] == 1 && (g.rnd == 0 || g.rs[0] != 1);
  int L = 32;
  if (!cols) {
    if (g.R <= 16) L = 1;  // short reductions: a thread per output
    else if (g.R > 2048 && g.K < 8 * 8 * sms) L = kThreads;  // long rows, not a full wave of warps: a block each
  }
  const int64_t per_block = cols ? 32 : kThreads / L;
  const int64_t blocks = (g.K + per_block - 1) / per_block;
  if (blocks > int64_t(INT32_MAX)) throw std::invalid_argument("kernel reduce: too many outputs");

  // Split the reduced range when the blocks would not fill the GPU and each is long.
  constexpr int64_t kMinSplitWork = 8192;  // elements per split block (32 per thread)
  const int64_t work = (g.K < per_block ? g.K : per_block) * g.R;
  int64_t splits = 1;
  if (blocks < 2 * sms && work >= 4 * kMinSplitWork) {
    splits = std::min<int64_t>({(8 * sms + blocks - 1) / blocks, work / kMinSplitWork, 65535});
    if (splits > 1) {
      g.chunk = (g.R + splits - 1) / splits;
      splits = (g.R + g.chunk - 1) / g.chunk;
    }
  }

  if (splits <= 1) {
    g.chunk = g.R;
    if (cols) return launch_cols<T, T, Acc, Op>(xp, op_, g, 1, init, op);
    if (L == 1) return launch_rows_any<1, T>(xp, op_, g, init, op);
    if (L == 32) return launch_rows_any<32, T>(xp, op_, g, init, op);
    return launch_rows_any<kThreads, T>(xp, op_, g, init, op);
  }

  // Two passes: partials (Acc) of every output and split, then a reduction of those into out.
  Scratch scratch(size_t(g.K * splits) * sizeof(Acc));
  Acc* part = static_cast<Acc*>(scratch.p);
  RGeom g1 = g, g2 = g;
  // Partial layout: rows -> [K, splits] (pass 2 reduces rows), cols -> [splits, K] (columns).
  int64_t dense = cols ? 1 : splits;
  for (int d = 0; d < g.knd; ++d) {
    g1.ko[d] = dense;
    g2.kx[d] = dense;
    dense *= g.kshape[d];
  }
  g1.split_os = cols ? g.K : 1;
  g2.rnd = 1;
  g2.rshape[0] = splits;
  g2.rs[0] = cols ? g.K : 1;
  g2.R = splits;
  g2.chunk = splits;
  g2.split_os = 0;
  if (cols) {
    launch_cols<T, Acc, Acc, Op>(xp, part, g1, splits, init, op);
    launch_cols<Acc, T, Acc, Op>(part, op_, g2, 1, init, op);
  } else {
    if (L == 32) launch_rows<32, T, Acc, Acc, Op>(xp, part, g1, splits, init, op);
    else launch_rows<kThreads, T, Acc, Acc, Op>(xp, part, g1, splits, init, op);
    launch_rows<32, Acc, T, Acc, Op>(part, op_, g2, 1, init, op);
  }
}

template <class T>
void reduce_typed(ReduceOp op, const View& x, const View& out) {
  const RGeom g = make_geom(x, out);
  if (g.K == 0) return;  // no outputs (an empty reduced range still writes the identity)
  switch (op) {
    case ReduceOp::Sum: {
      using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
      return reduce_run<T>(x, out, g, Acc(0), SumR<Acc>{});
    }
    // Seeded with -inf/+inf (not lowest/max) so an all-infinite slice reduces to infinity.
    case ReduceOp::Max:
      if constexpr (std::is_floating_point_v<T>) return reduce_run<T>(x, out, g, -std::numeric_limits<T>::infinity(), MaxR<T>{});
      else return reduce_run<T>(x, out, g, std::numeric_limits<T>::lowest(), MaxR<T>{});
    case ReduceOp::Min:
      if constexpr (std::is_floating_point_v<T>) return reduce_run<T>(x, out, g, std::numeric_limits<T>::infinity(), MinR<T>{});
      else return reduce_run<T>(x, out, g, std::numeric_limits<T>::max(), MinR<T>{});
  }
}

// ---- argmax ------------------------------------------------------------------------------

// Is candidate (a, ia) preferred to (b, ib)? The first NaN, else the first maximum.
template <class T>
__device__ __forceinline__ bool arg_better(T a, int64_t ia, T b, int64_t ib) {
  if constexpr (std::is_floating_point_v<T>) {
    const bool an = a != a, bn = b != b;
    if (an || bn) return an && (!bn || ia < ib);
  }
  return a > b || (a == b && ia < ib);
}

// The CPU's sequential rule, seen from the current best (bi < 0: none yet).
template <class T>
__device__ __forceinline__ void arg_step(T v, int64_t d, T& bv, int64_t& bi) {
  bool take = bi < 0 || v > bv;
  if constexpr (std::is_floating_point_v<T>) take = take || (v != v && bv == bv);
  if (take) {
    bv = v;
    bi = d;
  }
}

// Rows contiguous (inner == 1): L = 32 (a warp per row) or kThreads (a block per row).
template <int L, class T>
__global__ void __launch_bounds__(kThreads) argmax_rows_kernel(const T* x, int64_t* out, int64_t outer, int64_t dim) {
  constexpr int kPer = kThreads / L;
  const int lane = int(threadIdx.x) % L;
  const int64_t row = int64_t(blockIdx.x) * kPer + threadIdx.x / L;
  if (row >= outer) return;  // whole warps only (L == kThreads: never)
  const T* p = x + row * dim;
  T bv{};
  int64_t bi = -1;
  for (int64_t d = lane; d < dim; d += L) arg_step(p[d], d, bv, bi);
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const T ov = shfl_down(bv, off);
    const int64_t oi = shfl_down(bi, off);
    if (oi >= 0 && (bi < 0 || arg_better(ov, oi, bv, bi))) {
      bv = ov;
      bi = oi;
    }
  }
  if constexpr (L == kThreads) {
    __shared__ T pv[kWarps];
    __shared__ int64_t pi[kWarps];
    if (lane % 32 == 0) {
      pv[lane / 32] = bv;
      pi[lane / 32] = bi;
    }
    __syncthreads();
    if (lane == 0) {
      for (int w = 1; w < kWarps; ++w)
        if (pi[w] >= 0 && (bi < 0 || arg_better(pv[w], pi[w], bv, bi))) {
          bv = pv[w];
          bi = pi[w];
        }
    }
  }
  if (lane == 0) out[row] = bi < 0 ? 0 : bi;  // dim == 0: 0, as on the CPU
}

// inner > 1: a thread per (outer, inner) column; neighbouring threads read neighbouring elements.
template <class T>
__global__ void __launch_bounds__(kThreads)
    argmax_cols_kernel(const T* x, int64_t* out, int64_t outer, int64_t dim, int64_t inner) {
  const int64_t total = outer * inner, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < total; r += step) {
    const int64_t o = r / inner, i = r - o * inner;
    const T* p = x + o * dim * inner + i;
    T bv{};
    int64_t bi = -1;
    for (int64_t d = 0; d < dim; ++d) arg_step(p[d * inner], d, bv, bi);
    out[r] = bi < 0 ? 0 : bi;
  }
}

// ---- softmax -----------------------------------------------------------------------------

__device__ __forceinline__ float m_exp(float v) { return ::expf(v); }
__device__ __forceinline__ double m_exp(double v) { return ::exp(v); }

template <class T> struct MaxKeep {  // NaNs are skipped: any NaN in a row makes the sum, and so
  __device__ T operator()(T a, T b) const { return b > a ? b : a; }  // every output, NaN anyway
};
struct PlusD {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// Rows contiguous (inner == 1), a group of L threads per row: max, sum of exp (in double), then
// the outputs; the row is re-read from cache between the passes. Formulas as the CPU's row path.
// L < 32 packs several short rows into a warp (a warp per 10-class row would idle 22 lanes).
template <int L, class T>
__global__ void __launch_bounds__(kThreads)
    softmax_rows_kernel(const T* x, T* y, int64_t outer, int64_t dim, bool log) {
  constexpr int kPer = kThreads / L;
  const int lane = int(threadIdx.x) % L;
  const int64_t row = int64_t(blockIdx.x) * kPer + threadIdx.x / L;
  if constexpr (L >= 32) {
    if (row >= outer) return;  // whole warps only (L == kThreads: never)
  }
  // With L < 32 a warp may hold rows past the end: those lanes recompute the last row (so the
  // whole warp takes part in the shuffles) and write nothing.
  const bool valid = row < outer;
  const int64_t r = valid ? row : outer - 1;
  const T* xp = x + r * dim;
  T* yp = valid ? y + r * dim : nullptr;
  const int64_t wdim = valid ? dim : 0;  // bound of the writing loops
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t d = lane; d < dim; d += L) m = MaxKeep<T>{}(m, xp[d]);
  m = group_allreduce<L>(m, MaxKeep<T>{});
  double s = 0;
  for (int64_t d = lane; d < dim; d += L) s += double(m_exp(xp[d] - m));
  s = group_allreduce<L>(s, PlusD{});
  if (log) {
    const T ls = T(::log(s));
    for (int64_t d = lane; d < wdim; d += L) yp[d] = xp[d] - m - ls;
  } else {
    const T inv = T(1.0 / s);
    for (int64_t d = lane; d < wdim; d += L) yp[d] = m_exp(xp[d] - m) * inv;
  }
}

// inner > 1: a thread per (outer, inner) column, formulas as the CPU's strided path (sum of
// exp taken in double).
template <class T>
__global__ void __launch_bounds__(kThreads)
    softmax_cols_kernel(const T* x, T* y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  const int64_t total = outer * inner, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < total; r += step) {
    const int64_t o = r / inner, i = r - o * inner;
    const T* xp = x + o * dim * inner + i;
    T* yp = y + o * dim * inner + i;
    T m = xp[0];
    for (int64_t d = 1; d < dim; ++d) {
      const T v = xp[d * inner];
      m = m < v ? v : m;  // std::max
    }
    double s = 0;
    for (int64_t d = 0; d < dim; ++d) s += ::exp(double(xp[d * inner] - m));
    if (log) {
      const T ls = T(::log(s));
      for (int64_t d = 0; d < dim; ++d) yp[d * inner] = xp[d * inner] - m - ls;
    } else {
      const T inv = T(1.0 / s);
      for (int64_t d = 0; d < dim; ++d) yp[d * inner] = m_exp(xp[d * inner] - m) * inv;
    }
  }
}

// A block per row for long rows that would otherwise give too few warps.
bool block_per_row(int64_t outer, int64_t dim) { return dim > 1024 && outer < 8 * int64_t(sm_count()); }

unsigned row_grid(int64_t rows, int per_block) {
  const int64_t blocks = (rows + per_block - 1) / per_block;
  if (blocks > int64_t(INT32_MAX)) throw std::invalid_argument("kernel softmax/argmax: too many rows");
  return unsigned(blocks);
}

template <class T>
void softmax_typed(const T* x, T* y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  if (dim == 0 || outer == 0 || inner == 0) return;  // nothing to normalise
  if (inner == 1) {
    if (block_per_row(outer, dim))
      softmax_rows_kernel<kThreads, T><<<row_grid(outer, 1), kThreads, 0, stream()>>>(x, y, outer, dim, log);
    else if (dim <= 4)
      softmax_rows_kernel<4, T><<<row_grid(outer, kThreads / 4), kThreads, 0, stream()>>>(x, y, outer, dim, log);
    else if (dim <= 8)
      softmax_rows_kernel<8, T><<<row_grid(outer, kThreads / 8), kThreads, 0, stream()>>>(x, y, outer, dim, log);
    else if (dim <= 16)
      softmax_rows_kernel<16, T><<<row_grid(outer, kThreads / 16), kThreads, 0, stream()>>>(x, y, outer, dim, log);
    else
      softmax_rows_kernel<32, T><<<row_grid(outer, kWarps), kThreads, 0, stream()>>>(x, y, outer, dim, log);
  } else {
    softmax_cols_kernel<T><<<grid_for(outer * inner, kThreads), kThreads, 0, stream()>>>(x, y, outer, dim, inner, log);
  }
  ML_CUDA_CHECK_LAUNCH("softmax");
}

}  // namespace

void reduce(ReduceOp op, const View& x, const View& out) {
  switch (x.dtype) {
    case DType::Float32: return reduce_typed<float>(op, x, out);
    case DType::Float64: return reduce_typed<double>(op, x, out);
    case DType::Int64: return reduce_typed<int64_t>(op, x, out);
    case DType::Bool: throw std::invalid_argument("kernel reduce: unsupported dtype bool");
  }
}

void argmax(DType t, const void* x, int64_t* out, int64_t outer, int64_t dim, int64_t inner) {
  dispatch_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = static_cast<const T*>(x);
    if (outer <= 0 || inner <= 0) return;
    if (inner == 1) {
      if (block_per_row(outer, dim))
        argmax_rows_kernel<kThreads, T><<<row_grid(outer, 1), kThreads, 0, stream()>>>(xp, out, outer, dim);
      else
        argmax_rows_kernel<32, T><<<row_grid(outer, kWarps), kThreads, 0, stream()>>>(xp, out, outer, dim);
    } else {
      argmax_cols_kernel<T><<<grid_for(outer * inner, kThreads), kThreads, 0, stream()>>>(xp, out, outer, dim, inner);
    }
    ML_CUDA_CHECK_LAUNCH("argmax");
  });
}

void softmax(DType t, const void* x, void* out, int64_t outer, int64_t dim, int64_t inner, bool log) {
  if (t == DType::Float32)
    softmax_typed(static_cast<const float*>(x), static_cast<float*>(out), outer, dim, inner, log);
  else if (t == DType::Float64)
    softmax_typed(static_cast<const double*>(x), static_cast<double*>(out), outer, dim, inner, log);
  else
    throw std::invalid_argument(std::string("kernel softmax: unsupported dtype ") + dtype_name(t));
}

}  // namespace metaloss::kernels::cuda
