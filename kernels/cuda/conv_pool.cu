// im2col / col2im for convolution and 2-d pooling on the GPU; same semantics as
// kernels/cpu/conv.cpp. Every kernel is a gather: one thread per output element (per image
// element for col2im and the pool backwards), so no atomics are needed and the additions happen
// in the CPU reference's order, which makes the results bit-identical to the CPU's (products go
// through mul_rn/add_rn so that nvcc cannot fuse them into FMAs the CPU does not use).
// The per-element functions are __host__ __device__ so that they can be checked on a host.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace metaloss::kernels::cuda {
namespace {

constexpr int kThreads = 256;

[[noreturn]] void bad_dtype(const char* k, DType t) {
  throw std::invalid_argument(std::string("kernel ") + k + ": unsupported dtype " + dtype_name(t));
}
// f(float{}) or f(double{}); other dtypes throw like the CPU kernels.
template <class F>
void float_dispatch(const char* k, DType t, F&& f) {
  if (t == DType::Float32) f(float{});
  else if (t == DType::Float64) f(double{});
  else bad_dtype(k, t);
}

__host__ __device__ inline float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
__host__ __device__ inline double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
__host__ __device__ inline float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
__host__ __device__ inline double add_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

// ---- im2col / col2im ---------------------------------------------------------------------------
// Column rows are r = (channel, ky, kx); columns are output positions l = (oy, ox). The column
// element of (image n, row r) starts at (k_major ? r * N + n : n * rows + r) * L.

// Column element k (linear index into the column buffer).
template <class T>
__host__ __device__ inline T im2col_at(const Conv2dGeom& g, const T* img, int64_t k) {
  const int64_t L = g.oh * g.ow, rows = g.c * g.kh * g.kw;
  const int64_t l = k % L, rest = k / L;
  const int64_t n = g.k_major ? rest % g.n : rest / rows;
  const int64_t r = g.k_major ? rest / g.n : rest % rows;
  const int64_t c = r / (g.kh * g.kw), ky = (r / g.kw) % g.kh, kx = r % g.kw;
  const int64_t oy = l / g.ow, ox = l % g.ow;
  const int64_t iy = oy * g.sh - g.ph + ky * g.dh, ix = ox * g.sw - g.pw + kx * g.dw;
  if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) return T(0);
  return img[((n * g.c + c) * g.h + iy) * g.w + ix];
}

// Image element k = ((n * c + ch) * h + y) * w + x: the sum of every column entry that im2col
// would copy from it. The CPU adds them into a zeroed image in (ky, kx) order (each (ky, kx) hits
// a pixel at most once), so the same loop order gives the same rounding.
template <class T>
__host__ __device__ inline T col2im_at(const Conv2dGeom& g, const T* cols, int64_t k) {
  const int64_t L = g.oh * g.ow, rows = g.c * g.kh * g.kw;
  const int64_t x = k % g.w, y = (k / g.w) % g.h, nc = k / (g.h * g.w);
  const int64_t n = nc / g.c, ch = nc % g.c;
  T acc = T(0);
  for (int64_t ky = 0; ky < g.kh; ++ky) {
    const int64_t ty = y + g.ph - ky * g.dh;  // = oy * sh for the output row that reads y
    if (ty < 0 || ty % g.sh != 0) continue;
    const int64_t oy = ty / g.sh;
    if (oy >= g.oh) continue;
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const int64_t tx = x + g.pw - kx * g.dw;
      if (tx < 0 || tx % g.sw != 0) continue;
      const int64_t ox = tx / g.sw;
      if (ox >= g.ow) continue;
      const int64_t r = (ch * g.kh + ky) * g.kw + kx;
      acc = add_rn(acc, cols[(g.k_major ? r * g.n + n : n * rows + r) * L + oy * g.ow + ox]);
    }
  }
  return acc;
}

// ---- pooling -------------------------------------------------------------------------------------
// Outputs are [planes, oh, ow]; k = (p * oh + oy) * ow + ox. Inputs are [planes, h, w].

// Index within the plane (iy * w + ix) of the first maximum of the window, -1 when the window
// lies entirely in the padding; the first NaN wins and ends the search (NaN propagates).
template <class T>
__host__ __device__ inline int64_t max_pool_at(const Pool2dGeom& g, const T* x, int64_t k) {
  const int64_t ox = k % g.ow, oy = (k / g.ow) % g.oh, p = k / (g.oh * g.ow);
  const T* plane = x + p * g.h * g.w;
  T best = T(0);  // only read once arg >= 0
  int64_t arg = -1;
  for (int64_t ky = 0; ky < g.kh; ++ky) {
    const int64_t iy = oy * g.sh - g.ph + ky;
    if (iy < 0 || iy >= g.h) continue;
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const int64_t ix = ox * g.sw - g.pw + kx;
      if (ix < 0 || ix >= g.w) continue;
      const T val = plane[iy * g.w + ix];
      const bool nan = val != val;
      if (arg < 0 || val > best || nan) {
        best = val;
        arg = iy * g.w + ix;
        if (nan) return arg;
      }
    }
  }
  return arg;
}

// avg_pool2d window of output (oy, ox): clipped to the image, divisor always kh * kw
// (count_include_pad), as on the CPU.
struct Win {
  int64_t y0, y1, x0, x1;
};
__host__ __device__ inline Win avg_window(const Pool2dGeom& g, int64_t oy, int64_t ox) {
  const int64_t ys = oy * g.sh - g.ph, xs = ox * g.sw - g.pw;
  return {ys > 0 ? ys : 0, ys + g.kh < g.h ? ys + g.kh : g.h, xs > 0 ? xs : 0, xs + g.kw < g.w ? xs + g.kw : g.w};
}
// Adaptive window of output i over an input of n: [floor(i*n/o), ceil((i+1)*n/o)).
__host__ __device__ inline Win adaptive_window(const Pool2dGeom& g, int64_t oy, int64_t ox) {
  return {(oy * g.h) / g.oh, ((oy + 1) * g.h + g.oh - 1) / g.oh, (ox * g.w) / g.ow, ((ox + 1) * g.w + g.ow - 1) / g.ow};
}
__host__ __device__ inline double adaptive_inv(const Win& w) { return 1.0 / double((w.y1 - w.y0) * (w.x1 - w.x0)); }

// Window sum in row-major order, times the inverse divisor: the CPU's formula.
template <class T>
__host__ __device__ inline T window_mean(const Pool2dGeom& g, const T* x, int64_t p, const Win& w, T inv) {
  T s = T(0);
  for (int64_t y = w.y0; y < w.y1; ++y)
    for (int64_t xx = w.x0; xx < w.x1; ++xx) s = add_rn(s, x[(p * g.h + y) * g.w + xx]);
  return mul_rn(s, inv);
}

template <class T>
__host__ __device__ inline T avg_pool_at(const Pool2dGeom& g, const T* x, int64_t k, T inv) {
  const int64_t ox = k % g.ow, oy = (k / g.ow) % g.oh, p = k / (g.oh * g.ow);
  return window_mean(g, x, p, avg_window(g, oy, ox), inv);
}
template <class T>
__host__ __device__ inline T adaptive_pool_at(const Pool2dGeom& g, const T* x, int64_t k) {
  const int64_t ox = k % g.ow, oy = (k / g.ow) % g.oh, p = k / (g.oh * g.ow);
  const Win w = adaptive_window(g, oy, ox);
  return window_mean(g, x, p, w, T(adaptive_inv(w)));
}

// Gradient of input element k = (p * h + y) * w + x: the sum over the windows containing it of
// gout * (1 / divisor), in (oy, ox) order as the CPU accumulates. `assign`: the CPU's
// non-overlapping fast path (no padding, stride = kernel) stores gv instead of 0 + gv (differs
// only in the sign of a zero).
template <class T>
__host__ __device__ inline T avg_pool_backward_at(const Pool2dGeom& g, const T* gout, int64_t k, T inv, bool assign) {
  const int64_t x = k % g.w, y = (k / g.w) % g.h, p = k / (g.h * g.w);
  // Windows [oy*sh - ph, oy*sh - ph + kh) containing y: y + ph - kh < oy*sh <= y + ph.
  const int64_t ay = y + g.ph, ax = x + g.pw;
  const int64_t oy0 = ay < g.kh ? 0 : (ay - g.kh) / g.sh + 1, oy1 = ay / g.sh < g.oh - 1 ? ay / g.sh : g.oh - 1;
  const int64_t ox0 = ax < g.kw ? 0 : (ax - g.kw) / g.sw + 1, ox1 = ax / g.sw < g.ow - 1 ? ax / g.sw : g.ow - 1;
  T acc = T(0);
  for (int64_t oy = oy0; oy <= oy1; ++oy)
    for (int64_t ox = ox0; ox <= ox1; ++ox) {
      const T gv = mul_rn(gout[(p * g.oh + oy) * g.ow + ox], inv);
      acc = assign ? gv : add_rn(acc, gv);
    }
  return acc;
}

template <class T>
__host__ __device__ inline T adaptive_pool_backward_at(const Pool2dGeom& g, const T* gout, int64_t k) {
  const int64_t x = k % g.w, y = (k / g.w) % g.h, p = k / (g.h * g.w);
  // The windows containing y form one run of oy (both window ends grow with oy): it starts at
  // floor(y*oh/h) and ends before ceil((y+1)*oh/h). Scan one more on each side and test each
  // window exactly, so the bounds need not be exact.
  int64_t oy0 = (y * g.oh) / g.h - 1, oy1 = ((y + 1) * g.oh + g.h - 1) / g.h;
  int64_t ox0 = (x * g.ow) / g.w - 1, ox1 = ((x + 1) * g.ow + g.w - 1) / g.w;
  oy0 = oy0 < 0 ? 0 : oy0;
  ox0 = ox0 < 0 ? 0 : ox0;
  oy1 = oy1 < g.oh - 1 ? oy1 : g.oh - 1;
  ox1 = ox1 < g.ow - 1 ? ox1 : g.ow - 1;
  T acc = T(0);
  for (int64_t oy = oy0; oy <= oy1; ++oy)
    for (int64_t ox = ox0; ox <= ox1; ++ox) {
      const Win w = adaptive_window(g, oy, ox);
      if (y < w.y0 || y >= w.y1 || x < w.x0 || x >= w.x1) continue;
      acc = add_rn(acc, mul_rn(gout[(p * g.oh + oy) * g.ow + ox], T(adaptive_inv(w))));
    }
  return acc;
}

// ---- kernels -------------------------------------------------------------------------------------

#define ML_GRID_STRIDE(k, n) \
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < (n); k += int64_t(gridDim.x) * blockDim.x)

template <class T>
__global__ void im2col_kernel(Conv2dGeom g, int64_t total, const T* img, T* cols) {
  ML_GRID_STRIDE(k, total) cols[k] = im2col_at(g, img, k);
}
template <class T>
__global__ void col2im_kernel(Conv2dGeom g, int64_t total, const T* cols, T* img) {
  ML_GRID_STRIDE(k, total) img[k] = col2im_at(g, cols, k);
}
template <class T>
__global__ void max_pool_kernel(Pool2dGeom g, int64_t total, const T* x, int64_t* idx) {
  ML_GRID_STRIDE(k, total) idx[k] = max_pool_at(g, x, k);
}
template <class T>
__global__ void avg_pool_kernel(Pool2dGeom g, int64_t total, const T* x, T* out, T inv) {
  ML_GRID_STRIDE(k, total) out[k] = avg_pool_at(g, x, k, inv);
}
template <class T>
__global__ void avg_pool_backward_kernel(Pool2dGeom g, int64_t total, const T* gout, T* gin, T inv, bool assign) {
  ML_GRID_STRIDE(k, total) gin[k] = avg_pool_backward_at(g, gout, k, inv, assign);
}
template <class T>
__global__ void adaptive_pool_kernel(Pool2dGeom g, int64_t total, const T* x, T* out) {
  ML_GRID_STRIDE(k, total) out[k] = adaptive_pool_at(g, x, k);
}
template <class T>
__global__ void adaptive_pool_backward_kernel(Pool2dGeom g, int64_t total, const T* gout, T* gin) {
  ML_GRID_STRIDE(k, total) gin[k] = adaptive_pool_backward_at(g, gout, k);
}

#undef ML_GRID_STRIDE

// The divisor of avg_pool2d: count_include_pad = true, as PyTorch's default.
inline double avg_inv(const Pool2dGeom& g) { return 1.0 / double(g.kh * g.kw); }

}  // namespace

void im2col(DType t, const Conv2dGeom& g, const void* x, void* cols) {
  float_dispatch("im2col", t, [&](auto v) {
    using T = decltype(v);
    const int64_t total = g.n * g.c * g.kh * g.kw * g.oh * g.ow;
    if (total <= 0) return;
    im2col_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(g, total, static_cast<const T*>(x),
                                                                             static_cast<T*>(cols));
    ML_CUDA_CHECK_LAUNCH("im2col");
  });
}

void col2im(DType t, const Conv2dGeom& g, const void* cols, void* x) {
  float_dispatch("col2im", t, [&](auto v) {
    using T = decltype(v);
    const int64_t total = g.n * g.c * g.h * g.w;
    if (total <= 0) return;
    col2im_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(g, total, static_cast<const T*>(cols),
                                                                             static_cast<T*>(x));
    ML_CUDA_CHECK_LAUNCH("col2im");
  });
}

void max_pool2d_indices(DType t, const Pool2dGeom& g, const void* x, int64_t* idx) {
  float_dispatch("max_pool2d", t, [&](auto v) {
    using T = decltype(v);
    const int64_t total = g.planes * g.oh * g.ow;
    if (total <= 0) return;
    max_pool_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(g, total, static_cast<const T*>(x), idx);
    ML_CUDA_CHECK_LAUNCH("max_pool2d");
  });
}

void avg_pool2d(DType t, const Pool2dGeom& g, const void* x, void* out) {
  float_dispatch("avg_pool2d", t, [&](auto v) {
    using T = decltype(v);
    const int64_t total = g.planes * g.oh * g.ow;
    if (total <= 0) return;
    avg_pool_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(g, total, static_cast<const T*>(x),
                                                                               static_cast<T*>(out), T(avg_inv(g)));
    ML_CUDA_CHECK_LAUNCH("avg_pool2d");
  });
}

void avg_pool2d_backward(DType t, const Pool2dGeom& g, const void* gout, void* gin) {
  float_dispatch("avg_pool2d_backward", t, [&](auto v) {
    using T = decltype(v);
    const int64_t total = g.planes * g.h * g.w;
    if (total <= 0) return;
    const bool assign = g.ph == 0 && g.pw == 0 && g.kh == g.sh && g.kw == g.sw;
    avg_pool_backward_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
        g, total, static_cast<const T*>(gout), static_cast<T*>(gin), T(avg_inv(g)), assign);
    ML_CUDA_CHECK_LAUNCH("avg_pool2d_backward");
  });
}

void adaptive_avg_pool2d(DType t, const Pool2dGeom& g, const void* x, void* out) {
  float_dispatch("adaptive_avg_pool2d", t, [&](auto v) {
    using T = decltype(v);
    const int64_t total = g.planes * g.oh * g.ow;
    if (total <= 0) return;
    adaptive_pool_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(g, total, static_cast<const T*>(x),
                                                                                    static_cast<T*>(out));
    ML_CUDA_CHECK_LAUNCH("adaptive_avg_pool2d");
  });
}

void adaptive_avg_pool2d_backward(DType t, const Pool2dGeom& g, const void* gout, void* gin) {
  float_dispatch("adaptive_avg_pool2d_backward", t, [&](auto v) {
    using T = decltype(v);
    const int64_t total = g.planes * g.h * g.w;
    if (total <= 0) return;
    adaptive_pool_backward_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
        g, total, static_cast<const T*>(gout), static_cast<T*>(gin));
    ML_CUDA_CHECK_LAUNCH("adaptive_avg_pool2d_backward");
  });
}

}  // namespace metaloss::kernels::cuda
