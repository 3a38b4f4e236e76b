// libFuzzer target: the IDX readers (meta/data/idx.cpp) on plain or gzip bytes. Accepted images
// have the declared shape; nothing is inflated past the declared size.
#include "fuzz_util.h"
#include "meta/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // First byte picks the reader, so one corpus covers images and labels.
  const bool images = data[0] & 1;
  const std::string& path = fuzz::as_file(data + 1, size - 1, ".idx");
  fuzz::expect_clean("fuzz_idx", [&] {
    if (images) {
      const metaloss::Tensor t = metaloss::data::read_idx_images(path);
      if (t.dim() != 4 || t.size(1) != 1) fuzz::finding("fuzz_idx", "images are not [N, 1, H, W]");
    } else {
      const metaloss::Tensor t = metaloss::data::read_idx_labels(path);
      if (t.dim() != 1) fuzz::finding("fuzz_idx", "labels are not [N]");
    }
  });
  return 0;
}
