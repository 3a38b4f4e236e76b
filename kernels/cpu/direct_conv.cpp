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

// y plane (n, o) = sum over c, ky, kx of w[o, c, ky, kx] * the padded input shifted: one vector
// of outputs at a time stays in a register while every tap adds to it.
template <class T>
[[gnu::always_inline]] inline void forward_plane(const Conv2dGeom& g, const Flat& f, const T* __restrict xp,
                                                 const T* __restrict w, T* __restrict yf, T* __restrict y) {
  const int64_t taps = g.kh * g.kw;
  const int64_t* sh = f.shifts;
  for (int64_t i = 0; i < f.len; i += kVec<T>) {
    Vec<T> acc = {};
    for (int64_t c = 0; c < g.c; ++c) {
      const T* xc = xp + c * f.stride + i;
      for (int64_t t = 0; t < taps; ++t) acc += w[c * taps + t] * load(xc + sh[t]);
    }
    store(yf + i, acc);
  }
  for (int64_t oy = 0; oy < g.oh; ++oy) std::copy(yf + oy * f.wp, yf + oy * f.wp + g.ow, y + oy * g.ow);
}

// dx plane (n, c) = sum over o, ky, kx of w[o, c, ky, kx] * dy shifted back: gathered a vector at a
// time from dy planes in padded rows (zero past ow) with f.front zeros before each.
template <class T>
[[gnu::always_inline]] inline void data_plane(const Conv2dGeom& g, const Flat& f, int64_t outs, int64_t c,
                                              const T* __restrict dyf, const T* __restrict w, T* __restrict xf,
                                              T* __restrict dx) {
  const int64_t taps = g.kh * g.kw;
  const int64_t* sh = f.shifts;
  for (int64_t i = 0; i < f.stride; i += kVec<T>) {
    Vec<T> acc = {};
    for (int64_t o = 0; o < outs; ++o) {
      const T* d = dyf + o * f.dlen + f.front + i;
      for (int64_t t = 0; t < taps; ++t)
        acc += w[(o * g.c + c) * taps + t] * load(d - sh[t]);
    }
    store(xf + i, acc);
  }
  for (int64_t y = 0; y < g.h; ++y)
    std::copy(xf + (y + g.ph) * f.wp + g.pw, xf + (y + g.ph) * f.wp + g.pw + g.w, dx + y * g.w);
}

// dw[o, c, :, :]: per tap, a vector of partial dot products of dy (padded rows, zero past ow) with
// the padded input shifted, over the images (one image's planes stay in L1 for all taps); then
// each tap's lanes summed in order.
template <class T>
[[gnu::always_inline]] inline void filter_pair(const Conv2dGeom& g, const Flat& f, int64_t outs, int64_t o, int64_t c,
                                               const T* __restrict xp, const T* __restrict dyf, T* __restrict acc,
                                               T* __restrict dw) {
  const int64_t taps = g.kh * g.kw;
  const int64_t* sh = f.shifts;
  std::fill(acc, acc + taps * kVec<T>, T(0));
  for (int64_t n = 0; n < g.n; ++n) {
    const T* x = xp + (n * g.c + c) * f.stride;
    const T* d = dyf + (n * outs + o) * f.dlen + f.front;
    for (int64_t t = 0; t < taps; ++t) {
      const T* xs = x + sh[t];
      Vec<T> a = load(acc + t * kVec<T>);
      for (int64_t i = 0; i < f.len; i += kVec<T>) a += load(d + i) * load(xs + i);
      store(acc + t * kVec<T>, a);
    }
  }
  for (int64_t t = 0; t < taps; ++t) {
    T s = 0;
    for (int64_t j = 0; j < kVec<T>; ++j) s += acc[t * kVec<T> + j];
    dw[(o * g.c + c) * taps + t] = s;
  }
}

// The plane loops per instruction set: the always_inline bodies above compile into each.
#define METALOSS_CONV_LOOPS(ATTR, SUFFIX)                                                                          \
  template <class T>                                                                                               \
  ATTR void forward##SUFFIX(const Conv2dGeom& g, const Flat& f, int64_t outs, const T* xp, const T* w, T* y,        \
                            int64_t b, int64_t e) {                                                                \
    T* yf = scratch<T>(2, f.len);                                                                                  \
    for (int64_t p = b; p < e; ++p) {                                                                              \
      const int64_t n = p / outs, o = p % outs;                                                                    \
      forward_plane(g, f, xp + n * g.c * f.stride, w + o * g.c * g.kh * g.kw, yf, y + p * g.oh * g.ow);            \
    }                                                                                                              \
  }                                                                                                                \
  template <class T>                                                                                               \
  ATTR void data##SUFFIX(const Conv2dGeom& g, const Flat& f, int64_t outs, const T* dyf, const T* w, T* dx,        \
                         int64_t b, int64_t e) {                                                                   \
    T* xf = scratch<T>(2, f.stride);                                                                               \
    for (int64_t p = b; p < e; ++p) {                                                                              \
      const int64_t n = p / g.c, c = p % g.c;                                                                      \
      data_plane(g, f, outs, c, dyf + n * outs * f.dlen, w, xf, dx + p * g.h * g.w);                              \
    }                                                                                                              \
  }                                                                                                                \
  template <class T>                                                                                               \
  ATTR void filter##SUFFIX(const Conv2dGeom& g, const Flat& f, int64_t outs, const T* xp, const T* dyf, T* dw,     \
                           int64_t b, int64_t e) {                                                                 \
    T* acc = scratch<T>(2, g.kh * g.kw * kVec<T>);                                                                 \
    for (int64_t p = b; p < e; ++p) filter_pair(g, f, outs, p / g.c, p % g.c, xp, dyf, acc, dw);                  \
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
    parallel_for(g.n * outs, f.len * g.c * g.kh * g.kw, [&](int64_t b, int64_t e) {
      METALOSS_CONV_CALL(forward, g, f, outs, xp, static_cast<const T*>(w), static_cast<T*>(y), b, e);
    });
  });
}

void direct_conv2d_backward_data(DType t, const Conv2dGeom& g, int64_t outs, const void* dy, const void* w, void* dx) {
  on_float("direct_conv2d_backward_data", t, g, [&](auto z) {
    using T = decltype(z);
    const Flat f(g);
    const T* dyf = pad_gradient(g, f, outs, static_cast<const T*>(dy));
    parallel_for(g.n * g.c, f.len * outs * g.kh * g.kw, [&](int64_t b, int64_t e) {
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
    parallel_for(outs * g.c, g.n * f.len * g.kh * g.kw, [&](int64_t b, int64_t e) {
      METALOSS_CONV_CALL(filter, g, f, outs, xp, dyf, static_cast<T*>(dw), b, e);
    });
  });
}

}  // namespace metaloss::kernels::cpu
