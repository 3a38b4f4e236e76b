#include "meta/data/idx.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "meta/data/io.h"

namespace metaloss::data {

namespace {

uint32_t be32(const unsigned char* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// Checks the header against `magic` and the data length against the dims; returns the dims and
// points `data` at the first payload byte of `bytes`.
std::vector<int64_t> parse_idx(const std::string& path, const std::string& bytes, uint32_t magic, const char* what,
                               const unsigned char*& data) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 4) fail(path, "truncated: " + std::to_string(bytes.size()) + " bytes, too short for an IDX header");
  const uint32_t got = be32(p);
  if (got != magic) fail(path, "wrong magic number " + hex32(got) + " (expected " + hex32(magic) + " for an IDX " + what + " file)");
  const size_t ndims = magic & 0xff, header = 4 + 4 * ndims;
  if (bytes.size() < header) fail(path, "truncated: header needs " + std::to_string(header) + " bytes, file has " + std::to_string(bytes.size()));
  std::vector<int64_t> dims(ndims);
  size_t count = 1;
  for (size_t i = 0; i < ndims; ++i) {
    dims[i] = be32(p + 4 + 4 * i);
    if (dims[i] != 0 && count > SIZE_MAX / size_t(dims[i])) fail(path, "header dims overflow");
    count *= size_t(dims[i]);
  }
  const size_t have = bytes.size() - header;
  if (have < count) fail(path, "truncated: header promises " + std::to_string(count) + " data bytes, file has " + std::to_string(have));
  if (have > count) fail(path, std::to_string(have - count) + " unexpected bytes after the " + std::to_string(count) + " data bytes");
  data = p + header;
  return dims;
}

// The file's bytes, read only after its header's declared size passed two checks: within what the
// file can hold (a gzip inflates at most 1032 : 1) and, while decompressing, never past it.
std::string read_idx_file(const std::string& path, uint32_t magic) {
  const size_t ndims = magic & 0xff, header = 4 + 4 * ndims;
  const std::string head = read_file_head(path, header);
  if (head.size() < header) return head;  // parse_idx names the truncation
  const auto* p = reinterpret_cast<const unsigned char*>(head.data());
  if (be32(p) != magic) return head;  // parse_idx names the magic number
  uint64_t count = 1;
  for (size_t i = 0; i < ndims; ++i) {
    const uint64_t d = be32(p + 4 + 4 * i);
    if (d != 0 && count > (uint64_t(1) << 62) / d) fail(path, "header dims overflow");
    count *= d;
  }
  // A plain file is read no further than it is long (parse_idx then names the truncation); only
  // a gzip could inflate past its size.
  const uint64_t can_hold = max_content_bytes(path);
  if (can_hold != std::filesystem::file_size(path) && header + count > can_hold)
    fail(path, "header declares " + std::to_string(count) + " data bytes, more than a gzip file of " +
                   std::to_string(std::filesystem::file_size(path)) + " bytes can hold (at most 1032 : 1)");
  return read_file(path, size_t(header + count));
}

}  // namespace

Tensor read_idx_images(const std::string& path) {
  const std::string bytes = read_idx_file(path, 0x00000803);
  const unsigned char* src = nullptr;
  const std::vector<int64_t> d = parse_idx(path, bytes, 0x00000803, "image", src);
  Tensor t = Tensor::empty({d[0], 1, d[1], d[2]});
  float* dst = t.data<float>();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) dst[i] = float(src[i]) * (1.0f / 255.0f);
  return t;
}

Tensor read_idx_labels(const std::string& path) {
  const std::string bytes = read_idx_file(path, 0x00000801);
  const unsigned char* src = nullptr;
  const std::vector<int64_t> d = parse_idx(path, bytes, 0x00000801, "label", src);
  Tensor t = Tensor::empty({d[0]}, DType::Int64);
  int64_t* dst = t.data<int64_t>();
  for (int64_t i = 0; i < d[0]; ++i) dst[i] = src[i];
  return t;
}

Dataset read_idx_pair(const std::string& images_path, const std::string& labels_path) {
  Dataset d;
  d.inputs = read_idx_images(images_path);
  d.targets = read_idx_labels(labels_path);
  if (d.inputs.size(0) != d.targets.size(0))
    fail(labels_path, "label/image count mismatch: " + std::to_string(d.targets.size(0)) + " labels, but " + images_path +
                          " holds " + std::to_string(d.inputs.size(0)) + " images");
  const int64_t* lp = d.targets.data<int64_t>();
  d.num_classes = d.size() ? *std::max_element(lp, lp + d.size()) + 1 : 0;
  return d;
}

TrainTest load_idx_dataset(const std::string& dir) {
  require_dir(dir);
  auto find = [&](const std::string& stem) {
    const std::string gz = stem + ".gz";
    std::string p = find_first(dir, {stem.c_str(), gz.c_str()});
    if (p.empty()) fail(dir, "missing file " + stem + "[.gz]");
    return p;
  };
  // Named variables, not call arguments: the first missing file is reported, in a fixed order.
  const std::string train_images = find("train-images-idx3-ubyte"), train_labels = find("train-labels-idx1-ubyte");
  const std::string test_images = find("t10k-images-idx3-ubyte"), test_labels = find("t10k-labels-idx1-ubyte");
  TrainTest tt;
  tt.train = read_idx_pair(train_images, train_labels);
  tt.test = read_idx_pair(test_images, test_labels);
  if (tt.test.inputs.size(2) != tt.train.inputs.size(2) || tt.test.inputs.size(3) != tt.train.inputs.size(3))
    fail(test_images, "images are " + std::to_string(tt.test.inputs.size(2)) + " x " + std::to_string(tt.test.inputs.size(3)) +
                          " but the training images (" + train_images + ") are " + std::to_string(tt.train.inputs.size(2)) +
                          " x " + std::to_string(tt.train.inputs.size(3)));
  // A class missing from one part must not shrink the label space of the other.
  tt.train.num_classes = tt.test.num_classes = std::max(tt.train.num_classes, tt.test.num_classes);
  std::filesystem::path p(dir);
  if (!p.has_filename()) p = p.parent_path();  // "dir/"
  tt.train.name = tt.test.name = p.filename().string();
  return tt;
}

TrainTest load_fashion_mnist(const std::string& dir) {
  TrainTest tt = load_idx_dataset(dir);
  tt.train.name = tt.test.name = "fashion-mnist";
  return tt;
}

}  // namespace metaloss::data
