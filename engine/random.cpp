#include "engine/random.h"

#include <stdexcept>

#include "kernels/kernels.h"

namespace metaloss {

Generator& default_generator() {
  static Generator g(0);
  return g;
}
void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

namespace {
void check_float(DType t, const char* op) {
  if (!is_floating(t)) throw std::invalid_argument(std::string(op) + ": dtype must be float32 or float64, got " + dtype_name(t));
}
}  // namespace

Tensor uniform(const Shape& shape, double lo, double hi, DType dtype, Generator& gen, Device device) {
  check_float(dtype, "uniform");
  Tensor t = Tensor::empty(shape, dtype, device);
  const uint64_t per = dtype == DType::Float32 ? 1 : 2;
  kernels::philox_uniform(device, dtype, t.raw_data(), t.numel(), gen.seed(), gen.advance(per * uint64_t(t.numel())), lo, hi);
  return t;
}
Tensor rand(const Shape& shape, DType dtype, Generator& gen, Device device) {
  return uniform(shape, 0, 1, dtype, gen, device);
}

Tensor randn(const Shape& shape, DType dtype, Generator& gen, Device device) {
  check_float(dtype, "randn");
  Tensor t = Tensor::empty(shape, dtype, device);
  const uint64_t n = uint64_t(t.numel());
  kernels::philox_normal(device, dtype, t.raw_data(), t.numel(), gen.seed(), gen.advance(2 * (n + 1)), 0, 1);
  return t;
}

Tensor randint(int64_t lo, int64_t hi, const Shape& shape, Generator& gen, Device device) {
  if (hi <= lo)
    throw std::invalid_argument("randint: empty range [" + std::to_string(lo) + ", " + std::to_string(hi) + ")");
  Tensor t = Tensor::empty(shape, DType::Int64, device);
  kernels::philox_randint(device, t.data<int64_t>(), t.numel(), gen.seed(), gen.advance(2 * uint64_t(t.numel())), lo, hi);
  return t;
}

}  // namespace metaloss
