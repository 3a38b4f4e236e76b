// libFuzzer target: learned-loss files (meta/losses/learned_loss.cpp: safetensors + the JSON
// configuration in its metadata). An accepted loss evaluates on a small batch without crashing.
#include "engine/metaloss.h"
#include "fuzz_util.h"
#include "meta/losses/learned_loss.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = fuzz::as_file(data, size, ".safetensors");
  fuzz::expect_clean("fuzz_loss_file", [&] {
    auto loss = metaloss::losses::LearnedLoss::from_file(path);
    using metaloss::Tensor;
    const bool regression = loss->config().mode == metaloss::losses::LearnedLossConfig::Mode::Regression;
    const Tensor out = regression ? Tensor::zeros({2, 1}) : Tensor::zeros({2, 3});
    const Tensor y = regression ? Tensor::zeros({2, 1}) : Tensor::from_vector(std::vector<int64_t>{0, 2}, {2});
    (void)(*loss)(out, y).item();
  });
  return 0;
}
