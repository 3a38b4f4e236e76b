// Iterates N same-shaped strided operands (broadcast = zero stride) over their common shape.
// Dimensions are coalesced first so that contiguous operands become one flat inner loop; the
// inner callback sees byte pointers and byte strides and can test for the contiguous case.
#pragma once
#include <array>
#include <cstdint>
#include "kernels/cpu/view.h"

namespace metaloss::kernels {

template <int N>
struct Loop {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t strides[N][kMaxDims];  // bytes
  char* base[N];

  explicit Loop(const std::array<const View*, N>& v) {
    const View& ref = *v[0];
    for (int k = 0; k < N; ++k) base[k] = static_cast<char*>(v[k]->data);
    for (int d = 0; d < ref.ndim; ++d) {
      if (ref.shape[d] == 1) continue;
      shape[ndim] = ref.shape[d];
      for (int k = 0; k < N; ++k) strides[k][ndim] = v[k]->strides[d] * int64_t(dtype_size(v[k]->dtype));
      ++ndim;
    }
    // Merge dim i into i+1 when every operand steps through them as one run.
    int out = 0;
    for (int d = 0; d < ndim; ++d) {
      if (out > 0) {
        bool merge = true;
        for (int k = 0; k < N; ++k)
          if (strides[k][out - 1] != strides[k][d] * shape[d]) merge = false;
        if (merge) {
          shape[out - 1] *= shape[d];
          for (int k = 0; k < N; ++k) strides[k][out - 1] = strides[k][d];
          continue;
        }
      }
      shape[out] = shape[d];
      for (int k = 0; k < N; ++k) strides[k][out] = strides[k][d];
      ++out;
    }
    ndim = out;
    if (ndim == 0) {  // a single element
      ndim = 1;
      shape[0] = 1;
      for (int k = 0; k < N; ++k) strides[k][0] = 0;
    }
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= shape[d];
    return n;
  }

  // inner(char* ptrs[N], int64_t count, const int64_t byte_strides[N])
  template <class Inner>
  void run(Inner&& inner) const {
    const int64_t n_inner = shape[ndim - 1];
    const int64_t n_outer = numel() / n_inner;
    int64_t istr[N];
    for (int k = 0; k < N; ++k) istr[k] = strides[k][ndim - 1];
    auto outer_ptrs = [&](int64_t o, char** p) {
      for (int k = 0; k < N; ++k) p[k] = base[k];
      for (int d = ndim - 2; d >= 0 && o > 0; --d) {
        int64_t i = o % shape[d];
        o /= shape[d];
        for (int k = 0; k < N; ++k) p[k] += i * strides[k][d];
      }
    };
    if (n_outer * n_inner >= kParallelGrain && n_outer > 1) {
#pragma omp parallel for schedule(static)
      for (int64_t o = 0; o < n_outer; ++o) {
        char* p[N];
        outer_ptrs(o, p);
        inner(p, n_inner, istr);
      }
    } else if (n_outer == 1 && n_inner >= kParallelGrain) {
#pragma omp parallel
      {
        int64_t nt = omp_threads(), t = omp_thread();
        int64_t chunk = (n_inner + nt - 1) / nt, b = t * chunk, e = b + chunk < n_inner ? b + chunk : n_inner;
        if (b < e) {
          char* p[N];
          for (int k = 0; k < N; ++k) p[k] = base[k] + b * istr[k];
          inner(p, e - b, istr);
        }
      }
    } else {
      int64_t idx[kMaxDims] = {};
      char* p[N];
      for (int k = 0; k < N; ++k) p[k] = base[k];
      for (int64_t o = 0; o < n_outer; ++o) {
        inner(p, n_inner, istr);
        for (int d = ndim - 2; d >= 0; --d) {  // odometer step over the outer dims
          for (int k = 0; k < N; ++k) p[k] += strides[k][d];
          if (++idx[d] < shape[d]) break;
          for (int k = 0; k < N; ++k) p[k] -= strides[k][d] * shape[d];
          idx[d] = 0;
        }
      }
    }
  }

  static int omp_threads();
  static int omp_thread();
};

int omp_num_threads_in_region();
int omp_thread_id();
template <int N> int Loop<N>::omp_threads() { return omp_num_threads_in_region(); }
template <int N> int Loop<N>::omp_thread() { return omp_thread_id(); }

// Runs f(begin, end) over [0, n), in parallel when n * cost_per_item is large.
template <class F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& f) {
  if (n * cost_per_item < kParallelGrain || n < 2) {
    f(int64_t(0), n);
    return;
  }
#pragma omp parallel
  {
    int64_t nt = omp_num_threads_in_region(), t = omp_thread_id();
    int64_t chunk = (n + nt - 1) / nt, b = t * chunk, e = b + chunk < n ? b + chunk : n;
    if (b < e) f(b, e);
  }
}

}  // namespace metaloss::kernels
