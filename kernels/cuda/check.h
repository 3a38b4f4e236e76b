// For .cu files only: error checks, the per-device stream, launch helpers.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/runtime.h"
#include "kernels/dtype.h"

namespace metaloss::kernels::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t e, const char* what, const char* call) {
  throw std::runtime_error(std::string("CUDA error in ") + what + " (" + call + "): " + cudaGetErrorName(e) + ": " +
                           cudaGetErrorString(e));
}
// The stream every kernel of the current device runs on (created on first use).
cudaStream_t stream();
// The current device (cudaGetDevice), cached per thread.
int current_device();
// Its number of multiprocessors (cached): sizes grids that loop rather than cover every element.
int sm_count();

// Grid size for n elements with `threads` per block (grid-stride loops cover the rest).
inline unsigned grid_for(int64_t n, int threads = 256) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks > 65535LL * 32) blocks = 65535LL * 32;
  return unsigned(blocks < 1 ? 1 : blocks);
}

}  // namespace metaloss::kernels::cuda

// ML_CUDA_CHECK(cudaMemcpy(...), "copy"): throws naming the kernel/op and the CUDA error.
#define ML_CUDA_CHECK(call, what)                                                              \
  do {                                                                                         \
    cudaError_t ml_err_ = (call);                                                              \
    if (ml_err_ != cudaSuccess) ::metaloss::kernels::cuda::throw_cuda_error(ml_err_, what, #call); \
  } while (0)
// After every kernel launch: reports a bad launch configuration or an earlier asynchronous error.
#define ML_CUDA_CHECK_LAUNCH(what) ML_CUDA_CHECK(cudaGetLastError(), what)
