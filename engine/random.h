// Seeded counter-based random numbers (Philox-4x32-10). A Generator is (seed, offset): every
// draw reads the next block of the stream, so a recorded seed reproduces a run exactly, and a GPU
// generator with the same seed and offset gives the same numbers.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace metaloss {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t o) { offset_ = o; }
  // Reserves `values` 32-bit stream values and returns the offset of the first.
  uint64_t advance(uint64_t values) {
    uint64_t o = offset_;
    offset_ += (values + 3) / 4 * 4;  // start each draw on a fresh Philox counter
    return o;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

// `device`: where the numbers are drawn; a CUDA draw gives the same numbers as the CPU one.
Tensor rand(const Shape& shape, DType dtype = DType::Float32, Generator& gen = default_generator(),
            Device device = Device::cpu());  // [0, 1)
Tensor uniform(const Shape& shape, double lo, double hi, DType dtype = DType::Float32,
               Generator& gen = default_generator(), Device device = Device::cpu());
Tensor randn(const Shape& shape, DType dtype = DType::Float32, Generator& gen = default_generator(),
             Device device = Device::cpu());
Tensor randint(int64_t lo, int64_t hi, const Shape& shape, Generator& gen = default_generator(),
               Device device = Device::cpu());  // [lo, hi)

}  // namespace metaloss
