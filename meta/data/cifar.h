// CIFAR-10 / CIFAR-100 binary versions. Each record is the label byte(s) then 3072 image bytes
// (1024 red, 1024 green, 1024 blue, each 32x32 row-major), i.e. already [C, H, W].
//   CIFAR-10:  data_batch_1.bin .. data_batch_5.bin, test_batch.bin; 1 label byte.
//   CIFAR-100: train.bin, test.bin; a coarse then a fine label byte (we use the fine label).
#pragma once
#include <string>
#include <vector>

#include "meta/data/dataset.h"

namespace metaloss::data {

// Records of `files` concatenated: inputs float32 [N, 3, 32, 32] in [0, 1], targets int64 [N].
// label_bytes is 1 (CIFAR-10) or 2 (CIFAR-100, the last byte is the label used).
Dataset read_cifar_files(const std::vector<std::string>& files, int label_bytes, int64_t num_classes);

// dir may be the folder holding the .bin files or the one the archive unpacks into
// (cifar-10-batches-bin/, cifar-100-binary/) is looked for inside it.
TrainTest load_cifar10(const std::string& dir);
TrainTest load_cifar100(const std::string& dir);

}  // namespace metaloss::data
