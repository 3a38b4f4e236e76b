#include "meta/data/augment.h"

#include <stdexcept>

namespace metaloss::data {

Tensor random_crop_flip(const Tensor& images, Generator& gen, int64_t pad, bool flip) {
  if (images.dtype() != DType::Float32 || images.dim() != 4 || pad < 0)
    throw std::invalid_argument("random_crop_flip: need float32 [N, C, H, W] and pad >= 0, got " + images.desc());
  const Tensor x = images.contiguous();
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  // Per image: vertical and horizontal window offsets in [0, 2 pad], and a flip bit.
  const Tensor draws = randint(0, 2 * pad + 1, {n, 2}, gen);
  const Tensor flips = randint(0, 2, {n}, gen);
  const int64_t* dp = draws.data<int64_t>();
  const int64_t* fp = flips.data<int64_t>();
  Tensor out = Tensor::zeros(x.shape());
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    // Output pixel (y, xo) reads input (y + dy, xs + dx) with xs = xo or its mirror; outside
    // the input it stays 0 (the padding).
    const int64_t dy = dp[i * 2] - pad, dx = dp[i * 2 + 1] - pad;
    const bool mirror = flip && fp[i] == 1;
    for (int64_t k = 0; k < c; ++k) {
      const float* plane = src + (i * c + k) * h * w;
      float* oplane = dst + (i * c + k) * h * w;
      for (int64_t y = 0; y < h; ++y) {
        const int64_t sy = y + dy;
        if (sy < 0 || sy >= h) continue;
        for (int64_t xo = 0; xo < w; ++xo) {
          const int64_t sx = (mirror ? w - 1 - xo : xo) + dx;
          if (sx >= 0 && sx < w) oplane[y * w + xo] = plane[sy * w + sx];
        }
      }
    }
  }
  return out;
}

}  // namespace metaloss::data
