// A tiny counter-free random stream (splitmix64) for the few-shot data: every draw is plain
// integer arithmetic, so the same seed gives the same episode and the same rendered kanji on
// every machine and compiler. (std::*_distribution output is implementation-defined, and
// Generator draws whole tensors.)
#pragma once
#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace metaloss::data {

inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// One 64-bit seed from several values, order-sensitive: (1, 2) and (2, 1) give different seeds.
inline uint64_t hash_seed(std::initializer_list<uint64_t> values) {
  uint64_t state = 0x6A09E667F3BCC908ull, h = 0;
  for (uint64_t v : values) {
    state ^= v;
    h = splitmix64(state);
    state = h;
  }
  return h;
}

class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : state_(seed) {}
  uint64_t next() { return splitmix64(state_); }
  // [0, 1) from the top 53 bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal by Box-Muller (one value per call; the second is dropped for simplicity).
  // std::log/cos/sqrt are correctly rounded enough on glibc that this is reproducible in
  // practice; the renderer quantises to pixels anyway.
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();  // u1 in (0, 1]: log(u1) is finite
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Uniform in [0, n) without modulo bias (rejection of the short last block).
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
      const uint64_t x = next();
      if (x < limit) return x % n;
    }
  }

 private:
  uint64_t state_;
};

}  // namespace metaloss::data
