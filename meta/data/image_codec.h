// 8-bit image decoding and encoding for the few-shot readers: PNG through libpng's simplified
// API, JPEG through libjpeg(-turbo), and area-averaging resize. Internal to meta/data.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace metaloss::data {

struct Image8 {
  int64_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // HWC, row-major
};

// Decodes a PNG or JPEG (picked by the signature, not the name) to `channels` (1: grey, 3: RGB)
// 8-bit channels; transparency is composited onto white. Throws "<path>: ..." on corrupt data.
Image8 decode_image(const std::string& bytes, const std::string& path, int channels);

// Writes an 8-bit grey (1 channel) or RGB (3 channels) PNG.
void write_png(const std::string& path, const Image8& image);

// Resizes to size x size by area averaging (each output pixel is the mean of the input area it
// covers, fractional pixels weighted) and returns the result as CHW bytes.
std::vector<uint8_t> resize_area_chw(const Image8& image, int64_t size);

}  // namespace metaloss::data
