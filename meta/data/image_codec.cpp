#include "meta/data/image_codec.h"

#include <png.h>
// jpeglib.h needs FILE and size_t declared first.
#include <cstdio>

#include <jpeglib.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>

#include "meta/data/io.h"

namespace metaloss::data {

namespace {

// Few-shot images are resized to tens of pixels; a header declaring more than this many pixels
// (8192 x 8192) is refused before the pixel buffer is allocated (a 543-byte JPEG can declare
// 30000 x 30000).
constexpr uint64_t kMaxImagePixels = uint64_t(1) << 26;

void check_declared_size(const std::string& path, const char* format, uint64_t width, uint64_t height) {
  if (width == 0 || height == 0 || width * height > kMaxImagePixels)
    fail(path, std::string(format) + " declares " + std::to_string(width) + " x " + std::to_string(height) +
                   " pixels (expected at least 1 x 1 and at most " + std::to_string(kMaxImagePixels) + " pixels)");
}

Image8 decode_png(const std::string& bytes, const std::string& path, int channels) {
  png_image im{};
  im.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&im, bytes.data(), bytes.size()))
    fail(path, std::string("corrupt PNG: ") + im.message);
  // libpng converts any colour type and bit depth (1-bit Omniglot, palette, 16-bit) to this.
  im.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  if (uint64_t(im.width) * im.height == 0 || uint64_t(im.width) * im.height > kMaxImagePixels) {
    png_image_free(&im);
    check_declared_size(path, "PNG", im.width, im.height);
  }
  Image8 img{im.width, im.height, channels, std::vector<uint8_t>(PNG_IMAGE_SIZE(im))};
  const png_color white{255, 255, 255};
  if (!png_image_finish_read(&im, &white, img.pixels.data(), 0, nullptr)) {
    const std::string message = im.message;
    png_image_free(&im);
    fail(path, "corrupt PNG: " + message);
  }
  return img;
}

// libjpeg reports errors through a callback that must not return; the classic setjmp/longjmp
// pattern gets back here (a C++ exception must not unwind through the C library).
struct JpegErrors {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_on_error(j_common_ptr c) {
  auto* e = reinterpret_cast<JpegErrors*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}

// Warnings (level -1) are corrupt-data reports such as "Premature end of JPEG file": a truncated
// file must fail rather than decode to a grey-filled image.
void jpeg_on_message(j_common_ptr c, int level) {
  if (level < 0) jpeg_on_error(c);
}

// `img` lives in the caller's frame, so nothing this function changes is lost by a longjmp.
bool decode_jpeg_into(const std::string& bytes, int channels, Image8& img, JpegErrors& err, bool& too_large) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_on_error;
  err.mgr.emit_message = jpeg_on_message;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  img.width = cinfo.image_width;  // reported by the caller: no exception may cross libjpeg
  img.height = cinfo.image_height;
  if (uint64_t(img.width) * uint64_t(img.height) == 0 || uint64_t(img.width) * uint64_t(img.height) > kMaxImagePixels) {
    too_large = true;
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  cinfo.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  img.width = cinfo.output_width;
  img.height = cinfo.output_height;
  img.channels = channels;
  img.pixels.resize(size_t(img.width * img.height * channels));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = img.pixels.data() + size_t(cinfo.output_scanline) * size_t(img.width * channels);
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

struct Tap {
  int64_t src;
  double weight;
};

// For each of `out` output pixels, the input pixels its area covers and their weights (sum 1).
std::vector<std::vector<Tap>> area_taps(int64_t in, int64_t out) {
  std::vector<std::vector<Tap>> taps(static_cast<size_t>(out));
  const double step = double(in) / double(out);
  for (int64_t o = 0; o < out; ++o) {
    const double lo = double(o) * step, hi = double(o + 1) * step;
    for (int64_t s = int64_t(std::floor(lo)); s < in && double(s) < hi; ++s) {
      const double w = std::min(hi, double(s + 1)) - std::max(lo, double(s));
      if (w > 1e-9) taps[size_t(o)].push_back({s, w / step});
    }
  }
  return taps;
}

}  // namespace

Image8 decode_image(const std::string& bytes, const std::string& path, int channels) {
  if (bytes.size() >= 8 && png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) == 0)
    return decode_png(bytes, path, channels);
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
      static_cast<unsigned char>(bytes[1]) == 0xD8) {
    Image8 img;
    JpegErrors err;
    bool too_large = false;
    if (!decode_jpeg_into(bytes, channels, img, err, too_large)) {
      if (too_large) check_declared_size(path, "JPEG", uint64_t(img.width), uint64_t(img.height));
      fail(path, std::string("corrupt JPEG: ") + err.message);
    }
    return img;
  }
  fail(path, "not a PNG or JPEG file (unknown signature)");
}

void write_png(const std::string& path, const Image8& image) {
  png_image im{};
  im.version = PNG_IMAGE_VERSION;
  im.width = png_uint_32(image.width);
  im.height = png_uint_32(image.height);
  im.format = image.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&im, path.c_str(), 0, image.pixels.data(), 0, nullptr))
    fail(path, std::string("cannot write PNG: ") + im.message);
}

std::vector<uint8_t> resize_area_chw(const Image8& image, int64_t size) {
  const int64_t C = image.channels, W = image.width;
  const auto tx = area_taps(image.width, size), ty = area_taps(image.height, size);
  std::vector<uint8_t> out(size_t(C * size * size));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < size; ++y)
      for (int64_t x = 0; x < size; ++x) {
        double sum = 0;
        for (const Tap& a : ty[size_t(y)])
          for (const Tap& b : tx[size_t(x)])
            sum += a.weight * b.weight * image.pixels[size_t((a.src * W + b.src) * C + c)];
        out[size_t((c * size + y) * size + x)] = uint8_t(std::clamp(std::lround(sum), 0L, 255L));
      }
  return out;
}

}  // namespace metaloss::data
