// Elementwise CUDA kernels: unary, binary, compare, where, copy/cast, fill. Same contracts, dtype
// support, error messages and formulas as kernels/cpu/elementwise.cpp; transcendental functions
// are CUDA's own (expf, logf, tanhf, ...), so float results may differ from the CPU's fast:: ones
// in the last bits.
//
// One generic launcher (map) applies an op functor to up to 3 inputs. Dims are coalesced on the
// host first (size-1 dims dropped, runs every operand steps through as one merged), then:
//   - all operands contiguous with the same layout: a flat grid-stride loop, with 16-byte vector
//     loads/stores when every pointer is aligned for them (the bandwidth-bound common case);
//   - otherwise: each thread decomposes its linear output index through an offset calculator
//     passed by value (32-bit index arithmetic when the tensor has < 2^31 elements, since 64-bit
//     division is several times slower on the GPU).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace metaloss::kernels::cuda {
namespace {

constexpr int kThreads = 256;

[[noreturn]] void unsupported(const char* what, DType t) {
  throw std::invalid_argument(std::string("kernel ") + what + ": unsupported dtype " + dtype_name(t));
}

// ---- device math: the float overloads call the single-precision CUDA functions ----------------

__device__ __forceinline__ float m_exp(float v) { return ::expf(v); }
__device__ __forceinline__ double m_exp(double v) { return ::exp(v); }
__device__ __forceinline__ float m_log(float v) { return ::logf(v); }
__device__ __forceinline__ double m_log(double v) { return ::log(v); }
__device__ __forceinline__ float m_log1p(float v) { return ::log1pf(v); }
__device__ __forceinline__ double m_log1p(double v) { return ::log1p(v); }
__device__ __forceinline__ float m_sqrt(float v) { return ::sqrtf(v); }
__device__ __forceinline__ double m_sqrt(double v) { return ::sqrt(v); }
__device__ __forceinline__ float m_tanh(float v) { return ::tanhf(v); }
__device__ __forceinline__ double m_tanh(double v) { return ::tanh(v); }
__device__ __forceinline__ float m_pow(float a, float b) { return ::powf(a, b); }
__device__ __forceinline__ double m_pow(double a, double b) { return ::pow(a, b); }
__device__ __forceinline__ float m_abs(float v) { return ::fabsf(v); }
__device__ __forceinline__ double m_abs(double v) { return ::fabs(v); }
__device__ __forceinline__ int64_t m_abs(int64_t v) { return v < 0 ? -v : v; }

// ---- op functors (formulas copied from the CPU kernels) ---------------------------------------

template <class T> struct NegOp { __device__ T operator()(T v) const { return -v; } };
template <class T> struct ExpOp { __device__ T operator()(T v) const { return m_exp(v); } };
template <class T> struct LogOp { __device__ T operator()(T v) const { return m_log(v); } };
template <class T> struct SqrtOp { __device__ T operator()(T v) const { return m_sqrt(v); } };
template <class T> struct RsqrtOp { __device__ T operator()(T v) const { return T(1) / m_sqrt(v); } };
template <class T> struct AbsOp { __device__ T operator()(T v) const { return m_abs(v); } };
template <class T> struct SignOp { __device__ T operator()(T v) const { return T((v > T(0)) - (v < T(0))); } };
template <class T> struct SquareOp { __device__ T operator()(T v) const { return v * v; } };
template <class T> struct TanhOp { __device__ T operator()(T v) const { return m_tanh(v); } };
template <class T> struct SigmoidOp { __device__ T operator()(T v) const { return T(1) / (T(1) + m_exp(-v)); } };
template <class T> struct ReluOp { __device__ T operator()(T v) const { return v < T(0) ? T(0) : v; } };  // NaN stays NaN
template <class T> struct LeakyReluOp {
  T a;
  __device__ T operator()(T v) const { return v > T(0) ? v : v * a; }
};
template <class T> struct SoftplusOp {  // log(1 + exp(beta x)) / beta, linear above the threshold
  T a, b;
  __device__ T operator()(T v) const {
    const T z = v * a;
    return z > b ? v : m_log1p(m_exp(z)) / a;
  }
};
template <class T> struct AddScalarOp {
  T a;
  __device__ T operator()(T v) const { return v + a; }
};
template <class T> struct MulScalarOp {
  T a;
  __device__ T operator()(T v) const { return v * a; }
};
template <class T> struct PowScalarOp {
  T a;
  __device__ T operator()(T v) const { return m_pow(v, a); }
};
template <class T> struct RSubScalarOp {
  T a;
  __device__ T operator()(T v) const { return a - v; }
};
template <class T> struct RDivScalarOp {
  T a;
  __device__ T operator()(T v) const { return a / v; }
};
template <class T> struct ClampOp {
  T a, b;
  __device__ T operator()(T v) const { return v < a ? a : (v > b ? b : v); }
};

// Rounded multiplies and add (no fused multiply-add, which nvcc would otherwise form): the
// same rounding as the CPU kernel and as the composed mul + add it replaces.
__device__ inline float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ inline double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ inline float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ inline double add_rn(double a, double b) { return __dadd_rn(a, b); }
template <class T> struct AxpbyOp {
  T alpha, beta;
  __device__ T operator()(T x, T y) const { return add_rn(mul_rn(alpha, x), mul_rn(beta, y)); }
};
template <class T> struct AddOp { __device__ T operator()(T x, T y) const { return x + y; } };
template <class T> struct SubOp { __device__ T operator()(T x, T y) const { return x - y; } };
template <class T> struct MulOp { __device__ T operator()(T x, T y) const { return x * y; } };
template <class T> struct DivOp { __device__ T operator()(T x, T y) const { return x / y; } };
template <class T> struct PowOp { __device__ T operator()(T x, T y) const { return T(m_pow(x, y)); } };
// NaN behaviour as on the CPU: a NaN in x propagates, a NaN in y does not.
template <class T> struct MinOp { __device__ T operator()(T x, T y) const { return y < x ? y : x; } };
template <class T> struct MaxOp { __device__ T operator()(T x, T y) const { return y > x ? y : x; } };
template <class T> struct TanhBackwardOp { __device__ T operator()(T g, T y) const { return g * (T(1) - y * y); } };
template <class T> struct SigmoidBackwardOp { __device__ T operator()(T g, T y) const { return g * (y * (T(1) - y)); } };
// g times the 0/1 mask (not a select), so NaN/inf gradients behave as in the composed rule.
template <class T> struct ReluBackwardOp { __device__ T operator()(T g, T x) const { return x > T(0) ? g : T(0); } };
struct AndOp { __device__ uint8_t operator()(uint8_t x, uint8_t y) const { return uint8_t(x & y); } };
struct OrOp { __device__ uint8_t operator()(uint8_t x, uint8_t y) const { return uint8_t(x | y); } };

template <CompareOp C, class T>
__device__ __forceinline__ bool cmp(T x, T y) {
  if constexpr (C == CompareOp::Eq) return x == y;
  else if constexpr (C == CompareOp::Ne) return x != y;
  else if constexpr (C == CompareOp::Lt) return x < y;
  else if constexpr (C == CompareOp::Le) return x <= y;
  else if constexpr (C == CompareOp::Gt) return x > y;
  else return x >= y;
}
template <class T, CompareOp C> struct CmpOp {
  __device__ uint8_t operator()(T x, T y) const { return uint8_t(cmp<C>(x, y)); }
};
// S is T for floating types, double otherwise (2 < 2.5 for int64 too), as on the CPU.
template <class T, class S, CompareOp C> struct CmpScalarOp {
  S s;
  __device__ uint8_t operator()(T x) const { return uint8_t(cmp<C>(S(x), s)); }
};

template <class T> struct WhereOp {
  __device__ T operator()(uint8_t c, T x, T y) const { return c ? x : y; }
};
template <class TO, class FROM> struct CastOp {
  __device__ TO operator()(FROM v) const {
    if constexpr (std::is_same_v<TO, uint8_t> && !std::is_same_v<FROM, uint8_t>) return TO(v != FROM(0));
    else return TO(v);
  }
};
template <class T> struct ConstOp {
  T v;
  __device__ T operator()() const { return v; }
};

// ---- layouts -------------------------------------------------------------------------------

// Shape and per-operand element strides after coalescing, innermost dim first (operand 0 = out).
template <int N>
struct Offsets {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride[kMaxDims][N] = {};
};

template <int N>
Offsets<N> coalesce(const View* const (&v)[N]) {
  const View& ref = *v[0];
  int nd = 0;
  int64_t shape[kMaxDims], st[kMaxDims][N];
  for (int d = 0; d < ref.ndim; ++d) {
    const int64_t n = ref.shape[d];
    if (n == 1) continue;
    if (nd > 0) {  // merge into the previous dim when every operand steps through both as one run
      bool merge = true;
      for (int k = 0; k < N; ++k)
        if (st[nd - 1][k] != v[k]->strides[d] * n) merge = false;
      if (merge) {
        shape[nd - 1] *= n;
        for (int k = 0; k < N; ++k) st[nd - 1][k] = v[k]->strides[d];
        continue;
      }
    }
    shape[nd] = n;
    for (int k = 0; k < N; ++k) st[nd][k] = v[k]->strides[d];
    ++nd;
  }
  Offsets<N> c;
  c.ndim = nd;
  for (int i = 0; i < nd; ++i) {
    c.shape[i] = shape[nd - 1 - i];
    for (int k = 0; k < N; ++k) c.stride[i][k] = st[nd - 1 - i][k];
  }
  return c;
}

// Element offsets of linear index idx for every operand. The loop is unrolled over kMaxDims with
// constant indices so the struct stays in the kernel-parameter bank (no local-memory copy); the
// outermost dim needs no division.
template <class Index, int N>
__device__ __forceinline__ void offsets_of(const Offsets<N>& c, Index idx, int64_t (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
#pragma unroll
  for (int d = 0; d < kMaxDims; ++d) {
    if (d == c.ndim) break;
    Index i = idx;
    if (d + 1 < c.ndim) {
      const Index s = Index(c.shape[d]);
      const Index q = idx / s;
      i = idx - q * s;
      idx = q;
    }
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += int64_t(i) * c.stride[d][k];
  }
}

// ---- kernels -------------------------------------------------------------------------------

template <class T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

// Vectors are taken by value: each argument is one vector load.
template <int V, class TOut, class F, class... VIn>
__device__ __forceinline__ void apply_vec(const F& f, Vec<TOut, V>* out, VIn... vin) {
  Vec<TOut, V> r;
#pragma unroll
  for (int j = 0; j < V; ++j) r.v[j] = f(vin.v[j]...);
  *out = r;
}

// Contiguous, every pointer aligned to V elements: V elements per thread and step; the last
// n % V elements go to the first threads.
template <int V, class TOut, class F, class... TIn>
__global__ void __launch_bounds__(kThreads) vec_kernel(F f, int64_t n, TOut* out, const TIn*... in) {
  const int64_t nv = n / V;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t i = t; i < nv; i += step)
    apply_vec<V>(f, reinterpret_cast<Vec<TOut, V>*>(out) + i, reinterpret_cast<const Vec<TIn, V>*>(in)[i]...);
  const int64_t j = nv * V + t;
  if (j < n) out[j] = f(in[j]...);
}

// Contiguous but not aligned for vectors (e.g. a view at an odd offset).
template <class TOut, class F, class... TIn>
__global__ void __launch_bounds__(kThreads) flat_kernel(F f, int64_t n, TOut* out, const TIn*... in) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) out[i] = f(in[i]...);
}

template <class TOut, class F, size_t... I, class... TIn>
__device__ __forceinline__ void apply_at(const F& f, const int64_t* off, TOut* out, std::index_sequence<I...>,
                                         const TIn*... in) {
  out[off[0]] = f(in[off[I + 1]]...);
}

// Any strides (broadcast = zero stride). Index is uint32_t when n < 2^31 (then i + step cannot
// wrap: step <= 65535 * 32 * 256 < 2^30), int64_t otherwise.
template <class Index, class TOut, class F, class... TIn>
__global__ void __launch_bounds__(kThreads)
    strided_kernel(F f, Index n, Offsets<int(sizeof...(TIn)) + 1> c, TOut* out, const TIn*... in) {
  const Index step = Index(gridDim.x) * Index(blockDim.x);
  for (Index i = Index(blockIdx.x) * Index(blockDim.x) + Index(threadIdx.x); i < n; i += step) {
    int64_t off[sizeof...(TIn) + 1];
    offsets_of(c, i, off);
    apply_at(f, off, out, std::index_sequence_for<TIn...>{}, in...);
  }
}

// Two dims after coalescing with the output dense along the inner one (a bias or row broadcast,
// a transposed operand): blocks tile (column chunks) x (rows) with no index division, and each
// thread handles kRowsUnroll columns per row, so several independent loads are in flight (one
// element per thread and a block per 256 elements left the broadcast add at 29-46% of copy).
constexpr int kRowsUnroll = 4;
template <class TOut, class F, size_t... I, class... TIn>
__device__ __forceinline__ void rows_body(const F& f, const Offsets<int(sizeof...(TIn)) + 1>& c, int64_t rows,
                                          TOut* out, std::index_sequence<I...>, const TIn*... in) {
  const int64_t inner = c.shape[0], jstep = int64_t(gridDim.x) * blockDim.x * kRowsUnroll;
  const int64_t j0 = int64_t(blockIdx.x) * blockDim.x * kRowsUnroll + threadIdx.x;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    TOut* o = out + r * c.stride[1][0];
    for (int64_t jb = j0; jb < inner; jb += jstep) {
      TOut v[kRowsUnroll];
#pragma unroll
      for (int u = 0; u < kRowsUnroll; ++u) {
        const int64_t j = jb + int64_t(u) * blockDim.x;
        if (j < inner) v[u] = f(in[r * c.stride[1][I + 1] + j * c.stride[0][I + 1]]...);
      }
#pragma unroll
      for (int u = 0; u < kRowsUnroll; ++u) {
        const int64_t j = jb + int64_t(u) * blockDim.x;
        if (j < inner) o[j] = v[u];
      }
    }
  }
}
template <class TOut, class F, class... TIn>
__global__ void __launch_bounds__(kThreads)
    rows_kernel(F f, int64_t rows, Offsets<int(sizeof...(TIn)) + 1> c, TOut* out, const TIn*... in) {
  rows_body(f, c, rows, out, std::index_sequence_for<TIn...>{}, in...);
}

// ---- launcher ------------------------------------------------------------------------------

template <class T>
bool aligned(const void* p, int v) {
  return reinterpret_cast<uintptr_t>(p) % (sizeof(T) * size_t(v)) == 0;
}

// Elements per thread in the vector path: 16 bytes of the widest operand type.
template <class... T>
constexpr int vec_width() {
  size_t widest = 1;
  ((widest = sizeof(T) > widest ? sizeof(T) : widest), ...);
  return int(16 / widest);
}

// out[i] = f(in0[i], in1[i], ...) over out's shape; inputs are already broadcast through strides.
template <class TOut, class... TIn, class F>
void map(const char* name, const F& f, const View& out, const auto&... in) {
  static_assert(sizeof...(TIn) == sizeof...(in), "one dtype per input view");
  constexpr int N = int(sizeof...(TIn)) + 1;
  const int64_t n = out.numel();
  if (n <= 0) return;
  const View* const views[N] = {&out, &in...};
  const Offsets<N> c = coalesce<N>(views);
  TOut* o = out.ptr<TOut>();

  bool flat = c.ndim == 0;
  if (c.ndim == 1) {
    flat = true;
    for (int k = 0; k < N; ++k) flat = flat && c.stride[0][k] == 1;
  }
  if (flat) {
    constexpr int V = vec_width<TOut, TIn...>();
    if (aligned<TOut>(o, V) && (aligned<TIn>(in.data, V) && ...)) {
      vec_kernel<V, TOut, F, TIn...><<<grid_for(n / V, kThreads), kThreads, 0, stream()>>>(
          f, n, o, static_cast<const TIn*>(in.data)...);
    } else {
      flat_kernel<TOut, F, TIn...><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
          f, n, o, static_cast<const TIn*>(in.data)...);
    }
  } else if (c.ndim == 2 && c.stride[0][0] == 1 && c.shape[0] >= kThreads) {
    // About 32 blocks per SM in total; each block loops over its rows.
    const int64_t per_block = int64_t(kThreads) * kRowsUnroll, chunks = (c.shape[0] + per_block - 1) / per_block;
    const int64_t gx = chunks < 1024 ? chunks : 1024, want_y = std::max<int64_t>(1, 32 * sm_count() / gx);
    const dim3 grid(unsigned(gx), unsigned(std::min<int64_t>({c.shape[1], want_y, 65535})));
    rows_kernel<TOut, F, TIn...><<<grid, kThreads, 0, stream()>>>(f, c.shape[1], c, o, static_cast<const TIn*>(in.data)...);
  } else if (n <= INT32_MAX) {
    strided_kernel<uint32_t, TOut, F, TIn...><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        f, uint32_t(n), c, o, static_cast<const TIn*>(in.data)...);
  } else {
    strided_kernel<int64_t, TOut, F, TIn...><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        f, n, c, o, static_cast<const TIn*>(in.data)...);
  }
  ML_CUDA_CHECK_LAUNCH(name);
}

// True when the view's elements form one dense run in order (memset/memcpy can replace a kernel).
bool dense(const View& v) {
  const View* const views[1] = {&v};
  const Offsets<1> c = coalesce<1>(views);
  return c.ndim == 0 || (c.ndim == 1 && c.stride[0][0] == 1);
}

// ---- typed dispatch ------------------------------------------------------------------------

template <class T>
void unary_float(UnaryOp op, const View& x, const View& o, T a, T b) {
  constexpr const char* k = "unary";
  switch (op) {
    case UnaryOp::Neg: return map<T, T>(k, NegOp<T>{}, o, x);
    case UnaryOp::Exp: return map<T, T>(k, ExpOp<T>{}, o, x);
    case UnaryOp::Log: return map<T, T>(k, LogOp<T>{}, o, x);
    case UnaryOp::Sqrt: return map<T, T>(k, SqrtOp<T>{}, o, x);
    case UnaryOp::Rsqrt: return map<T, T>(k, RsqrtOp<T>{}, o, x);
    case UnaryOp::Abs: return map<T, T>(k, AbsOp<T>{}, o, x);
    case UnaryOp::Sign: return map<T, T>(k, SignOp<T>{}, o, x);
    case UnaryOp::Square: return map<T, T>(k, SquareOp<T>{}, o, x);
    case UnaryOp::Tanh: return map<T, T>(k, TanhOp<T>{}, o, x);
    case UnaryOp::Sigmoid: return map<T, T>(k, SigmoidOp<T>{}, o, x);
    case UnaryOp::Relu: return map<T, T>(k, ReluOp<T>{}, o, x);
    case UnaryOp::LeakyRelu: return map<T, T>(k, LeakyReluOp<T>{a}, o, x);
    case UnaryOp::Softplus: return map<T, T>(k, SoftplusOp<T>{a, b}, o, x);
    case UnaryOp::AddScalar: return map<T, T>(k, AddScalarOp<T>{a}, o, x);
    case UnaryOp::MulScalar: return map<T, T>(k, MulScalarOp<T>{a}, o, x);
    case UnaryOp::PowScalar:
      if (a == T(2)) return map<T, T>(k, SquareOp<T>{}, o, x);  // exact square, as on the CPU
      return map<T, T>(k, PowScalarOp<T>{a}, o, x);
    case UnaryOp::RSubScalar: return map<T, T>(k, RSubScalarOp<T>{a}, o, x);
    case UnaryOp::RDivScalar: return map<T, T>(k, RDivScalarOp<T>{a}, o, x);
    case UnaryOp::Clamp: return map<T, T>(k, ClampOp<T>{a, b}, o, x);
  }
}

template <class T>
void binary_typed(BinaryOp op, const View& a, const View& b, const View& o) {
  constexpr const char* k = "binary";
  switch (op) {
    case BinaryOp::Add: return map<T, T, T>(k, AddOp<T>{}, o, a, b);
    case BinaryOp::Sub: return map<T, T, T>(k, SubOp<T>{}, o, a, b);
    case BinaryOp::Mul: return map<T, T, T>(k, MulOp<T>{}, o, a, b);
    case BinaryOp::Div:
      if constexpr (std::is_floating_point_v<T>) return map<T, T, T>(k, DivOp<T>{}, o, a, b);
      break;
    case BinaryOp::Pow:
      if constexpr (std::is_floating_point_v<T>) return map<T, T, T>(k, PowOp<T>{}, o, a, b);
      break;
    case BinaryOp::Min: return map<T, T, T>(k, MinOp<T>{}, o, a, b);
    case BinaryOp::Max: return map<T, T, T>(k, MaxOp<T>{}, o, a, b);
    case BinaryOp::TanhBackward: return map<T, T, T>(k, TanhBackwardOp<T>{}, o, a, b);
    case BinaryOp::SigmoidBackward: return map<T, T, T>(k, SigmoidBackwardOp<T>{}, o, a, b);
    case BinaryOp::ReluBackward: return map<T, T, T>(k, ReluBackwardOp<T>{}, o, a, b);
  }
  unsupported("binary pow/div", a.dtype);  // int64 Div/Pow (filtered before the call as well)
}

template <class T, CompareOp C>
void compare_op(const View& a, const View* b, double s, const View& o) {
  if (b) return map<uint8_t, T, T>("compare", CmpOp<T, C>{}, o, a, *b);
  if constexpr (std::is_floating_point_v<T>) map<uint8_t, T>("compare_scalar", CmpScalarOp<T, T, C>{T(s)}, o, a);
  else map<uint8_t, T>("compare_scalar", CmpScalarOp<T, double, C>{s}, o, a);
}

// b == nullptr: compare with the scalar s.
template <class T>
void compare_typed(CompareOp op, const View& a, const View* b, double s, const View& o) {
  switch (op) {
    case CompareOp::Eq: return compare_op<T, CompareOp::Eq>(a, b, s, o);
    case CompareOp::Ne: return compare_op<T, CompareOp::Ne>(a, b, s, o);
    case CompareOp::Lt: return compare_op<T, CompareOp::Lt>(a, b, s, o);
    case CompareOp::Le: return compare_op<T, CompareOp::Le>(a, b, s, o);
    case CompareOp::Gt: return compare_op<T, CompareOp::Gt>(a, b, s, o);
    case CompareOp::Ge: return compare_op<T, CompareOp::Ge>(a, b, s, o);
  }
}

template <class TO, class FROM>
void copy_typed(const View& src, const View& out) {
  if constexpr (std::is_same_v<TO, FROM>) {
    // Same dtype, both dense: the driver's device-to-device copy.
    if (src.data != out.data && dense(src) && dense(out)) {
      const int64_t n = out.numel();
      if (n <= 0) return;
      ML_CUDA_CHECK(cudaMemcpyAsync(out.data, src.data, size_t(n) * sizeof(TO), cudaMemcpyDeviceToDevice, stream()),
                    "copy");
      return;
    }
  }
  map<TO, FROM>("copy", CastOp<TO, FROM>{}, out, src);
}

}  // namespace

void unary(UnaryOp op, const View& x, const View& out, double alpha, double beta) {
  switch (x.dtype) {
    case DType::Float32: return unary_float<float>(op, x, out, float(alpha), float(beta));
    case DType::Float64: return unary_float<double>(op, x, out, alpha, beta);
    case DType::Int64:
      if (op == UnaryOp::Neg) return map<int64_t, int64_t>("unary", NegOp<int64_t>{}, out, x);
      if (op == UnaryOp::Abs) return map<int64_t, int64_t>("unary", AbsOp<int64_t>{}, out, x);
      if (op == UnaryOp::AddScalar) return map<int64_t, int64_t>("unary", AddScalarOp<int64_t>{int64_t(alpha)}, out, x);
      if (op == UnaryOp::MulScalar) return map<int64_t, int64_t>("unary", MulScalarOp<int64_t>{int64_t(alpha)}, out, x);
      unsupported("unary", x.dtype);
    default: unsupported("unary", x.dtype);
  }
}

void binary(BinaryOp op, const View& a, const View& b, const View& out) {
  switch (a.dtype) {
    case DType::Float32: return binary_typed<float>(op, a, b, out);
    case DType::Float64: return binary_typed<double>(op, a, b, out);
    case DType::Int64:
      if (op == BinaryOp::Pow || op == BinaryOp::Div) unsupported("binary pow/div", a.dtype);
      return binary_typed<int64_t>(op, a, b, out);
    case DType::Bool:
      if (op == BinaryOp::Mul || op == BinaryOp::Min) return map<uint8_t, uint8_t, uint8_t>("binary", AndOp{}, out, a, b);
      if (op == BinaryOp::Add || op == BinaryOp::Max) return map<uint8_t, uint8_t, uint8_t>("binary", OrOp{}, out, a, b);
      unsupported("binary", a.dtype);
  }
}

void axpby(const View& a, const View& b, const View& out, double alpha, double beta) {
  switch (a.dtype) {
    case DType::Float32: return map<float, float, float>("axpby", AxpbyOp<float>{float(alpha), float(beta)}, out, a, b);
    case DType::Float64: return map<double, double, double>("axpby", AxpbyOp<double>{alpha, beta}, out, a, b);
    default: unsupported("axpby", a.dtype);
  }
}

void compare(CompareOp op, const View& a, const View& b, const View& out) {
  dispatch_dtype(a.dtype, [&](auto t) { compare_typed<decltype(t)>(op, a, &b, 0.0, out); });
}

void compare_scalar(CompareOp op, const View& a, double s, const View& out) {
  dispatch_dtype(a.dtype, [&](auto t) { compare_typed<decltype(t)>(op, a, nullptr, s, out); });
}

void where(const View& cond, const View& a, const View& b, const View& out) {
  dispatch_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    map<T, uint8_t, T, T>("where", WhereOp<T>{}, out, cond, a, b);
  });
}

void copy(const View& src, const View& out) {
  dispatch_dtype(out.dtype, [&](auto to) {
    dispatch_dtype(src.dtype, [&](auto from) { copy_typed<decltype(to), decltype(from)>(src, out); });
  });
}

void fill(const View& out, double value) {
  dispatch_dtype(out.dtype, [&](auto t) {
    using T = decltype(t);
    const T v = T(value);  // the same conversion as the CPU (bool: uint8_t(value), not value != 0)
    const int64_t n = out.numel();
    if (n <= 0) return;
    // A value whose bytes are all equal (zero, or any bool) on a dense view: cudaMemsetAsync.
    unsigned char bytes[sizeof(T)];
    std::memcpy(bytes, &v, sizeof(T));
    bool same = true;
    for (size_t i = 1; i < sizeof(T); ++i) same = same && bytes[i] == bytes[0];
    if (same && dense(out)) {
      ML_CUDA_CHECK(cudaMemsetAsync(out.data, bytes[0], size_t(n) * sizeof(T), stream()), "fill");
      return;
    }
    map<T>("fill", ConstOp<T>{v}, out);
  });
}

}  // namespace metaloss::kernels::cuda
