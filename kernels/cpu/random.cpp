// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
// Counter = (offset/4 as 64 bits, 0, 0); key = seed. Each counter yields 4 uint32 values, so
// element i of a draw uses counter (offset + i) / 4, lane (offset + i) % 4: any slice of a stream
// can be computed independently, on the CPU or on a GPU, and gives the same numbers.
#include <cmath>
#include <stdexcept>
#include <string>
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/strided_loop.h"

namespace metaloss::kernels {
namespace {

struct U4 { uint32_t v[4]; };

inline U4 philox(uint64_t counter, uint64_t seed) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0, p1 = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

inline uint32_t philox_at(uint64_t seed, uint64_t i) { return philox(i >> 2, seed).v[i & 3]; }

// Uniform in (0, 1]: never 0, so log() in Box-Muller is finite. A double takes two stream
// values starting at position pos; a float takes one.
inline double unit_double(uint64_t seed, uint64_t pos) {
  const uint64_t hi = philox_at(seed, pos), lo = philox_at(seed, pos + 1);
  const uint64_t bits = ((hi << 32) | lo) >> 11;
  return (double(bits) + 1.0) * (1.0 / 9007199254740992.0);
}
inline float unit_float(uint64_t seed, uint64_t pos) {
  return (float(philox_at(seed, pos) >> 8) + 1.0f) * (1.0f / 16777216.0f);
}

template <class T>
void fill_with(T* out, int64_t n, auto gen) {
  parallel_for(n, 40, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = T(gen(uint64_t(i)));
  });
}

}  // namespace

// Offsets count 32-bit stream values. Consumption per element: float uniform 1, double uniform 2,
// normal 2 (pairs of elements share one Box-Muller draw of 4 values), randint 2.
void philox_uniform(DType t, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  if (t == DType::Float32)
    fill_with(static_cast<float*>(out), n, [&](uint64_t i) {
      return float(lo) + float(hi - lo) * (1.0f - unit_float(seed, offset + i));  // [lo, hi)
    });
  else if (t == DType::Float64)
    fill_with(static_cast<double*>(out), n,
              [&](uint64_t i) { return lo + (hi - lo) * (1.0 - unit_double(seed, offset + 2 * i)); });
  else
    throw std::invalid_argument(std::string("kernel philox_uniform: unsupported dtype ") + dtype_name(t));
}

void philox_normal(DType t, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  auto gen = [&](uint64_t i) {
    const uint64_t pair = offset + 4 * (i / 2);
    const double u1 = unit_double(seed, pair), u2 = unit_double(seed, pair + 2);
    const double r = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * M_PI * u2;
    return mean + std * ((i & 1) ? r * std::sin(th) : r * std::cos(th));
  };
  if (t == DType::Float32) fill_with(static_cast<float*>(out), n, gen);
  else if (t == DType::Float64) fill_with(static_cast<double*>(out), n, gen);
  else throw std::invalid_argument(std::string("kernel philox_normal: unsupported dtype ") + dtype_name(t));
}

void philox_randint(int64_t* out, int64_t n, uint64_t seed, uint64_t offset, int64_t lo, int64_t hi) {
  const uint64_t range = uint64_t(hi - lo);
  fill_with(out, n, [&](uint64_t i) {
    const uint64_t r = (uint64_t(philox_at(seed, offset + 2 * i)) << 32) | philox_at(seed, offset + 2 * i + 1);
    return lo + int64_t(r % range);  // modulo bias < range / 2^64: negligible
  });
}

}  // namespace metaloss::kernels
