#include "models/init.h"

#include <cmath>
#include <stdexcept>

namespace metaloss::init {

Fans fans(const Shape& s) {
  if (s.size() < 2) throw std::invalid_argument("init: fan in/out need a weight of 2+ dims, got " + s.str());
  int64_t field = 1;
  for (int i = 2; i < s.size(); ++i) field *= s[i];
  return {s[1] * field, s[0] * field};
}

Tensor uniform_(const Tensor& t, double lo, double hi, Generator& gen) {
  NoGrad ng;
  t.copy_(uniform(t.shape(), lo, hi, t.dtype(), gen));
  return t;
}
Tensor normal_(const Tensor& t, double mean, double std, Generator& gen) {
  NoGrad ng;
  t.copy_(add(mul(randn(t.shape(), t.dtype(), gen), std), mean));
  return t;
}
Tensor zeros_(const Tensor& t) {
  NoGrad ng;
  t.zero_();
  return t;
}
Tensor kaiming_uniform_(const Tensor& t, double a, Generator& gen) {
  const double gain = std::sqrt(2.0 / (1 + a * a));
  const double bound = gain * std::sqrt(3.0 / double(fans(t.shape()).in));
  return uniform_(t, -bound, bound, gen);
}
Tensor kaiming_normal_(const Tensor& t, Generator& gen) {
  return normal_(t, 0, std::sqrt(2.0 / double(fans(t.shape()).in)), gen);
}
Tensor xavier_uniform_(const Tensor& t, Generator& gen, double gain) {
  const Fans f = fans(t.shape());
  const double bound = gain * std::sqrt(6.0 / double(f.in + f.out));
  return uniform_(t, -bound, bound, gen);
}
Tensor xavier_normal_(const Tensor& t, Generator& gen, double gain) {
  const Fans f = fans(t.shape());
  return normal_(t, 0, gain * std::sqrt(2.0 / double(f.in + f.out)), gen);
}

}  // namespace metaloss::init
