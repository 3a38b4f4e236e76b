// Per-batch image augmentation: random crop with zero padding, then random horizontal flip.
#pragma once
#include <cstdint>

#include "engine/random.h"
#include "engine/tensor.h"

namespace metaloss::data {

// For each image of float32 [N, C, H, W]: pad by `pad` on every side with zeros, crop an H x W
// window at a uniformly random offset, and mirror it left-right with probability 1/2 when `flip`.
// All draws come from gen (two per image for the offsets, one for the flip), so a seeded
// generator gives the same batch every time. Applied after normalisation the zero padding is the
// training mean, which is what the network sees most often anyway.
Tensor random_crop_flip(const Tensor& images, Generator& gen, int64_t pad = 4, bool flip = true);

}  // namespace metaloss::data
