// Reductions (sum/max/min over any set of dims) and softmax along one dim.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>
#include "kernels/cpu/fast_math.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/strided_loop.h"
#include "kernels/profiler.h"

namespace metaloss::kernels {
namespace {

// A coalesced set of dims with one stride each (elements), iterated as offsets.
struct Space {
  int nd = 0;
  int64_t shape[kMaxDims], stride[kMaxDims];
  int64_t count = 1;
  void add(int64_t n, int64_t s) {
    if (n == 1) return;
    if (nd > 0 && stride[nd - 1] == s * n) {
      shape[nd - 1] *= n;
      stride[nd - 1] = s;
    } else {
      shape[nd] = n;
      stride[nd] = s;
      ++nd;
    }
    count *= n;
  }
  int64_t offset(int64_t flat) const {
    int64_t off = 0;
    for (int d = nd - 1; d >= 0 && flat > 0; --d) {
      off += (flat % shape[d]) * stride[d];
      flat /= shape[d];
    }
    return off;
  }
};

// A contiguous run reduced in 8 independent lanes: one accumulator would be a chain of dependent
// adds (4 cycles each); 8 lanes vectorise and hide the latency. The order of additions differs
// from a plain left fold only in how partial sums are grouped (accumulation is in double).
template <class T, class Acc, class Op>
Acc reduce_contiguous(const T* p, int64_t n, Acc acc, Op op) {
  constexpr int L = 8;
  if (n >= 2 * L) {
    Acc lane[L];
    for (int j = 0; j < L; ++j) lane[j] = Acc(p[j]);
    int64_t i = L;
    for (; i + L <= n; i += L)
      for (int j = 0; j < L; ++j) lane[j] = op(lane[j], Acc(p[i + j]));
    for (int j = 0; j < L; ++j) acc = op(acc, lane[j]);
    p += i;
    n -= i;
  }
  for (int64_t i = 0; i < n; ++i) acc = op(acc, Acc(p[i]));
  return acc;
}

template <class T, class Acc, class Op>
Acc reduce_space(const T* x, const Space& r, Acc init, Op op) {
  Acc acc = init;
  if (r.count == 0) return acc;  // reducing an empty dim: the identity (sum 0)
  if (r.nd == 0) return op(acc, Acc(x[0]));
  const int64_t n_in = r.shape[r.nd - 1], s_in = r.stride[r.nd - 1];
  const int64_t n_out = r.count / n_in;
  for (int64_t o = 0; o < n_out; ++o) {
    const T* p = x + r.offset(o * n_in);
    if (s_in == 1) {
      acc = reduce_contiguous<T, Acc>(p, n_in, acc, op);
    } else {
      for (int64_t i = 0; i < n_in; ++i) acc = op(acc, Acc(p[i * s_in]));
    }
  }
  return acc;
}

template <class T>
void reduce_typed(ReduceOp op, const View& x, const View& out) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
  // Reduced dims (size 1 in out) form one coalesced space; kept dims are walked by a
  // multi-index that gives both the x and the out offset.
  Space red, kx, ko;
  for (int d = 0; d < x.ndim; ++d) {
    if (x.shape[d] == 1) continue;
    if (out.shape[d] == 1) {
      red.add(x.shape[d], x.strides[d]);
    } else {
      kx.shape[kx.nd] = x.shape[d]; kx.stride[kx.nd++] = x.strides[d]; kx.count *= x.shape[d];
      ko.shape[ko.nd] = x.shape[d]; ko.stride[ko.nd++] = out.strides[d]; ko.count *= x.shape[d];
    }
  }
  const T* xp = x.ptr<T>();
  T* op_ = out.ptr<T>();
  auto run = [&](auto init, auto f, auto finish) {
    const int64_t kept = kx.count;
    if (kept == 1 && red.count >= kParallelGrain) {  // one big reduction: split it
      // Partial results on the stack (no allocation per reduction); beyond 64 threads the
      // extra ones would add little to a reduction this size anyway.
      constexpr int kMaxParts = 64;
      const int tasks = std::clamp(pool_threads(), 1, kMaxParts);
      Acc parts[kMaxParts];
      std::fill(parts, parts + tasks, init);
      const int64_t chunk = (red.count + tasks - 1) / tasks;
      parallel_run(tasks, [&](int t) {
        const int64_t b = std::min(red.count, t * chunk), e = std::min(red.count, b + chunk);
        Acc acc = init;
        if (red.nd == 1 && red.stride[0] == 1) {
          acc = reduce_contiguous<T, Acc>(xp + b, e - b, acc, f);
        } else {
          for (int64_t i = b; i < e; ++i) acc = f(acc, Acc(xp[red.offset(i)]));
        }
        parts[size_t(t)] = acc;
      });
      Acc acc = init;
      for (int t = 0; t < tasks; ++t) acc = f(acc, parts[t]);
      op_[0] = finish(acc);
      return;
    }
    if (kx.nd == 1 && kx.stride[0] == 1 && ko.stride[0] == 1 && red.nd == 1 && red.count > 1) {
      // Keeping the contiguous last dim and reducing rows above it (a bias gradient: sum over
      // the batch of [B, N]): add whole rows into a row of accumulators instead of walking each
      // column down the rows, which would touch a new cache line per element.
      const int64_t rows = red.count, rs = red.stride[0];
      parallel_for(kept, rows * 4, [&](int64_t b, int64_t e) {
        constexpr int64_t kBlock = 512;  // accumulators for a block of columns, on the stack
        Acc acc[kBlock];
        for (int64_t c0 = b; c0 < e; c0 += kBlock) {
          const int64_t w = std::min(kBlock, e - c0);
          std::fill(acc, acc + w, init);
          for (int64_t r = 0; r < rows; ++r) {
            const T* row = xp + r * rs + c0;
            for (int64_t j = 0; j < w; ++j) acc[j] = f(acc[j], Acc(row[j]));
          }
          for (int64_t j = 0; j < w; ++j) op_[c0 + j] = finish(acc[j]);
        }
      });
      return;
    }
    parallel_for(kept, red.count, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k)
        op_[ko.offset(k)] = finish(reduce_space<T, Acc>(xp + kx.offset(k), red, init, f));
    });
  };
  auto id = [](Acc a) { return T(a); };
  switch (op) {
    case ReduceOp::Sum: return run(Acc(0), [](Acc a, Acc b) { return a + b; }, id);
    // Seeded with -inf/+inf (not lowest/max) so an all-infinite slice reduces to infinity.
    case ReduceOp::Max:
      return run(std::is_floating_point_v<T> ? Acc(-INFINITY) : Acc(std::numeric_limits<T>::lowest()),
                 [](Acc a, Acc b) { return (b > a || b != b) ? b : a; }, id);
    case ReduceOp::Min:
      return run(std::is_floating_point_v<T> ? Acc(INFINITY) : Acc(std::numeric_limits<T>::max()),
                 [](Acc a, Acc b) { return (b < a || b != b) ? b : a; }, id);
  }
}

template <class T>
T exp_of(T v) {
  if constexpr (std::is_same_v<T, float>) return fast::exp(v); else return std::exp(v);
}

template <class T>
void softmax_typed(const T* x, T* y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  if (dim == 0) return;  // nothing to normalise (and no first element to seed the maximum)
  if (inner == 1) {  // rows are contiguous: vectorised passes, exp written once and rescaled
    parallel_for(outer, dim * 8, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* xp = x + r * dim;
        T* yp = y + r * dim;
        const T m = reduce_contiguous<T, T>(xp, dim, xp[0], [](T a, T v) { return v > a ? v : a; });
        for (int64_t d = 0; d < dim; ++d) yp[d] = exp_of<T>(xp[d] - m);
        const double s = reduce_contiguous<T, double>(yp, dim, 0.0, [](double a, double v) { return a + v; });
        if (log) {
          const T ls = T(std::log(s));
          for (int64_t d = 0; d < dim; ++d) yp[d] = xp[d] - m - ls;
        } else {
          const T inv = T(1.0 / s);
          for (int64_t d = 0; d < dim; ++d) yp[d] *= inv;
        }
      }
    });
    return;
  }
  parallel_for(outer * inner, dim * 8, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t o = r / inner, i = r % inner;
      const T* xp = x + o * dim * inner + i;
      T* yp = y + o * dim * inner + i;
      T m = xp[0];
      for (int64_t d = 1; d < dim; ++d) m = std::max(m, xp[d * inner]);
      double s = 0;
      for (int64_t d = 0; d < dim; ++d) s += std::exp(double(xp[d * inner] - m));
      if (log) {
        T ls = T(std::log(s));
        for (int64_t d = 0; d < dim; ++d) yp[d * inner] = xp[d * inner] - m - ls;
      } else {
        T inv = T(1.0 / s);
        for (int64_t d = 0; d < dim; ++d) yp[d * inner] = std::exp(xp[d * inner] - m) * inv;
      }
    }
  });
}

}  // namespace

namespace cpu {

void reduce(ReduceOp op, const View& x, const View& out) {
  METALOSS_PROFILE_SCOPE("reduce", "kernel", double(x.numel() * int64_t(dtype_size(x.dtype))), double(x.numel()));
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
    parallel_for(outer * inner, dim, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* p = xp + (r / inner) * dim * inner + r % inner;
        int64_t best = 0;
        for (int64_t d = 1; d < dim; ++d) {
          const T v = p[d * inner], m = p[best * inner];
          if (v > m || (v != v && m == m)) best = d;
        }
        out[r] = best;
      }
    });
  });
}

void softmax(DType t, const void* x, void* out, int64_t outer, int64_t dim, int64_t inner, bool log) {
  METALOSS_PROFILE_SCOPE("softmax", "kernel", double(2 * outer * dim * inner * int64_t(dtype_size(t))),
                         double(4 * outer * dim * inner));
  if (t == DType::Float32)
    softmax_typed(static_cast<const float*>(x), static_cast<float*>(out), outer, dim, inner, log);
  else if (t == DType::Float64)
    softmax_typed(static_cast<const double*>(x), static_cast<double*>(out), outer, dim, inner, log);
  else
    throw std::invalid_argument(std::string("kernel softmax: unsupported dtype ") + dtype_name(t));
}

}  // namespace cpu
}  // namespace metaloss::kernels
