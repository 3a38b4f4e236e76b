// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) and the
// transforms from its 32-bit stream to uniform, normal and integer values, shared by the CPU
// kernels (kernels/cpu/random.cpp, g++) and the CUDA kernels (kernels/cuda/random.cu, nvcc) so
// that both compute the same numbers with the same formulas.
//
// Counter = (offset/4 as 64 bits, 0, 0); key = seed. Each counter yields 4 uint32 values, so
// stream position i uses counter i / 4, lane i % 4: any slice of a stream can be computed
// independently, on the CPU or on a GPU.
//
// Bit-identity host vs device: the Philox integers, unit_float/unit_double (exact: every step is
// exact in binary floating point), uniform and randint values are bit-identical. The arithmetic
// goes through mul_rn/add_rn so that nvcc cannot contract a*b+c into an FMA (g++ does not contract
// in ISO C++ mode, -std=c++20, which is what the build uses). Normal values use log/sqrt/sin/cos:
// sqrt is correctly rounded on both, but CUDA's double log/sin/cos (1-2 ulp) can differ from
// glibc's in the last bit, so GPU normals agree with CPU normals to about 1 ulp of the double
// result (float normals, rounded from that double, are nearly always identical).
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define ML_HD __host__ __device__
#else
#define ML_HD
#endif

namespace metaloss::kernels::philox {

struct U4 {
  uint32_t v[4];
};

// One Philox-4x32-10 block: 4 stream values for counter `counter` under key `seed`.
ML_HD inline U4 block(uint64_t counter, uint64_t seed) {
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

// Lane i (0..3) of a block, by selects: a runtime index into v[] would put the block in GPU local
// memory.
ML_HD inline uint32_t lane(const U4& a, int i) { return i == 0 ? a.v[0] : i == 1 ? a.v[1] : i == 2 ? a.v[2] : a.v[3]; }

// Stream value at position i.
ML_HD inline uint32_t philox_at(uint64_t seed, uint64_t i) { return lane(block(i >> 2, seed), int(i & 3)); }

// K (<= 4) consecutive stream values from position pos, computing at most two blocks (philox_at
// per value would compute K). Same values as philox_at(seed, pos + j).
template <int K>
struct Values {
  uint32_t v[K];
};
template <int K>
ML_HD inline Values<K> values_at(uint64_t seed, uint64_t pos) {
  static_assert(K >= 1 && K <= 4, "at most one block's worth of values");
  Values<K> out;
  const U4 a = block(pos >> 2, seed);
  const int first = int(pos & 3);
  if (first + K <= 4) {
    for (int j = 0; j < K; ++j) out.v[j] = lane(a, first + j);
  } else {
    // The values straddle two blocks (pos + j past 2^64 is not a stream position anyone reaches).
    const U4 b = block((pos >> 2) + 1, seed);
    for (int j = 0; j < K; ++j) out.v[j] = first + j < 4 ? lane(a, first + j) : lane(b, first + j - 4);
  }
  return out;
}

// Rounded multiply/add that the compiler may not fuse into an FMA: the CPU reference computes
// a * b, rounds, then adds; an FMA on the device would round once and change the last bit.
ML_HD inline double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
ML_HD inline double add_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
ML_HD inline float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
ML_HD inline float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

// Uniform in (0, 1]: never 0, so log() in Box-Muller is finite. A double takes two stream
// values (hi, lo); a float takes one. Every step is exact (integers below 2^53 / 2^24, scaling by
// a power of two).
ML_HD inline double unit_double_from(uint32_t hi32, uint32_t lo32) {
  const uint64_t bits = ((uint64_t(hi32) << 32) | lo32) >> 11;
  return (double(bits) + 1.0) * (1.0 / 9007199254740992.0);
}
ML_HD inline float unit_float_from(uint32_t v) { return (float(v >> 8) + 1.0f) * (1.0f / 16777216.0f); }
ML_HD inline double unit_double(uint64_t seed, uint64_t pos) {
  const Values<2> v = values_at<2>(seed, pos);
  return unit_double_from(v.v[0], v.v[1]);
}
ML_HD inline float unit_float(uint64_t seed, uint64_t pos) { return unit_float_from(philox_at(seed, pos)); }

// Offsets count 32-bit stream values. Consumption per element: float uniform 1, double uniform 2,
// normal 2 (pairs of elements share one Box-Muller draw of 4 values), randint 2.

// Element i of a uniform draw in [lo, hi) (1 - u lies in [0, 1); exact).
ML_HD inline float uniform_float(uint64_t seed, uint64_t offset, uint64_t i, double lo, double hi) {
  return add_rn(float(lo), mul_rn(float(hi - lo), 1.0f - unit_float(seed, offset + i)));
}
ML_HD inline double uniform_double(uint64_t seed, uint64_t offset, uint64_t i, double lo, double hi) {
  return add_rn(lo, mul_rn(hi - lo, 1.0 - unit_double(seed, offset + 2 * i)));
}

// Box-Muller over the 4 stream values at pos = offset + 4 * (i / 2): element 2j takes the cosine,
// element 2j + 1 the sine of the same draw. Returns both (the caller keeps what it needs).
struct NormalPair {
  double even, odd;
};
ML_HD inline NormalPair normal_pair(uint64_t seed, uint64_t pos, double mean, double std) {
  const Values<4> v = values_at<4>(seed, pos);
  const double u1 = unit_double_from(v.v[0], v.v[1]), u2 = unit_double_from(v.v[2], v.v[3]);
  const double r = std::sqrt(-2.0 * std::log(u1)), th = mul_rn(2.0 * M_PI, u2);
  return {add_rn(mean, mul_rn(std, mul_rn(r, std::cos(th)))), add_rn(mean, mul_rn(std, mul_rn(r, std::sin(th))))};
}
// Element i of a normal draw.
ML_HD inline double normal_at(uint64_t seed, uint64_t offset, uint64_t i, double mean, double std) {
  const NormalPair p = normal_pair(seed, offset + 4 * (i / 2), mean, std);
  return (i & 1) ? p.odd : p.even;
}

// Element i of a randint draw in [lo, hi) (modulo bias < range / 2^64: negligible).
ML_HD inline int64_t randint_at(uint64_t seed, uint64_t offset, uint64_t i, int64_t lo, int64_t hi) {
  const uint64_t range = uint64_t(hi - lo);
  const Values<2> v = values_at<2>(seed, offset + 2 * i);
  const uint64_t r = (uint64_t(v.v[0]) << 32) | v.v[1];
  return lo + int64_t(r % range);
}

}  // namespace metaloss::kernels::philox
