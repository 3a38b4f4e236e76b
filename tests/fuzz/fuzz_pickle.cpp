// libFuzzer target: the mini-ImageNet pickle reader (meta/data/pickle.cpp): nesting, memo
// cycles, frames and ndarray shapes from the file.
#include "fuzz_util.h"
#include "meta/data/fewshot.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = fuzz::as_file(data, size, ".pkl");
  fuzz::expect_clean("fuzz_pickle", [&] {
    auto d = metaloss::data::load_mini_imagenet_pickle(path);
    if (d->num_classes() < 1) fuzz::finding("fuzz_pickle", "accepted a dataset without classes");
  });
  return 0;
}
