#include "meta/data/cifar.h"

#include <filesystem>

#include "meta/data/io.h"

namespace metaloss::data {

namespace {

constexpr int64_t kImageBytes = 3 * 32 * 32;

// The archive's own subfolder when present, else dir itself.
std::string resolve(const std::string& dir, const char* archive_subdir) {
  require_dir(dir);
  const auto sub = std::filesystem::path(dir) / archive_subdir;
  std::error_code ec;
  return std::filesystem::is_directory(sub, ec) ? sub.string() : dir;
}

std::string need(const std::string& dir, const char* name) {
  std::string p = find_first(dir, {name});
  if (p.empty()) fail(dir, std::string("missing file ") + name);
  return p;
}

}  // namespace

Dataset read_cifar_files(const std::vector<std::string>& files, int label_bytes, int64_t num_classes) {
  const int64_t record = label_bytes + kImageBytes;
  std::vector<std::string> contents;
  int64_t n = 0;
  for (const std::string& f : files) {
    contents.push_back(read_file(f));
    const int64_t size = int64_t(contents.back().size());
    if (size == 0 || size % record != 0)
      fail(f, "truncated: " + std::to_string(size) + " bytes is not a whole number of " + std::to_string(record) + "-byte records");
    n += size / record;
  }
  Dataset d;
  d.num_classes = num_classes;
  d.inputs = Tensor::empty({n, 3, 32, 32});
  d.targets = Tensor::empty({n}, DType::Int64);
  float* x = d.inputs.data<float>();
  int64_t* y = d.targets.data<int64_t>();
  int64_t i = 0;
  for (size_t k = 0; k < files.size(); ++k) {
    const auto* p = reinterpret_cast<const unsigned char*>(contents[k].data());
    const int64_t records = int64_t(contents[k].size()) / record;
    for (int64_t r = 0; r < records; ++r, ++i, p += record) {
      const int64_t label = p[label_bytes - 1];
      if (label >= num_classes)
        fail(files[k], "label " + std::to_string(label) + " of record " + std::to_string(r) + " is outside [0, " +
                           std::to_string(num_classes) + ")");
      y[i] = label;
      const unsigned char* src = p + label_bytes;
      float* dst = x + i * kImageBytes;
      for (int64_t j = 0; j < kImageBytes; ++j) dst[j] = float(src[j]) * (1.0f / 255.0f);
    }
    contents[k] = std::string();  // free the raw bytes as soon as they are converted
  }
  return d;
}

TrainTest load_cifar10(const std::string& dir) {
  const std::string d = resolve(dir, "cifar-10-batches-bin");
  std::vector<std::string> train;
  for (int b = 1; b <= 5; ++b) train.push_back(need(d, ("data_batch_" + std::to_string(b) + ".bin").c_str()));
  const std::string test = need(d, "test_batch.bin");  // all files found before any is read
  TrainTest tt{read_cifar_files(train, 1, 10), read_cifar_files({test}, 1, 10)};
  tt.train.name = tt.test.name = "cifar10";
  return tt;
}

TrainTest load_cifar100(const std::string& dir) {
  const std::string d = resolve(dir, "cifar-100-binary");
  const std::string train = need(d, "train.bin"), test = need(d, "test.bin");
  TrainTest tt{read_cifar_files({train}, 2, 100), read_cifar_files({test}, 2, 100)};
  tt.train.name = tt.test.name = "cifar100";
  return tt;
}

}  // namespace metaloss::data
