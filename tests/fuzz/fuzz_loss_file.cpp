// libFuzzer target: learned-loss files (meta/losses/loss_file.cpp over safetensors, with the
// network configuration of meta/losses/learned_loss.cpp). An accepted loss of any kind evaluates
// on a small batch without crashing.
#include "engine/metaloss.h"
#include "fuzz_util.h"
#include "meta/losses/loss_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = fuzz::as_file(data, size, ".safetensors");
  fuzz::expect_clean("fuzz_loss_file", [&] {
    const metaloss::losses::LossFile f = metaloss::losses::load_loss_file(path);
    using metaloss::Tensor;
    if (f.network) f.network->to(metaloss::DType::Float32);
    const Tensor out = f.regression ? Tensor::zeros({2, 1}) : Tensor::zeros({2, 3});
    const Tensor y = f.regression ? Tensor::zeros({2, 1}) : Tensor::from_vector(std::vector<int64_t>{0, 2}, {2});
    (void)f.function()(out, y).item();
    (void)f.formula();
  });
  return 0;
}
