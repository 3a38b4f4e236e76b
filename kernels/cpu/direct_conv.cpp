// Direct convolution on the CPU at stride 1, forward and both adjoints, without an im2col buffer:
// for the few input taps of the thesis' models (LeNet-5's conv1 has one input channel, so im2col
// writes and GEMM reads 25 copies of each image for 6 outputs, at memory speed). The images are
// zero-padded and flattened with rows of the padded width, so every filter tap is one long
// shifted row operation over a whole plane instead of one short row per output row, done kLanes
// outputs at a time with every tap (and channel) innermost, so the partial sums stay in registers;
// the columns past the output width are computed and dropped. Each output element is a fixed-order sum (input channel,
// ky, kx for the forward; out channel, ky, kx for the data adjoint; per lane over the images, then
// the lanes, for the filter adjoint), and the work is split over whole planes or filter entries,
// so results do not depend on the thread count. The loops are compiled for AVX-512 and AVX2 + FMA
// beside the baseline and chosen at run time (METALOSS_NO_AVX2=1 forces the baseline). The
// im2col + GEMM path (engine/ops/conv_pool.cpp) stays the reference they are tested against.
#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/strided_loop.h"

// The 64-byte vectors never cross a call boundary (every helper is always_inline), so GCC's note
// that their by-value ABI differs without AVX-512 does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace metaloss::kernels::cpu {
namespace {

constexpr int64_t kLanes = 16;  // planes are padded to a multiple of this many values (64 bytes of float)

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Per-thread buffers that only grow: after the first step of a training run the kernels allocate
// nothing (the alloc test holds steady-state steps to zero operator new calls). Slots 0 and 1 are
// the calling thread's padded operands, slot 2 each worker's plane buffer.
template <class T>
T* scratch(int slot, int64_t n) {
  thread_local std::vector<T> buffers[3];
  std::vector<T>& b = buffers[slot];
  if (b.size() < size_t(n)) b.resize(size_t(n));
  return b.data();
}

// The flat layout of one geometry: padded planes of `stride` values whose rows are `wp` wide.
struct Flat {
  int64_t hp, wp;    // padded height and width
  int64_t len;       // values of an output plane in padded rows: oh * wp, rounded up to kLanes
  int64_t stride;    // values per padded input plane (room for the largest shift plus len)
  int64_t front;     // zeros before each gradient plane (the largest shift), so the data adjoint gathers
  int64_t dlen;      // values per gradient plane: front + stride
  explicit Flat(const Conv2dGeom& g)
      : hp(g.h + 2 * g.ph), wp(g.w + 2 * g.pw), len(round_up(g.oh * (g.w + 2 * g.pw), kLanes)) {
    front = (g.kh - 1) * g.dh * wp + (g.kw - 1) * g.dw;
    stride = round_up(std::max(hp * wp, front + len), kLanes);
    dlen = front + stride;
    shifts = scratch<int64_t>(0, g.kh * g.kw);
    for (int64_t ky = 0; ky < g.kh; ++ky)
      for (int64_t kx = 0; kx < g.kw; ++kx) shifts[ky * g.kw + kx] = shift(g, ky, kx);
  }
  int64_t* shifts;   // per tap ky * kw + kx: where it reads, relative to the output (a scratch buffer)
  int64_t shift(const Conv2dGeom& g, int64_t ky, int64_t kx) const { return ky * g.dh * wp + kx * g.dw; }
};

// planes [count, h, w] -> zero-padded flat planes [count, f.stride]
template <class T>
void pad_planes(const Conv2dGeom& g, const Flat& f, const T* x, T* xp, int64_t count) {
  parallel_for(count, f.stride, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      T* dst = xp + p * f.stride;
      std::fill(dst, dst + f.stride, T(0));
      for (int64_t y = 0; y < g.h; ++y)
        std::copy(x + (p * g.h + y) * g.w, x + (p * g.h + y + 1) * g.w, dst + (y + g.ph) * f.wp + g.pw);
    }
  });
}

// 64 bytes of T as one value (GCC vector extension: a zmm register under AVX-512, two ymm under
// AVX2, four xmm in the baseline), loaded from and stored to unaligned addresses.
template <class T>
struct VecOf;
template <>
struct VecOf<float> {
  typedef float type __attribute__((vector_size(64)));
};
template <>
struct VecOf<double> {
  typedef double type __attribute__((vector_size(64)));
};
template <class T>
using Vec = typename VecOf<T>::type;
template <class T>
[[gnu::always_inline]] inline Vec<T> load(const T* p) {
  Vec<T> v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
[[gnu::always_inline]] inline void store(T* p, const Vec<T>& v) {
  __builtin_memcpy(p, &v, sizeof v);
}
template <class T>
constexpr int64_t kVec = int64_t(64 / sizeof(T));  // lanes of Vec<T>

constexpr int64_t kBlock = 4;  // output (forward) or input (data adjoint) channels per pass

// y planes (n, o0 .. o0 + B) = sum over c, ky, kx of w[o, c, ky, kx] * the padded input shifted: B
// vectors of outputs stay in registers while every tap adds to them, each input vector loaded
// once for the B channels. Per output element the sum runs over c, then ky, kx.
template <int B, class T>
[[gnu::always_inline]] inline void forward_block(const Conv2dGeom& g, const Flat& f, const T* __restrict xp,
                                                 const T* __restrict w, T* __restrict yf, T* __restrict y) {
  const int64_t taps = g.kh * g.kw, per_out = g.c * taps;
  const int64_t* sh = f.shifts;
  for (int64_t i = 0; i < f.len; i += kVec<T>) {
    Vec<T> acc[B] = {};
    for (int64_t c = 0; c < g.c; ++c) {
      const T* xc = xp + c * f.stride + i;
      const T* wc = w + c * taps;
      for (int64_t t = 0; t < taps; ++t) {
        const Vec<T> xv = load(xc + sh[t]);
        for (int b = 0; b < B; ++b) acc[b] += wc[b * per_out + t] * xv;
      }
    }
    for (int b = 0; b < B; ++b) store(yf + b * f.len + i, acc[b]);
  }
  for (int b = 0; b < B; ++b)
    for (int64_t oy = 0; oy < g.oh; ++oy)
      std::copy(yf + b * f.len + oy * f.wp, yf + b * f.len + oy * f.wp + g.ow, y + (b * g.oh + oy) * g.ow);
}

// dx planes (n, c0 .. c0 + B) = sum over o, ky, kx of w[o, c, ky, kx] * dy shifted back: gathered a
// vector at a time from dy planes in padded rows (zero past ow) with f.front zeros before each,
// each dy vector loaded once for the B channels. Per element the sum runs over o, then ky, kx.
template <int B, class T>
[[gnu::always_inline]] inline void data_block(const Conv2dGeom& g, const Flat& f, int64_t outs, int64_t c0,
                                              const T* __restrict dyf, const T* __restrict w, T* __restrict xf,
                                              T* __restrict dx) {
  const int64_t taps = g.kh * g.kw;
  const int64_t* sh = f.shifts;
  for (int64_t i = 0; i < f.stride; i += kVec<T>) {
    Vec<T> acc[B] = {};
    for (int64_t o = 0; o < outs; ++o) {
      const T* d = dyf + o * f.dlen + f.front + i;
      const T* wo = w + (o * g.c + c0) * taps;
      for (int64_t t = 0; t < taps; ++t) {
        const Vec<T> dv = load(d - sh[t]);
        for (int b = 0; b < B; ++b) acc[b] += wo[b * taps + t] * dv;
      }
    }
    for (int b = 0; b < B; ++b) store(xf + b * f.stride + i, acc[b]);
  }
  for (int b = 0; b < B; ++b)
    for (int64_t y = 0; y < g.h; ++y)
      std::copy(xf + b * f.stride + (y + g.ph) * f.wp + g.pw, xf + b * f.stride + (y + g.ph) * f.wp + g.pw + g.w,
                dx + (b * g.h + y) * g.w);
}

// dw[o0 .. o0 + B, c, :, :]: per tap, a vector of partial dot products of dy (padded rows, zero
// past ow) with the padded input shifted, over the images (one image's planes stay in L1 for all
// taps; each input vector loaded once for the B channels); then each tap's lanes summed in order.
template <int B, class T>
[[gnu::always_inline]] inline void filter_block(const Conv2dGeom& g, const Flat& f, int64_t outs, int64_t o0,
                                                int64_t c, const T* __restrict xp, const T* __restrict dyf,
                                                T* __restrict acc, T* __restrict dw) {
  const int64_t taps = g.kh * g.kw;
  const int64_t* sh = f.shifts;
  std::fill(acc, acc + B * taps * kVec<T>, T(0));
  for (int64_t n = 0; n < g.n; ++n) {
    const T* x = xp + (n * g.c + c) * f.stride;
    const T* d = dyf + (n * outs + o0) * f.dlen + f.front;
    for (int64_t t = 0; t < taps; ++t) {
      const T* xs = x + sh[t];
      Vec<T> a[B];
      for (int b = 0; b < B; ++b) a[b] = load(acc + (b * taps + t) * kVec<T>);
      for (int64_t i = 0; i < f.len; i += kVec<T>) {
        const Vec<T> xv = load(xs + i);
        for (int b = 0; b < B; ++b) a[b] += load(d + b * f.dlen + i) * xv;
      }
      for (int b = 0; b < B; ++b) store(acc + (b * taps + t) * kVec<T>, a[b]);
    }
  }
  for (int b = 0; b < B; ++b)
    for (int64_t t = 0; t < taps; ++t) {
      T s = 0;
      for (int64_t j = 0; j < kVec<T>; ++j) s += acc[(b * taps + t) * kVec<T> + j];
      dw[((o0 + b) * g.c + c) * taps + t] = s;
    }
}

// The plane loops per instruction set: the always_inline bodies above compile into each. Each
// loop walks its channels in blocks of kBlock, then 2, then 1; that walk is written out in all
// three rather than shared through a lambda, because a lambda does not inherit the enclosing
// function's target attribute, so the blocks would compile for the baseline (or fail to inline).
#define METALOSS_CONV_LOOPS(ATTR, SUFFIX)                                                                          \
  template <class T>                                                                                               \
  ATTR void forward##SUFFIX(const Conv2dGeom& g, const Flat& f, int64_t outs, const T* xp, const T* w, T* y,        \
                            int64_t b, int64_t e) {                                                                \
    T* yf = scratch<T>(2, kBlock * f.len);                                                                         \
    const int64_t blocks = (outs + kBlock - 1) / kBlock;                                                           \
    for (int64_t p = b; p < e; ++p) {                                                                              \
      const int64_t n = p / blocks, o0 = p % blocks * kBlock;                                                      \
      const T* x = xp + n * g.c * f.stride;                                                                        \
      if (o0 + kBlock <= outs)                                                                                     \
        forward_block<kBlock>(g, f, x, w + o0 * g.c * g.kh * g.kw, yf, y + (n * outs + o0) * g.oh * g.ow);        \
      else                                                                                                         \
        for (int64_t o = o0; o < outs;) {                                                                          \
          const T* wo = w + o * g.c * g.kh * g.kw;                                                                 \
          T* yo = y + (n * outs + o) * g.oh * g.ow;                                                                \
          if (o + 2 <= outs) forward_block<2>(g, f, x, wo, yf, yo), o += 2;                                        \
          else forward_block<1>(g, f, x, wo, yf, yo), o += 1;                                                      \
        }                                                                                                          \
    }                                                                                                              \
  }                                                                                                                \
  template <class T>                                                                                               \
  ATTR void data##SUFFIX(const Conv2dGeom& g, const Flat& f, int64_t outs, const T* dyf, const T* w, T* dx,        \
                         int64_t b, int64_t e) {                                                                   \
    T* xf = scratch<T>(2, kBlock * f.stride);                                                                      \
    const int64_t blocks = (g.c + kBlock - 1) / kBlock;                                                            \
    for (int64_t p = b; p < e; ++p) {                                                                              \
      const int64_t n = p / blocks, c0 = p % blocks * kBlock;                                                      \
      const T* d = dyf + n * outs * f.dlen;                                                                        \
      if (c0 + kBlock <= g.c)                                                                                      \
        data_block<kBlock>(g, f, outs, c0, d, w, xf, dx + (n * g.c + c0) * g.h * g.w);                            \
      else                                                                                                         \
        for (int64_t c = c0; c < g.c;) {                                                                           \
          T* dxc = dx + (n * g.c + c) * g.h * g.w;                                                                 \
          if (c + 2 <= g.c) data_block<2>(g, f, outs, c, d, w, xf, dxc), c += 2;                                   \
          else data_block<1>(g, f, outs, c, d, w, xf, dxc), c += 1;                                                \
        }                                                                                                          \
    }                                                                                                              \
  }                                                                                                                \
  template <class T>                                                                                               \
  ATTR void filter##SUFFIX(const Conv2dGeom& g, const Flat& f, int64_t outs, const T* xp, const T* dyf, T* dw,     \
                           int64_t b, int64_t e) {                                                                 \
    T* acc = scratch<T>(2, kBlock * g.kh * g.kw * kVec<T>);                                                        \
    for (int64_t p = b; p < e; ++p) {                                                                              \
      const int64_t o0 = p / g.c * kBlock, c = p % g.c;                                                            \
      if (o0 + kBlock <= outs) filter_block<kBlock>(g, f, outs, o0, c, xp, dyf, acc, dw);                          \
      else                                                                                                         \
        for (int64_t o = o0; o < outs;) {                                                                          \
          if (o + 2 <= outs) filter_block<2>(g, f, outs, o, c, xp, dyf, acc, dw), o += 2;                          \
          else filter_block<1>(g, f, outs, o, c, xp, dyf, acc, dw), o += 1;                                        \
        }                                                                                                          \
    }                                                                                                              \
  }
METALOSS_CONV_LOOPS(, _base)
#if defined(__x86_64__) && defined(__GNUC__)
METALOSS_CONV_LOOPS(__attribute__((target("avx2,fma"))), _avx2)
METALOSS_CONV_LOOPS(__attribute__((target("avx512f,avx512vl,avx2,fma"))), _avx512)
enum class Isa { Base, Avx2, Avx512 };
Isa isa() {
  static const Isa i = [] {
    if (std::getenv("METALOSS_NO_AVX2")) return Isa::Base;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) return Isa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
    return Isa::Base;
  }();
  return i;
}
#define METALOSS_CONV_CALL(NAME, ...)                    \
  switch (isa()) {                                       \
    case Isa::Avx512: NAME##_avx512(__VA_ARGS__); break; \
    case Isa::Avx2: NAME##_avx2(__VA_ARGS__); break;     \
    case Isa::Base: NAME##_base(__VA_ARGS__); break;     \
  }
#else
#define METALOSS_CONV_CALL(NAME, ...) NAME##_base(__VA_ARGS__)
#endif
#undef METALOSS_CONV_LOOPS

template <class F>
void on_float(const char* kernel, DType t, const Conv2dGeom& g, F&& f) {
  if (g.sh != 1 || g.sw != 1)
    throw std::invalid_argument(std::string("kernel ") + kernel + ": stride 1 only (got " + std::to_string(g.sh) + "x" +
                                std::to_string(g.sw) + "); larger strides go through im2col");
  if (t == DType::Float32) f(float{});
  else if (t == DType::Float64) f(double{});
  else throw std::invalid_argument(std::string("kernel ") + kernel + ": unsupported dtype " + dtype_name(t));
}

// dy [n * outs, oh, ow] -> planes of f.dlen values: f.front zeros, then the rows at the padded
// width (zero past ow), then zeros.
template <class T>
const T* pad_gradient(const Conv2dGeom& g, const Flat& f, int64_t outs, const T* dy) {
  T* dyf = scratch<T>(1, g.n * outs * f.dlen);
  parallel_for(g.n * outs, f.dlen, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      std::fill(dyf + p * f.dlen, dyf + (p + 1) * f.dlen, T(0));
      for (int64_t oy = 0; oy < g.oh; ++oy)
        std::copy(dy + (p * g.oh + oy) * g.ow, dy + (p * g.oh + oy + 1) * g.ow, dyf + p * f.dlen + f.front + oy * f.wp);
    }
  });
  return dyf;
}

}  // namespace

void direct_conv2d_forward(DType t, const Conv2dGeom& g, int64_t outs, const void* x, const void* w, void* y) {
  on_float("direct_conv2d_forward", t, g, [&](auto z) {
    using T = decltype(z);
    const Flat f(g);
    T* xp = scratch<T>(0, g.n * g.c * f.stride);
    pad_planes(g, f, static_cast<const T*>(x), xp, g.n * g.c);
    const int64_t blocks = (outs + kBlock - 1) / kBlock;
    parallel_for(g.n * blocks, kBlock * f.len * g.c * g.kh * g.kw, [&](int64_t b, int64_t e) {
      METALOSS_CONV_CALL(forward, g, f, outs, xp, static_cast<const T*>(w), static_cast<T*>(y), b, e);
    });
  });
}

void direct_conv2d_backward_data(DType t, const Conv2dGeom& g, int64_t outs, const void* dy, const void* w, void* dx) {
  on_float("direct_conv2d_backward_data", t, g, [&](auto z) {
    using T = decltype(z);
    const Flat f(g);
    const T* dyf = pad_gradient(g, f, outs, static_cast<const T*>(dy));
    const int64_t blocks = (g.c + kBlock - 1) / kBlock;
    parallel_for(g.n * blocks, kBlock * f.stride * outs * g.kh * g.kw, [&](int64_t b, int64_t e) {
      METALOSS_CONV_CALL(data, g, f, outs, dyf, static_cast<const T*>(w), static_cast<T*>(dx), b, e);
    });
  });
}

void direct_conv2d_backward_filter(DType t, const Conv2dGeom& g, int64_t outs, const void* x, const void* dy, void* dw) {
  on_float("direct_conv2d_backward_filter", t, g, [&](auto z) {
    using T = decltype(z);
    const Flat f(g);
    T* xp = scratch<T>(0, g.n * g.c * f.stride);
    pad_planes(g, f, static_cast<const T*>(x), xp, g.n * g.c);
    const T* dyf = pad_gradient(g, f, outs, static_cast<const T*>(dy));
    const int64_t blocks = (outs + kBlock - 1) / kBlock;
    parallel_for(blocks * g.c, kBlock * g.n * f.len * g.kh * g.kw, [&](int64_t b, int64_t e) {
      METALOSS_CONV_CALL(filter, g, f, outs, xp, dyf, static_cast<T*>(dw), b, e);
    });
  });
}

}  // namespace metaloss::kernels::cpu
