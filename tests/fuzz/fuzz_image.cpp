// libFuzzer target: PNG and JPEG decoding (meta/data/image_codec.cpp). Accepted images hold
// exactly width x height x channels bytes, within the declared-size limit.
#include "fuzz_util.h"
#include "meta/data/image_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int channels = data[0] & 1 ? 3 : 1;
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  fuzz::expect_clean("fuzz_image", [&] {
    const metaloss::data::Image8 im = metaloss::data::decode_image(bytes, "fuzz.img", channels);
    if (im.pixels.size() != size_t(im.width * im.height * channels)) fuzz::finding("fuzz_image", "pixel buffer size");
  });
  return 0;
}
