// Few-shot datasets from image files: Omniglot's ALPHABET/CHARACTER folders of PNGs, image
// folders (mini-ImageNet as JPEG/PNG), and the PNG sample grid for the docs.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "meta/data/image_codec.h"
#include "meta/data/image_store.h"
#include "meta/data/io.h"

namespace fs = std::filesystem;

namespace metaloss::data {

ImageStore::ImageStore(std::string name, int64_t C, int64_t H, int64_t W, bool hwc,
                       std::shared_ptr<const std::string> bytes, size_t offset, std::vector<std::vector<int64_t>> rows,
                       std::vector<std::string> class_names)
    : name_(std::move(name)),
      C_(C),
      H_(H),
      W_(W),
      hwc_(hwc),
      bytes_(std::move(bytes)),
      base_(reinterpret_cast<const unsigned char*>(bytes_->data()) + offset),
      rows_(std::move(rows)),
      names_(std::move(class_names)) {}

void ImageStore::sample(int64_t cls, int64_t index, float* out) const {
  const int64_t row = rows_.at(size_t(cls)).at(size_t(index)), HW = H_ * W_;
  const unsigned char* src = base_ + row * C_ * HW;
  if (!hwc_) {
    for (int64_t k = 0; k < C_ * HW; ++k) out[k] = float(src[k]) * (1.0f / 255.0f);
    return;
  }
  for (int64_t p = 0; p < HW; ++p)
    for (int64_t c = 0; c < C_; ++c) out[c * HW + p] = float(src[p * C_ + c]) * (1.0f / 255.0f);
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// Entries of dir (folders or files with one of `exts`), sorted by name so that class ids and
// sample order do not depend on the file system.
std::vector<fs::path> sorted_entries(const fs::path& dir, bool folders, std::initializer_list<const char*> exts = {}) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (folders ? !e.is_directory() : !e.is_regular_file()) continue;
    const std::string ext = lower(e.path().extension().string());
    if (folders || std::any_of(exts.begin(), exts.end(), [&](const char* x) { return ext == x; }))
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// One class per folder in `class_dirs`: every image decoded, resized to size x size and
// appended to one byte buffer.
std::shared_ptr<FewShotDataset> load_classes(const std::string& name, const std::vector<fs::path>& class_dirs,
                                             const std::vector<std::string>& class_names, int channels, int64_t size,
                                             bool invert, std::initializer_list<const char*> exts,
                                             const std::string& wanted) {
  auto bytes = std::make_shared<std::string>();
  std::vector<std::vector<int64_t>> rows(class_dirs.size());
  int64_t next = 0;
  for (size_t c = 0; c < class_dirs.size(); ++c) {
    const auto files = sorted_entries(class_dirs[c], false, exts);
    if (files.empty()) fail(class_dirs[c].string(), "no " + wanted + " files in this class folder");
    for (const fs::path& f : files) {
      std::vector<uint8_t> px = resize_area_chw(decode_image(read_file(f.string()), f.string(), channels), size);
      if (invert)
        for (uint8_t& v : px) v = uint8_t(255 - v);
      bytes->append(px.begin(), px.end());
      rows[c].push_back(next++);
    }
  }
  return std::make_shared<ImageStore>(name, channels, size, size, false, std::move(bytes), 0, std::move(rows),
                                      class_names);
}

void check_size(const std::string& where, int64_t size) {
  if (size < 1) throw std::invalid_argument(where + ": image size must be >= 1, got " + std::to_string(size));
}

}  // namespace

std::shared_ptr<FewShotDataset> load_omniglot_folder(const std::string& root, int64_t size) {
  check_size(root, size);
  require_dir(root);
  std::vector<fs::path> dirs;
  std::vector<std::string> names;
  for (const fs::path& alphabet : sorted_entries(root, true))
    for (const fs::path& character : sorted_entries(alphabet, true)) {
      dirs.push_back(character);
      names.push_back(alphabet.filename().string() + "/" + character.filename().string());
    }
  if (dirs.empty()) fail(root, "no character folders (expected ROOT/ALPHABET/CHARACTER/*.png)");
  // Omniglot draws dark strokes on white; inverted, strokes are bright as in the Kanji set.
  return load_classes("omniglot:" + root, dirs, names, 1, size, true, {".png"}, ".png");
}

std::shared_ptr<FewShotDataset> load_image_folder(const std::string& root, int64_t size) {
  check_size(root, size);
  require_dir(root);
  const std::vector<fs::path> dirs = sorted_entries(root, true);
  if (dirs.empty()) fail(root, "no class folders (expected ROOT/CLASS/*.jpg|*.jpeg|*.png)");
  std::vector<std::string> names;
  for (const fs::path& d : dirs) names.push_back(d.filename().string());
  return load_classes("image-folder:" + root, dirs, names, 3, size, false, {".jpg", ".jpeg", ".png"},
                      ".jpg/.jpeg/.png");
}

void write_sample_grid_png(const FewShotDataset& d, const std::vector<int64_t>& classes, int64_t samples_per_row,
                           const std::string& path, int64_t scale) {
  const int64_t C = d.channels(), H = d.height(), W = d.width();
  if (C != 1 && C != 3)
    fail(path, "sample grid needs 1 or 3 channels, dataset " + d.name() + " has " + std::to_string(C));
  if (classes.empty() || samples_per_row < 1 || scale < 1)
    throw std::invalid_argument(path + ": sample grid needs >= 1 class, >= 1 sample per row and scale >= 1");
  // Cells of (H x W) * scale, separated by 1-pixel mid-grey lines (visible on black and white).
  const int64_t cw = W * scale, ch = H * scale;
  Image8 grid;
  grid.channels = C;
  grid.width = samples_per_row * (cw + 1) - 1;
  grid.height = int64_t(classes.size()) * (ch + 1) - 1;
  grid.pixels.assign(size_t(grid.width * grid.height * C), 128);
  std::vector<float> img(size_t(C * H * W));
  for (size_t r = 0; r < classes.size(); ++r)
    for (int64_t j = 0; j < samples_per_row; ++j) {
      const bool have = j < d.samples_per_class(classes[r]);  // short classes leave black cells
      if (have) d.sample(classes[r], j, img.data());
      for (int64_t y = 0; y < ch; ++y)
        for (int64_t x = 0; x < cw; ++x)
          for (int64_t c = 0; c < C; ++c) {
            const float v = have ? img[size_t((c * H + y / scale) * W + x / scale)] : 0.0f;
            const int64_t gy = int64_t(r) * (ch + 1) + y, gx = j * (cw + 1) + x;
            grid.pixels[size_t((gy * grid.width + gx) * C + c)] =
                uint8_t(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f));
          }
    }
  write_png(path, grid);
}

}  // namespace metaloss::data
