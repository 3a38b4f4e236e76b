// Parameter initialisation schemes (as torch.nn.init), drawing from a seeded Generator.
// fan_in / fan_out follow PyTorch: for [out, in, kh, kw], fan_in = in*kh*kw, fan_out = out*kh*kw.
#pragma once
#include "engine/metaloss.h"

namespace metaloss::init {

struct Fans {
  int64_t in, out;
};
Fans fans(const Shape& weight_shape);

// Each overwrites t (under NoGrad) and returns it.
Tensor uniform_(const Tensor& t, double lo, double hi, Generator& gen);
Tensor normal_(const Tensor& t, double mean, double std, Generator& gen);
Tensor zeros_(const Tensor& t);
// gain = sqrt(2 / (1 + a^2)) (leaky_relu); PyTorch's Linear/Conv default is a = sqrt(5).
Tensor kaiming_uniform_(const Tensor& t, double a, Generator& gen);
Tensor kaiming_normal_(const Tensor& t, Generator& gen);  // fan_in, ReLU gain: std = sqrt(2 / fan_in)
Tensor xavier_uniform_(const Tensor& t, Generator& gen, double gain = 1.0);
Tensor xavier_normal_(const Tensor& t, Generator& gen, double gain = 1.0);

}  // namespace metaloss::init
