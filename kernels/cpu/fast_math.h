// Branch-free float32 exp, log and tanh that GCC auto-vectorises inside the contiguous elementwise
// loops (glibc's scalar expf/logf/tanhf are called once per element: tanhf alone cost ~23 ns per
// element here, 30x the vectorised loop). Polynomials are Cephes' (S. Moshier), accurate to a
// couple of ulp over the normal range; tests/test_kernels.cpp measures the error against double.
// Special values (NaN, +-inf, 0, negatives for log) follow IEEE/libm.
#pragma once
#include <bit>
#include <cstdint>
#include <limits>

namespace metaloss::kernels::fast {

inline float exp(float x) {
  const float hi = 88.72283905206835f, lo = -87.33654475055310f;
  const float xc = x > hi ? hi : (x < lo ? lo : x);
  // Round to nearest by adding and removing 1.5 * 2^23 (SSE2 has no vector floor).
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float z = xc - n * 0.693359375f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * z + 1.3981999507e-3f;
  p = p * z + 8.3334519073e-3f;
  p = p * z + 4.1665795894e-2f;
  p = p * z + 1.6666665459e-1f;
  p = p * z + 5.0000001201e-1f;
  p = p * z * z + z + 1.0f;
  const float scale = std::bit_cast<float>((int32_t(n) + 127) << 23);
  float r = p * scale;
  r = x > hi ? std::numeric_limits<float>::infinity() : r;
  r = x < lo ? 0.0f : r;  // flushes results below FLT_MIN (denormals) to zero
  return x != x ? x : r;
}

inline float log(float x) {
  // Denormals: scale into the normal range first.
  const bool tiny = x < std::numeric_limits<float>::min();
  const float xs = tiny ? x * 8388608.0f : x;  // * 2^23
  const int32_t bits = std::bit_cast<int32_t>(xs);
  float e = float(((bits >> 23) & 0xff) - 126) - (tiny ? 23.0f : 0.0f);
  float m = std::bit_cast<float>((bits & 0x807fffff) | 0x3f000000);  // mantissa in [0.5, 1)
  const bool small = m < 0.707106781186547524f;
  e = small ? e - 1.0f : e;
  m = small ? m + m - 1.0f : m - 1.0f;
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y += e * -2.12194440e-4f;
  y += -0.5f * z;
  float r = m + y + e * 0.693359375f;
  r = x == std::numeric_limits<float>::infinity() ? x : r;
  r = x == 0.0f ? -std::numeric_limits<float>::infinity() : r;
  r = x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : r;
  return x != x ? x : r;
}

inline float tanh(float x) {
  const float ax = x < 0 ? -x : x;
  // Small |x|: odd polynomial (no cancellation near 0).
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  // Larger |x|: 1 - 2 / (exp(2|x|) + 1), saturating to 1 beyond 9.
  const float e = exp(2.0f * (ax > 9.0f ? 9.0f : ax));
  float big = 1.0f - 2.0f / (e + 1.0f);
  big = ax > 9.0f ? 1.0f : big;
  big = x < 0 ? -big : big;
  const float r = ax < 0.625f ? small : big;
  return x != x ? x : r;
}

inline float sigmoid(float x) { return 1.0f / (1.0f + exp(-x)); }

}  // namespace metaloss::kernels::fast
