// Writes one valid seed file per fuzz target into DIR/<target>/ (scripts/fuzz.sh), with the
// project's own writers where it has them, so that the fuzzers start from inputs that pass every
// check and mutate from there. Usage: make_seeds DIR
// jpeglib.h needs FILE and size_t declared first.
#include <cstdio>
#include <cstdlib>

#include <jpeglib.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/metaloss.h"
#include "meta/data/image_codec.h"
#include "meta/losses/learned_loss.h"
#include "meta/losses/loss_file.h"
#include "models/safetensors.h"

namespace fs = std::filesystem;
using namespace metaloss;

namespace {
void put(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}
std::string file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}
std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16 & 0xff), char(v >> 8 & 0xff), char(v & 0xff)}; }
std::string gzip(const std::string& s) {
  const std::string tmp = fs::temp_directory_path() / "metaloss-seed.gz";
  gzFile f = gzopen(tmp.c_str(), "wb");
  gzwrite(f, s.data(), unsigned(s.size()));
  gzclose(f);
  return file(tmp);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  const fs::path dir = argv[1];
  for (const char* t : {"safetensors", "idx", "csv", "image", "config", "loss_file"}) fs::create_directories(dir / t);
  // safetensors: three dtypes, metadata and a checksum.
  save_safetensors((dir / "safetensors/model.safetensors").string(),
                   {{"w", Tensor::arange(0, 6)}, {"i", Tensor::from_vector(std::vector<int64_t>{1, 2}, {2})},
                    {"d", Tensor::ones({2, 2}, DType::Float64)}},
                   {{"model", "seed"}}, true);
  // IDX: first byte picks images (odd) or labels; plain and gzip.
  std::string img = be32(0x803) + be32(2) + be32(3) + be32(3);
  for (int k = 0; k < 18; ++k) img += char(k * 13);
  const std::string lab = be32(0x801) + be32(2) + std::string("\x01\x07", 2);
  put(dir / "idx/images", "\x01" + img);
  put(dir / "idx/images-gz", "\x01" + gzip(img));
  put(dir / "idx/labels", std::string("\x00", 1) + lab);
  // CSV: header + commas (first byte 2), whitespace without header (1).
  put(dir / "csv/header", "\x02" "a,b,y\n1,2.5,-3\n4,5e1,6\n");
  put(dir / "csv/spaces", "\x01" "1 2\t3\n4 5 6\n");
  // Pickles: scripts/fuzz.sh writes them with Python (pickle + numpy, as the real files were made).
  // Images: a PNG from the project's writer and a JPEG from libjpeg (first byte: 3 channels).
  data::Image8 im{4, 3, 3, std::vector<uint8_t>(36)};
  for (size_t k = 0; k < im.pixels.size(); ++k) im.pixels[k] = uint8_t(k * 7);
  const fs::path png = dir / "image/tmp.png";
  fs::create_directories(png.parent_path());
  data::write_png(png.string(), im);
  put(dir / "image/rgb.png", "\x01" + file(png));
  fs::remove(png);
  {
    jpeg_compress_struct c;
    jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char* buf = nullptr;
    unsigned long len = 0;
    jpeg_mem_dest(&c, &buf, &len);
    c.image_width = 4, c.image_height = 3, c.input_components = 3, c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
      JSAMPROW row = im.pixels.data() + c.next_scanline * 12;
      jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    put(dir / "image/rgb.jpg", "\x01" + std::string(reinterpret_cast<char*>(buf), len));
    jpeg_destroy_compress(&c);
    std::free(buf);
  }
  // --config JSON.
  put(dir / "config/train.json", R"({"model": "logistic", "steps": 3, "lr": 0.5, "shuffle": false})");
  put(dir / "config/train.yaml", "---\n# a run\nmodel: logistic\nsteps: 3   # short\nlr: 0.5\nshuffle: false\nloss: \"ce\"\n");
  // Learned-loss files: ML3 classification and AdaLFL regression.
  Generator g(1);
  losses::LearnedLoss::ml3(losses::LearnedLossConfig::Mode::Classification, g)->save((dir / "loss_file/ml3.safetensors").string());
  losses::LearnedLoss::adalfl(losses::LearnedLossConfig::Mode::Regression, g)->save((dir / "loss_file/adalfl.safetensors").string());
  // And one of each other kind in the loss-file format.
  losses::save_loss_file((dir / "loss_file/evomal.safetensors").string(),
                         losses::parse_loss_spec("mul(-1, mul(y, log(f))) @ [1, 1, 1.5, 1, 0.5]"));
  losses::save_loss_file((dir / "loss_file/taylorglo.safetensors").string(),
                         losses::parse_loss_spec("taylorglo(0, 0, -1, 0.5, 0, 0.2, 0, 0)"));
  std::printf("seeds in %s\n", dir.c_str());
  return 0;
}
