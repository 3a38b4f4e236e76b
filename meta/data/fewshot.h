// Few-shot data: datasets of many classes, class-disjoint splits and the seeded episodic sampler
// (N-way K-shot tasks with Q query examples per class).
//
// A FewShotDataset serves one example at a time (class, index within the class) as float32
// [C, H, W] in [0, 1]; the sampler assembles episodes from it. The Kanji set renders its examples
// on demand from stroke data (6,394 classes x any number of jittered samples would not fit in
// memory pre-rendered); the file readers hold their images.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace metaloss::data {

class FewShotDataset {
 public:
  virtual ~FewShotDataset() = default;
  virtual std::string name() const = 0;
  virtual int64_t num_classes() const = 0;
  virtual int64_t samples_per_class(int64_t cls) const = 0;
  virtual int64_t channels() const = 0;
  virtual int64_t height() const = 0;
  virtual int64_t width() const = 0;
  // Writes example `index` of class `cls` (channels*height*width floats in [0, 1], CHW order) to
  // out. Deterministic: the same (cls, index) always gives the same image. Thread-safe.
  virtual void sample(int64_t cls, int64_t index, float* out) const = 0;
  // A short label for class `cls` (the kanji character, the Omniglot "alphabet/character", the
  // mini-ImageNet synset), for listings and the sample grid.
  virtual std::string class_name(int64_t cls) const = 0;
};

// Class-disjoint meta-train / meta-validation / meta-test splits (class ids of a dataset).
struct ClassSplits {
  std::vector<int64_t> train, valid, test;
};

// One N-way K-shot task. Labels are 0..N-1 in the order of `classes` (the dataset's class ids);
// support and query are grouped by class (all shots of label 0, then label 1, ...).
struct Episode {
  Tensor support_x;  // float32 [N*K, C, H, W]
  Tensor support_y;  // int64   [N*K]
  Tensor query_x;    // float32 [N*Q, C, H, W]
  Tensor query_y;    // int64   [N*Q]
  std::vector<int64_t> classes;
};

// The episode's four tensors on `device`: one copy of each per episode. The few-shot sets stay on
// the host (uint8 or rendered on demand: mini-ImageNet is 5 GB as float), so an episode is built
// there and moved in one piece, as a PyTorch DataLoader's batch is.
Episode to_device(const Episode& e, Device device);

// Episodes from `classes` of `dataset`: episode i depends only on (seed, i), so the 600 test tasks
// are the same for every method and every run with the same seed. Classes and examples are drawn
// without replacement within an episode; throws std::invalid_argument naming the dataset, the class
// and the numbers when a class has fewer than shots + queries examples or there are fewer than
// `ways` classes.
class EpisodeSampler {
 public:
  EpisodeSampler(std::shared_ptr<const FewShotDataset> dataset, std::vector<int64_t> classes, int64_t ways,
                 int64_t shots, int64_t queries, uint64_t seed);
  Episode episode(int64_t index) const;
  int64_t ways() const { return ways_; }
  int64_t shots() const { return shots_; }
  int64_t queries() const { return queries_; }
  const FewShotDataset& dataset() const { return *dataset_; }

 private:
  std::shared_ptr<const FewShotDataset> dataset_;
  std::vector<int64_t> classes_;
  int64_t ways_, shots_, queries_;
  uint64_t seed_;
};

// ---- Kanji: strokes of Debian's python3-kanjidraw rendered to grey images --------------------
struct KanjiOptions {
  int64_t size = 28;               // output images are size x size
  int64_t samples_per_class = 20;  // distinct "handwritten" samples per character (Omniglot: 20)
  uint64_t seed = 0;               // the jitter of sample (cls, i) flows from (seed, cls, i)
  double endpoint_jitter = 6.0;    // std of stroke end point jitter, in canvas units (0..255)
  double width_min = 1.2, width_max = 2.2;  // stroke width range in output pixels
  double rotation_deg = 8.0, scale_jitter = 0.08, shear = 0.08, translate = 0.06;  // random affine
};
// The default location of data.json from python3-kanjidraw.
std::string default_kanji_path();
// Characters in file order (stroke count, then the file's order within a count). Throws naming
// the file and the position when the JSON is malformed or a stroke is not 4 numbers in [0, 255].
std::shared_ptr<FewShotDataset> load_kanji(const std::string& path, const KanjiOptions& options = {});
// The documented fixed split of the kanji classes: a permutation of all classes by a fixed seed
// (20241128), the first 4,000 for meta-training, the next 800 for meta-validation, the rest
// (1,594 for the full file) for meta-testing. For other class counts the same proportions.
ClassSplits kanji_splits(int64_t num_classes);

// ---- Readers for the common benchmark formats ------------------------------------------------
// Omniglot "images_background"/"images_evaluation" layout: ROOT/ALPHABET/CHARACTER/*.png (105x105
// greyscale; strokes dark on white). Every character folder is a class; images are resized to
// size x size (area averaging) and inverted so that strokes are bright, as the Kanji set.
std::shared_ptr<FewShotDataset> load_omniglot_folder(const std::string& root, int64_t size = 28);
// mini-ImageNet as image folders ROOT/SYNSET/*.jpg|*.png (RGB, resized to size x size).
std::shared_ptr<FewShotDataset> load_image_folder(const std::string& root, int64_t size = 84);
// mini-ImageNet as the commonly shared pickles (mini-imagenet-cache-{train,val,test}.pkl): a dict
// with 'image_data' (uint8 numpy array [N, 84, 84, 3]) and 'class_dict' (synset -> list of row
// indices). Throws naming the file and what was expected on any other content.
std::shared_ptr<FewShotDataset> load_mini_imagenet_pickle(const std::string& path);

// Writes a grid of samples (rows: classes, columns: samples) as an 8-bit PNG, for the docs.
void write_sample_grid_png(const FewShotDataset& d, const std::vector<int64_t>& classes, int64_t samples_per_row,
                           const std::string& path, int64_t scale = 2);

}  // namespace metaloss::data
