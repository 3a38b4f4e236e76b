// Philox-4x32-10 random numbers on the GPU. Generator and transforms come from kernels/philox.h,
// the same code the CPU kernels run, so for the same (seed, offset) the GPU gives the CPU's numbers:
// uniform and randint bit-identical; normal within about 1 ulp of the double result (CUDA's
// log/sin/cos may differ from glibc's in the last bit; see kernels/philox.h).
#include <stdexcept>
#include <string>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/philox.h"

namespace metaloss::kernels::cuda {
namespace {

constexpr int kThreads = 256;

// One thread per element (grid-stride).
template <class T>
__global__ void uniform_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if constexpr (sizeof(T) == 4) out[i] = philox::uniform_float(seed, offset, uint64_t(i), lo, hi);
    else out[i] = philox::uniform_double(seed, offset, uint64_t(i), lo, hi);
  }
}

// One thread per pair of elements (2j, 2j + 1): they share one Box-Muller draw, as on the CPU.
template <class T>
__global__ void normal_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  const int64_t pairs = (n + 1) / 2;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < pairs; j += int64_t(gridDim.x) * blockDim.x) {
    const philox::NormalPair p = philox::normal_pair(seed, offset + 4 * uint64_t(j), mean, std);
    out[2 * j] = T(p.even);
    if (2 * j + 1 < n) out[2 * j + 1] = T(p.odd);
  }
}

__global__ void randint_kernel(int64_t* out, int64_t n, uint64_t seed, uint64_t offset, int64_t lo, int64_t hi) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = philox::randint_at(seed, offset, uint64_t(i), lo, hi);
}

}  // namespace

void philox_uniform(DType t, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  if (t != DType::Float32 && t != DType::Float64)
    throw std::invalid_argument(std::string("kernel philox_uniform: unsupported dtype ") + dtype_name(t));
  if (n <= 0) return;
  if (t == DType::Float32)
    uniform_kernel<float><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(static_cast<float*>(out), n, seed, offset, lo, hi);
  else
    uniform_kernel<double><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(static_cast<double*>(out), n, seed, offset, lo, hi);
  ML_CUDA_CHECK_LAUNCH("philox_uniform");
}

void philox_normal(DType t, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  if (t != DType::Float32 && t != DType::Float64)
    throw std::invalid_argument(std::string("kernel philox_normal: unsupported dtype ") + dtype_name(t));
  if (n <= 0) return;
  const int64_t pairs = (n + 1) / 2;
  if (t == DType::Float32)
    normal_kernel<float><<<grid_for(pairs, kThreads), kThreads, 0, stream()>>>(static_cast<float*>(out), n, seed, offset, mean, std);
  else
    normal_kernel<double><<<grid_for(pairs, kThreads), kThreads, 0, stream()>>>(static_cast<double*>(out), n, seed, offset, mean, std);
  ML_CUDA_CHECK_LAUNCH("philox_normal");
}

void philox_randint(int64_t* out, int64_t n, uint64_t seed, uint64_t offset, int64_t lo, int64_t hi) {
  if (n <= 0) return;
  randint_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(out, n, seed, offset, lo, hi);
  ML_CUDA_CHECK_LAUNCH("philox_randint");
}

}  // namespace metaloss::kernels::cuda
