// Philox-4x32-10 random numbers on the CPU. The generator and the transforms to uniform, normal
// and integer values live in kernels/philox.h, shared with the CUDA kernels: element i of a draw
// depends only on (seed, offset + i), so any slice of a stream can be computed independently, on
// the CPU or on a GPU, and gives the same numbers.
#include <stdexcept>
#include <string>
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/strided_loop.h"
#include "kernels/philox.h"

namespace metaloss::kernels {
namespace {

template <class T>
void fill_with(T* out, int64_t n, auto gen) {
  parallel_for(n, 40, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = T(gen(uint64_t(i)));
  });
}

}  // namespace

namespace cpu {

// Offsets count 32-bit stream values. Consumption per element: float uniform 1, double uniform 2,
// normal 2 (pairs of elements share one Box-Muller draw of 4 values), randint 2.
void philox_uniform(DType t, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  if (t == DType::Float32)
    fill_with(static_cast<float*>(out), n,
              [&](uint64_t i) { return philox::uniform_float(seed, offset, i, lo, hi); });  // [lo, hi)
  else if (t == DType::Float64)
    fill_with(static_cast<double*>(out), n,
              [&](uint64_t i) { return philox::uniform_double(seed, offset, i, lo, hi); });
  else
    throw std::invalid_argument(std::string("kernel philox_uniform: unsupported dtype ") + dtype_name(t));
}

void philox_normal(DType t, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  auto gen = [&](uint64_t i) { return philox::normal_at(seed, offset, i, mean, std); };
  if (t == DType::Float32) fill_with(static_cast<float*>(out), n, gen);
  else if (t == DType::Float64) fill_with(static_cast<double*>(out), n, gen);
  else throw std::invalid_argument(std::string("kernel philox_normal: unsupported dtype ") + dtype_name(t));
}

void philox_randint(int64_t* out, int64_t n, uint64_t seed, uint64_t offset, int64_t lo, int64_t hi) {
  fill_with(out, n, [&](uint64_t i) { return philox::randint_at(seed, offset, i, lo, hi); });
}

}  // namespace cpu
}  // namespace metaloss::kernels
