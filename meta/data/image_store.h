// A FewShotDataset over 8-bit images held in memory (the file readers' common back end): the
// bytes stay uint8 (mini-ImageNet is 1.3 GB that way, 5 GB as float) and sample() converts.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "meta/data/fewshot.h"

namespace metaloss::data {

class ImageStore final : public FewShotDataset {
 public:
  // `bytes` holds the images, row r at bytes + offset + r * C*H*W, each CHW (or HWC when hwc).
  // rows[c] lists the rows of class c.
  ImageStore(std::string name, int64_t C, int64_t H, int64_t W, bool hwc, std::shared_ptr<const std::string> bytes,
             size_t offset, std::vector<std::vector<int64_t>> rows, std::vector<std::string> class_names);
  std::string name() const override { return name_; }
  int64_t num_classes() const override { return int64_t(rows_.size()); }
  int64_t samples_per_class(int64_t cls) const override { return int64_t(rows_.at(size_t(cls)).size()); }
  int64_t channels() const override { return C_; }
  int64_t height() const override { return H_; }
  int64_t width() const override { return W_; }
  std::string class_name(int64_t cls) const override { return names_.at(size_t(cls)); }
  void sample(int64_t cls, int64_t index, float* out) const override;

 private:
  std::string name_;
  int64_t C_, H_, W_;
  bool hwc_;
  std::shared_ptr<const std::string> bytes_;
  const unsigned char* base_;
  std::vector<std::vector<int64_t>> rows_;
  std::vector<std::string> names_;
};

}  // namespace metaloss::data
