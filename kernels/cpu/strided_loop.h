// Iterates N same-shaped strided operands (broadcast = zero stride) over their common shape.
// Dimensions are coalesced first so that contiguous operands become one flat inner loop; the
// inner callback sees byte pointers and byte strides and can test for the contiguous case.
#pragma once
#include <algorithm>
#include <array>
#include <type_traits>
#include <cstdint>
#include "kernels/cpu/view.h"

namespace metaloss::kernels {

// A non-owning reference to a callable taking the task index. parallel_run blocks until every
// task is done, so the callable outlives every use; std::function would heap-allocate for any
// lambda capturing more than 16 bytes, once per parallel kernel call.
class TaskRef {
 public:
  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, TaskRef>)
  TaskRef(const F& f) : obj_(&f), call_([](const void* o, int t) { (*static_cast<const F*>(o))(t); }) {}
  void operator()(int t) const { call_(obj_, t); }

 private:
  const void* obj_;
  void (*call_)(const void*, int);
};

// The thread pool (kernels/cpu/parallel.cpp): task(i) for i in [0, n_tasks), caller included.
void parallel_run(int n_tasks, TaskRef task);
int pool_threads();

// Runs f(begin, end) over [0, n) in contiguous chunks, one per thread, when n * cost_per_item
// is worth a parallel region; otherwise f(0, n) on the calling thread.
template <class F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& f) {
  const int threads = pool_threads();
  if (threads < 2 || n < 2 || n * cost_per_item < kParallelGrain) {
    f(int64_t(0), n);
    return;
  }
  const int tasks = int(std::min<int64_t>(threads, n));
  const int64_t chunk = (n + tasks - 1) / tasks;
  parallel_run(tasks, [&](int t) {
    const int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) f(b, e);
  });
}

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
    if (numel() == 0) return;  // an empty tensor: nothing to visit (and no division by 0)
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
      parallel_for(n_outer, n_inner, [&](int64_t b, int64_t e) {
        char* p[N];
        for (int64_t o = b; o < e; ++o) {
          outer_ptrs(o, p);
          inner(p, n_inner, istr);
        }
      });
    } else if (n_outer == 1 && n_inner >= kParallelGrain) {
      parallel_for(n_inner, 1, [&](int64_t b, int64_t e) {
        char* p[N];
        for (int k = 0; k < N; ++k) p[k] = base[k] + b * istr[k];
        inner(p, e - b, istr);
      });
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

};

}  // namespace metaloss::kernels
