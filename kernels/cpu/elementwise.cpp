// Elementwise kernels: unary, binary, compare, where, copy/cast, fill.
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include "kernels/cpu/fast_math.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/strided_loop.h"
#include "kernels/profiler.h"

namespace metaloss::kernels {
namespace {

// Applies f elementwise: out[i] = f(in0[i], in1[i], ...). The contiguous case is a plain loop
// the compiler vectorises; the strided case steps by byte strides.
template <class TOut, class... TIn, class F, size_t... I>
void map_impl(const std::array<const View*, sizeof...(TIn) + 1>& v, F f, std::index_sequence<I...>) {
  constexpr int N = sizeof...(TIn) + 1;
  Loop<N> loop(v);
  loop.run([&](char** p, int64_t n, const int64_t* s) {
    TOut* out = reinterpret_cast<TOut*>(p[0]);
    bool contiguous = s[0] == int64_t(sizeof(TOut)) && ((s[I + 1] == int64_t(sizeof(TIn))) && ...);
    if (contiguous) {
      std::tuple<const TIn*...> in{reinterpret_cast<const TIn*>(p[I + 1])...};
      for (int64_t i = 0; i < n; ++i) out[i] = f(std::get<I>(in)[i]...);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<TOut*>(p[0] + i * s[0]) = f(*reinterpret_cast<const TIn*>(p[I + 1] + i * s[I + 1])...);
    }
  });
}
template <class TOut, class... TIn, class F>
void map(F f, const View& out, const auto&... in) {
  map_impl<TOut, TIn...>({&out, &in...}, f, std::index_sequence_for<TIn...>{});
}

[[noreturn]] void unsupported(const char* what, DType t) {
  throw std::invalid_argument(std::string("kernel ") + what + ": unsupported dtype " + dtype_name(t));
}

// float32 uses the vectorisable fast:: versions; float64 keeps libm (used as the reference).
template <class T> T exp_(T v) { if constexpr (std::is_same_v<T, float>) return fast::exp(v); else return std::exp(v); }
template <class T> T log_(T v) { if constexpr (std::is_same_v<T, float>) return fast::log(v); else return std::log(v); }
template <class T> T tanh_(T v) { if constexpr (std::is_same_v<T, float>) return fast::tanh(v); else return std::tanh(v); }

// The float32 transcendental loops (exp, log, tanh, sigmoid) are compute bound: the baseline
// x86-64 build has 4-wide SSE2 without FMA. They are compiled a second time for AVX2+FMA
// (8-wide, fused multiply-add) and the variant is chosen once at run time, so a generic binary
// still uses the wider units where the CPU has them. Results may differ in the last bit between
// the two variants (FMA rounds once); both stay within the ulp bounds tests/test_kernels.cpp checks.
#define METALOSS_FLOAT_LOOPS(ATTR, SUFFIX)                                                                  \
  ATTR void exp_loop##SUFFIX(const float* x, float* y, int64_t n) {                                         \
    for (int64_t i = 0; i < n; ++i) y[i] = fast::exp(x[i]);                                                 \
  }                                                                                                         \
  ATTR void log_loop##SUFFIX(const float* x, float* y, int64_t n) {                                         \
    for (int64_t i = 0; i < n; ++i) y[i] = fast::log(x[i]);                                                 \
  }                                                                                                         \
  ATTR void tanh_loop##SUFFIX(const float* x, float* y, int64_t n) {                                        \
    for (int64_t i = 0; i < n; ++i) y[i] = fast::tanh(x[i]);                                                \
  }                                                                                                         \
  ATTR void sigmoid_loop##SUFFIX(const float* x, float* y, int64_t n) {                                     \
    for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + fast::exp(-x[i]));                               \
  }
METALOSS_FLOAT_LOOPS(, _base)
#if defined(__x86_64__) && defined(__GNUC__)
METALOSS_FLOAT_LOOPS(__attribute__((target("avx2,fma"))), _avx2)
// METALOSS_NO_AVX2=1 forces the baseline loops (bit-identical results across CPU generations).
bool has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !std::getenv("METALOSS_NO_AVX2");
  return yes;
}
#else
METALOSS_FLOAT_LOOPS(, _avx2)  // same code: the run-time choice below is then moot
bool has_avx2() { return false; }
#endif
#undef METALOSS_FLOAT_LOOPS

using FloatLoop = void (*)(const float*, float*, int64_t);
FloatLoop float_loop(UnaryOp op) {
  const bool wide = has_avx2();
  switch (op) {
    case UnaryOp::Exp: return wide ? exp_loop_avx2 : exp_loop_base;
    case UnaryOp::Log: return wide ? log_loop_avx2 : log_loop_base;
    case UnaryOp::Tanh: return wide ? tanh_loop_avx2 : tanh_loop_base;
    case UnaryOp::Sigmoid: return wide ? sigmoid_loop_avx2 : sigmoid_loop_base;
    default: return nullptr;
  }
}

template <class T>
void unary_typed(UnaryOp op, const View& x, const View& o, T a, T b) {
  if constexpr (std::is_same_v<T, float>) {
    if (FloatLoop f = float_loop(op); f && x.contiguous() && o.contiguous()) {
      const float* xp = x.ptr<float>();
      float* op_ = o.ptr<float>();
      parallel_for(o.numel(), 16, [&](int64_t b0, int64_t e0) { f(xp + b0, op_ + b0, e0 - b0); });
      return;
    }
  }
  switch (op) {
    case UnaryOp::Neg: return map<T, T>([](T v) { return -v; }, o, x);
    case UnaryOp::Exp: return map<T, T>([](T v) { return exp_(v); }, o, x);
    case UnaryOp::Log: return map<T, T>([](T v) { return log_(v); }, o, x);
    case UnaryOp::Sqrt: return map<T, T>([](T v) { return std::sqrt(v); }, o, x);
    case UnaryOp::Rsqrt: return map<T, T>([](T v) { return T(1) / std::sqrt(v); }, o, x);
    case UnaryOp::Abs: return map<T, T>([](T v) { return std::abs(v); }, o, x);
    case UnaryOp::Sign: return map<T, T>([](T v) { return T((v > T(0)) - (v < T(0))); }, o, x);
    case UnaryOp::Square: return map<T, T>([](T v) { return v * v; }, o, x);
    case UnaryOp::Tanh: return map<T, T>([](T v) { return tanh_(v); }, o, x);
    case UnaryOp::Sigmoid: return map<T, T>([](T v) { return T(1) / (T(1) + exp_(-v)); }, o, x);
    case UnaryOp::Relu: return map<T, T>([](T v) { return v < T(0) ? T(0) : v; }, o, x);  // NaN stays NaN
    case UnaryOp::LeakyRelu: return map<T, T>([a](T v) { return v > T(0) ? v : v * a; }, o, x);
    case UnaryOp::Softplus:  // log(1 + exp(beta x)) / beta, linear above the threshold (as PyTorch)
      return map<T, T>([a, b](T v) { T z = v * a; return z > b ? v : std::log1p(std::exp(z)) / a; }, o, x);
    case UnaryOp::AddScalar: return map<T, T>([a](T v) { return v + a; }, o, x);
    case UnaryOp::MulScalar: return map<T, T>([a](T v) { return v * a; }, o, x);
    case UnaryOp::PowScalar:
      if (a == T(2)) return map<T, T>([](T v) { return v * v; }, o, x);
      return map<T, T>([a](T v) { return std::pow(v, a); }, o, x);
    case UnaryOp::RSubScalar: return map<T, T>([a](T v) { return a - v; }, o, x);
    case UnaryOp::RDivScalar: return map<T, T>([a](T v) { return a / v; }, o, x);
    case UnaryOp::Clamp: return map<T, T>([a, b](T v) { return v < a ? a : (v > b ? b : v); }, o, x);
  }
}

template <class T>
void binary_typed(BinaryOp op, const View& a, const View& b, const View& o) {
  switch (op) {
    case BinaryOp::Add: return map<T, T, T>([](T x, T y) { return x + y; }, o, a, b);
    case BinaryOp::Sub: return map<T, T, T>([](T x, T y) { return x - y; }, o, a, b);
    case BinaryOp::Mul: return map<T, T, T>([](T x, T y) { return x * y; }, o, a, b);
    case BinaryOp::Div: return map<T, T, T>([](T x, T y) { return x / y; }, o, a, b);
    case BinaryOp::Pow: return map<T, T, T>([](T x, T y) { return T(std::pow(x, y)); }, o, a, b);
    case BinaryOp::Min: return map<T, T, T>([](T x, T y) { return y < x ? y : x; }, o, a, b);
    case BinaryOp::Max: return map<T, T, T>([](T x, T y) { return y > x ? y : x; }, o, a, b);
    // Same operations in the same order as the composed rules (square, rsub, mul).
    case BinaryOp::TanhBackward: return map<T, T, T>([](T g, T y) { return g * (T(1) - y * y); }, o, a, b);
    case BinaryOp::SigmoidBackward: return map<T, T, T>([](T g, T y) { return g * (y * (T(1) - y)); }, o, a, b);
    // g times the 0/1 mask (not a select), so NaN/inf gradients behave as in the composed rule.
    case BinaryOp::ReluBackward: return map<T, T, T>([](T g, T x) { return x > T(0) ? g : T(0); }, o, a, b);
  }
}

template <class T, class U>
void compare_typed(CompareOp op, const View& a, const U& b, const View& o) {
  auto run = [&](auto f) {
    if constexpr (std::is_same_v<U, View>) map<uint8_t, T, T>([f](T x, T y) { return uint8_t(f(x, y)); }, o, a, b);
    else if constexpr (std::is_floating_point_v<T>) { T s = T(b); map<uint8_t, T>([f, s](T x) { return uint8_t(f(x, s)); }, o, a); }
    else map<uint8_t, T>([f, b](T x) { return uint8_t(f(double(x), b)); }, o, a);  // 2 < 2.5 for int64 too
  };
  switch (op) {
    case CompareOp::Eq: return run([](auto x, auto y) { return x == y; });
    case CompareOp::Ne: return run([](auto x, auto y) { return x != y; });
    case CompareOp::Lt: return run([](auto x, auto y) { return x < y; });
    case CompareOp::Le: return run([](auto x, auto y) { return x <= y; });
    case CompareOp::Gt: return run([](auto x, auto y) { return x > y; });
    case CompareOp::Ge: return run([](auto x, auto y) { return x >= y; });
  }
}

}  // namespace

namespace cpu {

void unary(UnaryOp op, const View& x, const View& out, double alpha, double beta) {
  METALOSS_PROFILE_SCOPE("unary", "kernel", double(out.numel() * int64_t(2 * dtype_size(out.dtype))), double(out.numel()));
  switch (x.dtype) {
    case DType::Float32: return unary_typed<float>(op, x, out, float(alpha), float(beta));
    case DType::Float64: return unary_typed<double>(op, x, out, alpha, beta);
    case DType::Int64:
      if (op == UnaryOp::Neg) return map<int64_t, int64_t>([](int64_t v) { return -v; }, out, x);
      if (op == UnaryOp::Abs) return map<int64_t, int64_t>([](int64_t v) { return v < 0 ? -v : v; }, out, x);
      if (op == UnaryOp::AddScalar)
        return map<int64_t, int64_t>([a = int64_t(alpha)](int64_t v) { return v + a; }, out, x);
      if (op == UnaryOp::MulScalar)
        return map<int64_t, int64_t>([a = int64_t(alpha)](int64_t v) { return v * a; }, out, x);
      unsupported("unary", x.dtype);
    default: unsupported("unary", x.dtype);
  }
}

void binary(BinaryOp op, const View& a, const View& b, const View& out) {
  METALOSS_PROFILE_SCOPE("binary", "kernel", double(out.numel() * int64_t(3 * dtype_size(out.dtype))), double(out.numel()));
  switch (a.dtype) {
    case DType::Float32: return binary_typed<float>(op, a, b, out);
    case DType::Float64: return binary_typed<double>(op, a, b, out);
    case DType::Int64:
      if (op == BinaryOp::Pow || op == BinaryOp::Div) unsupported("binary pow/div", a.dtype);
      return binary_typed<int64_t>(op, a, b, out);
    case DType::Bool:
      if (op == BinaryOp::Mul || op == BinaryOp::Min)  // logical and
        return map<uint8_t, uint8_t, uint8_t>([](uint8_t x, uint8_t y) { return uint8_t(x & y); }, out, a, b);
      if (op == BinaryOp::Add || op == BinaryOp::Max)  // logical or
        return map<uint8_t, uint8_t, uint8_t>([](uint8_t x, uint8_t y) { return uint8_t(x | y); }, out, a, b);
      unsupported("binary", a.dtype);
  }
}

void axpby(const View& a, const View& b, const View& out, double alpha, double beta) {
  // (alpha * x) + (beta * y), rounded like the composed mul + add it replaces in the default
  // x86-64 build; a -march=native build may contract it into one fused multiply-add.
  METALOSS_PROFILE_SCOPE("axpby", "kernel", double(out.numel() * int64_t(3 * dtype_size(out.dtype))), 3.0 * double(out.numel()));
  // Written as (alpha * x) + (beta * y), no FMA contraction assumed: beta = -lr gives x - lr * y
  // exactly as the composed sub(x, mul(y, lr)).
  switch (a.dtype) {
    case DType::Float32:
      return map<float, float, float>([al = float(alpha), be = float(beta)](float x, float y) { return al * x + be * y; },
                                      out, a, b);
    case DType::Float64:
      return map<double, double, double>([alpha, beta](double x, double y) { return alpha * x + beta * y; }, out, a, b);
    default: unsupported("axpby", a.dtype);
  }
}

void compare(CompareOp op, const View& a, const View& b, const View& out) {
  dispatch_dtype(a.dtype, [&](auto t) { compare_typed<decltype(t)>(op, a, b, out); });
}
void compare_scalar(CompareOp op, const View& a, double s, const View& out) {
  dispatch_dtype(a.dtype, [&](auto t) { compare_typed<decltype(t)>(op, a, s, out); });
}

void where(const View& cond, const View& a, const View& b, const View& out) {
  dispatch_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    map<T, uint8_t, T, T>([](uint8_t c, T x, T y) { return c ? x : y; }, out, cond, a, b);
  });
}

void copy(const View& src, const View& out) {
  METALOSS_PROFILE_SCOPE("copy", "kernel", double(out.numel() * int64_t(dtype_size(src.dtype) + dtype_size(out.dtype))));
  dispatch_dtype(out.dtype, [&](auto to) {
    dispatch_dtype(src.dtype, [&](auto from) {
      using TO = decltype(to);
      using FROM = decltype(from);
      if constexpr (std::is_same_v<TO, uint8_t> && !std::is_same_v<FROM, uint8_t>)
        map<TO, FROM>([](FROM v) { return TO(v != FROM(0)); }, out, src);
      else
        map<TO, FROM>([](FROM v) { return TO(v); }, out, src);
    });
  });
}

void fill(const View& out, double value) {
  dispatch_dtype(out.dtype, [&](auto t) {
    using T = decltype(t);
    T v = T(value);
    map<T>([v]() { return v; }, out);
  });
}

}  // namespace cpu
}  // namespace metaloss::kernels
