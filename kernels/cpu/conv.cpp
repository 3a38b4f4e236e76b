// im2col / col2im for convolution, and 2-d pooling kernels.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/strided_loop.h"
#include "kernels/profiler.h"

namespace metaloss::kernels {
namespace {

[[noreturn]] void bad_dtype(const char* k, DType t) {
  throw std::invalid_argument(std::string("kernel ") + k + ": unsupported dtype " + dtype_name(t));
}
template <class F>
void float_dispatch(const char* k, DType t, F&& f) {
  if (t == DType::Float32) f(float{});
  else if (t == DType::Float64) f(double{});
  else bad_dtype(k, t);
}

// The output columns ox whose input column ix = ox * stride + off (off = kx * dilation - pad) lies
// inside [0, w): a contiguous range [lo, hi), so the inner loops run without bounds tests and,
// at stride 1, as a row copy.
struct ValidRange {
  int64_t lo, hi;
};
inline ValidRange valid_range(int64_t off, int64_t stride, int64_t w, int64_t ow) {
  int64_t lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  int64_t hi = w - 1 - off < 0 ? 0 : (w - 1 - off) / stride + 1;
  hi = std::min(hi, ow);
  lo = std::min(lo, hi);
  return {lo, hi};
}

// Rows of the column matrix are (channel, ky, kx); columns are output positions.
template <class T, bool kToCols>
void im2col_impl(const Conv2dGeom& g, T* img, T* cols) {
  const int64_t L = g.oh * g.ow, rows = g.c * g.kh * g.kw;
  if constexpr (kToCols) parallel_for(g.n * rows, L, [&](int64_t b, int64_t e) {
    for (int64_t nr = b; nr < e; ++nr) {
      const int64_t n = nr / rows, r = nr % rows;
      const int64_t c = r / (g.kh * g.kw), ky = (r / g.kw) % g.kh, kx = r % g.kw;
      const T* plane = img + (n * g.c + c) * g.h * g.w;
      T* col = cols + (g.k_major ? r * g.n + n : n * rows + r) * L;
      const int64_t off = kx * g.dw - g.pw;
      const auto [lo, hi] = valid_range(off, g.sw, g.w, g.ow);
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        const int64_t iy = oy * g.sh - g.ph + ky * g.dh;
        T* crow = col + oy * g.ow;
        if (iy < 0 || iy >= g.h) {
          std::fill(crow, crow + g.ow, T(0));
          continue;
        }
        const T* irow = plane + iy * g.w;  // input column of ox: ox * sw + off (never negative in [lo, hi))
        std::fill(crow, crow + lo, T(0));
        if (g.sw == 1) {
          std::copy(irow + (lo + off), irow + (hi + off), crow + lo);
        } else {
          for (int64_t ox = lo; ox < hi; ++ox) crow[ox] = irow[ox * g.sw + off];
        }
        std::fill(crow + hi, crow + g.ow, T(0));
      }
    }
  });
  else {
    // col2im scatters into shared pixels: parallelise over (image, channel) planes only.
    parallel_for(g.n * g.c, rows / g.c * L, [&](int64_t b, int64_t e) {
      for (int64_t nc = b; nc < e; ++nc) {
        const int64_t n = nc / g.c, c = nc % g.c;
        T* plane = img + nc * g.h * g.w;
        std::fill(plane, plane + g.h * g.w, T(0));
        for (int64_t ky = 0; ky < g.kh; ++ky)
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t r = (c * g.kh + ky) * g.kw + kx;
            const T* col = cols + (g.k_major ? r * g.n + n : n * rows + r) * L;
            const int64_t off = kx * g.dw - g.pw;
            const auto [lo, hi] = valid_range(off, g.sw, g.w, g.ow);
            for (int64_t oy = 0; oy < g.oh; ++oy) {
              const int64_t iy = oy * g.sh - g.ph + ky * g.dh;
              if (iy < 0 || iy >= g.h) continue;
              T* prow = plane + iy * g.w;
              const T* crow = col + oy * g.ow;
              if (g.sw == 1) {
                for (int64_t ox = lo; ox < hi; ++ox) prow[ox + off] += crow[ox];
              } else {
                for (int64_t ox = lo; ox < hi; ++ox) prow[ox * g.sw + off] += crow[ox];
              }
            }
          }
      }
    });
  }
}

}  // namespace

namespace cpu {

void im2col(DType t, const Conv2dGeom& g, const void* x, void* cols) {
  METALOSS_PROFILE_SCOPE("im2col", "kernel", double((g.n * g.c * g.h * g.w + g.n * g.c * g.kh * g.kw * g.oh * g.ow) * int64_t(dtype_size(t))));
  float_dispatch("im2col", t, [&](auto v) {
    using T = decltype(v);
    im2col_impl<T, true>(g, const_cast<T*>(static_cast<const T*>(x)), static_cast<T*>(cols));
  });
}
void col2im(DType t, const Conv2dGeom& g, const void* cols, void* x) {
  METALOSS_PROFILE_SCOPE("col2im", "kernel", double((g.n * g.c * g.h * g.w + g.n * g.c * g.kh * g.kw * g.oh * g.ow) * int64_t(dtype_size(t))));
  float_dispatch("col2im", t, [&](auto v) {
    using T = decltype(v);
    im2col_impl<T, false>(g, static_cast<T*>(x), const_cast<T*>(static_cast<const T*>(cols)));
  });
}

void max_pool2d_indices(DType t, const Pool2dGeom& g, const void* x, int64_t* idx) {
  float_dispatch("max_pool2d", t, [&](auto v) {
    using T = decltype(v);
    const T* xp = static_cast<const T*>(x);
    parallel_for(g.planes, g.oh * g.ow * g.kh * g.kw, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        const T* plane = xp + p * g.h * g.w;
        int64_t* out = idx + p * g.oh * g.ow;
        for (int64_t oy = 0; oy < g.oh; ++oy)
          for (int64_t ox = 0; ox < g.ow; ++ox) {
            T best = -std::numeric_limits<T>::infinity();
            int64_t arg = -1;
            for (int64_t ky = 0; ky < g.kh; ++ky) {
              const int64_t iy = oy * g.sh - g.ph + ky;
              if (iy < 0 || iy >= g.h) continue;
              for (int64_t kx = 0; kx < g.kw; ++kx) {
                const int64_t ix = ox * g.sw - g.pw + kx;
                if (ix < 0 || ix >= g.w) continue;
                const T val = plane[iy * g.w + ix];
                if (arg < 0 || val > best || std::isnan(val)) {  // first maximum wins, NaN propagates
                  best = val;
                  arg = iy * g.w + ix;
                  if (std::isnan(val)) goto done;
                }
              }
            }
          done:
            out[oy * g.ow + ox] = arg;
          }
      }
    });
  });
}

namespace {
struct Window {
  int64_t y0, y1, x0, x1;
  double inv;  // 1 / (number of elements the average divides by)
};

// Average pooling over the windows that `window(oy, ox)` gives; backward spreads each output
// gradient evenly over its window (the adjoint of the forward).
template <class T, bool kBackward, class W>
void pool_windows(const Pool2dGeom& g, const T* in, T* out, W window) {
  parallel_for(g.planes, g.oh * g.ow * std::max<int64_t>(g.kh * g.kw, 4), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      if constexpr (kBackward) std::fill(out + p * g.h * g.w, out + (p + 1) * g.h * g.w, T(0));
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const Window w = window(oy, ox);
          if constexpr (kBackward) {
            const T gv = in[(p * g.oh + oy) * g.ow + ox] * T(w.inv);
            for (int64_t y = w.y0; y < w.y1; ++y)
              for (int64_t x = w.x0; x < w.x1; ++x) out[(p * g.h + y) * g.w + x] += gv;
          } else {
            T s = 0;
            for (int64_t y = w.y0; y < w.y1; ++y)
              for (int64_t x = w.x0; x < w.x1; ++x) s += in[(p * g.h + y) * g.w + x];
            out[(p * g.oh + oy) * g.ow + ox] = s * T(w.inv);
          }
        }
    }
  });
}

template <class T, bool kBackward>
void avg_pool_impl(const Pool2dGeom& g, const T* in, T* out) {
  const double inv = 1.0 / double(g.kh * g.kw);  // count_include_pad = true, as PyTorch's default
  if (g.ph == 0 && g.pw == 0 && g.kh == g.sh && g.kw == g.sw) {
    // Non-overlapping windows without padding (LeNet's 2x2): plain pointer walks, no window
    // bounds per output. The sum runs over the window in the same order as the general path.
    const T tinv = T(inv);
    parallel_for(g.planes, g.oh * g.ow * g.kh * g.kw, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        if constexpr (kBackward) {
          T* plane = out + p * g.h * g.w;
          std::fill(plane, plane + g.h * g.w, T(0));  // rows/cols past the last window stay 0
          for (int64_t oy = 0; oy < g.oh; ++oy) {
            const T* grow = in + (p * g.oh + oy) * g.ow;
            for (int64_t ky = 0; ky < g.kh; ++ky) {
              T* orow = plane + (oy * g.kh + ky) * g.w;
              for (int64_t ox = 0; ox < g.ow; ++ox) {
                const T gv = grow[ox] * tinv;
                for (int64_t kx = 0; kx < g.kw; ++kx) orow[ox * g.kw + kx] = gv;
              }
            }
          }
        } else {
          const T* plane = in + p * g.h * g.w;
          for (int64_t oy = 0; oy < g.oh; ++oy) {
            T* orow = out + (p * g.oh + oy) * g.ow;
            const T* top = plane + oy * g.kh * g.w;
            for (int64_t ox = 0; ox < g.ow; ++ox) {
              T sum = 0;
              for (int64_t ky = 0; ky < g.kh; ++ky)
                for (int64_t kx = 0; kx < g.kw; ++kx) sum += top[ky * g.w + ox * g.kw + kx];
              orow[ox] = sum * tinv;
            }
          }
        }
      }
    });
    return;
  }
  pool_windows<T, kBackward>(g, in, out, [&](int64_t oy, int64_t ox) {
    return Window{std::max<int64_t>(oy * g.sh - g.ph, 0), std::min(oy * g.sh - g.ph + g.kh, g.h),
                  std::max<int64_t>(ox * g.sw - g.pw, 0), std::min(ox * g.sw - g.pw + g.kw, g.w), inv};
  });
}

// Adaptive pooling window of output i over an input of n: [floor(i*n/o), ceil((i+1)*n/o)).
template <class T, bool kBackward>
void adaptive_avg_impl(const Pool2dGeom& g, const T* in, T* out) {
  pool_windows<T, kBackward>(g, in, out, [&](int64_t oy, int64_t ox) {
    Window w{(oy * g.h) / g.oh, ((oy + 1) * g.h + g.oh - 1) / g.oh, (ox * g.w) / g.ow, ((ox + 1) * g.w + g.ow - 1) / g.ow, 0};
    w.inv = 1.0 / double((w.y1 - w.y0) * (w.x1 - w.x0));
    return w;
  });
}
}  // namespace

#define POOL_ENTRY(name, impl, back)                                                        \
  void name(DType t, const Pool2dGeom& g, const void* in, void* out) {                      \
    float_dispatch(#name, t, [&](auto v) {                                                  \
      using T = decltype(v);                                                                \
      impl<T, back>(g, static_cast<const T*>(in), static_cast<T*>(out));                    \
    });                                                                                     \
  }
POOL_ENTRY(avg_pool2d, avg_pool_impl, false)
POOL_ENTRY(avg_pool2d_backward, avg_pool_impl, true)
POOL_ENTRY(adaptive_avg_pool2d, adaptive_avg_impl, false)
POOL_ENTRY(adaptive_avg_pool2d_backward, adaptive_avg_impl, true)
#undef POOL_ENTRY

}  // namespace cpu
}  // namespace metaloss::kernels
