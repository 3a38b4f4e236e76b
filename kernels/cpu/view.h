// A strided view of raw memory on one device: what every kernel takes. Strides are in elements.
#pragma once
#include <cstdint>
#include "kernels/device.h"
#include "kernels/dtype.h"

namespace metaloss::kernels {

constexpr int kMaxDims = 8;

struct View {
  void* data = nullptr;
  DType dtype = DType::Float32;
  Device device;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  bool contiguous() const {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != s) return false;
      s *= shape[i];
    }
    return true;
  }
  template <class T> T* ptr() const { return static_cast<T*>(data); }
};

// Sets the number of threads used by OpenMP loops and by the BLAS.
void set_num_threads(int n);
int get_num_threads();
// Element count above which loops run in parallel (small tensors stay single-threaded:
// a parallel region costs more than the work on a 128x10 tensor).
constexpr int64_t kParallelGrain = 32768;

}  // namespace metaloss::kernels
