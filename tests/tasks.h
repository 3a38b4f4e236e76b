// Small classification tasks shared by the search tests: three Gaussian blobs in 2-d, which a
// linear model learns in a few dozen steps.
#pragma once
#include <memory>

#include "engine/metaloss.h"
#include "meta/learn/task.h"
#include "models/layers.h"

namespace metaloss::testing {

inline data::Dataset blobs(int64_t n, uint64_t seed) {
  Generator g(seed);
  Tensor labels = randint(0, 3, Shape{n}, g);
  const Tensor centres = Tensor::from_vector(std::vector<double>{0, 3, 3, 0, -3, -3}, Shape{3, 2}, DType::Float32);
  Tensor x = add(index_select(centres, 0, labels), mul(randn(Shape{n, 2}, DType::Float32, g), 0.7));
  return data::Dataset{x, labels, 3, "blobs"};
}

inline learn::LearnTask blob_task(int64_t train = 512, int64_t valid = 256) {
  return learn::LearnTask{blobs(train, 1), blobs(valid, 2), [](Generator& gen) {
                            auto m = std::make_shared<Sequential>();
                            m->push_back(std::make_shared<Linear>(2, 3, true, gen));
                            return std::static_pointer_cast<Module>(m);
                          }};
}

}  // namespace metaloss::testing
