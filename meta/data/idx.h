// IDX files (the MNIST format), plain or gzip: big-endian magic 0x0000 08 <ndims>, then ndims
// big-endian uint32 dims, then uint8 data. Images are 0x00000803 [N, rows, cols], labels
// 0x00000801 [N].
#pragma once
#include <string>

#include "meta/data/dataset.h"

namespace metaloss::data {

// Debian's dataset-fashion-mnist installs the four .gz files here.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// float32 [N, 1, rows, cols] scaled to [0, 1].
Tensor read_idx_images(const std::string& path);
// int64 [N].
Tensor read_idx_labels(const std::string& path);
// An image file and its label file as one dataset; the counts must agree.
Dataset read_idx_pair(const std::string& images_path, const std::string& labels_path);

// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte in dir, each plain or with .gz (so MNIST and Fashion-MNIST both work).
TrainTest load_idx_dataset(const std::string& dir);
TrainTest load_fashion_mnist(const std::string& dir = kFashionMnistDir);

}  // namespace metaloss::data
