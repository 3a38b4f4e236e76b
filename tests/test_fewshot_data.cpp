// Few-shot data: the episodic sampler, the Kanji stroke set (JSON reader, renderer, splits), the
// Omniglot / image-folder / mini-ImageNet pickle readers on small files written here, and the
// sample grid. METALOSS_KANJI_GRID=FILE.png regenerates docs/plots/kanji-samples.png.
#include <doctest/doctest.h>
#include <png.h>
// jpeglib.h needs FILE and size_t declared first.
#include <cstdio>

#include <jpeglib.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include "meta/data/data.h"
#include "meta/data/image_codec.h"
#include "temp_dir.h"

using namespace metaloss;
using namespace metaloss::data;
namespace fs = std::filesystem;

using metaloss::testing::TempDir;

namespace {

doctest::Contains contains(const std::string& s) { return doctest::Contains(s.c_str()); }

void write_bytes(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// An 8-bit PNG (channels 1 grey, 3 RGB, 4 RGBA) of HWC pixels.
void write_png_file(const std::string& path, int w, int h, int channels, const std::vector<uint8_t>& px) {
  fs::create_directories(fs::path(path).parent_path());
  png_image im{};
  im.version = PNG_IMAGE_VERSION;
  im.width = png_uint_32(w);
  im.height = png_uint_32(h);
  im.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  REQUIRE(png_image_write_to_file(&im, path.c_str(), 0, px.data(), 0, nullptr));
}

void write_jpeg_file(const std::string& path, int w, int h, const std::vector<uint8_t>& rgb) {
  fs::create_directories(fs::path(path).parent_path());
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f);
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = JDIMENSION(w);
  c.image_height = JDIMENSION(h);
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 100, TRUE);
  jpeg_start_compress(&c, TRUE);
  for (int y = 0; y < h; ++y) {
    JSAMPROW row = const_cast<uint8_t*>(rgb.data()) + size_t(y) * size_t(w) * 3;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::fclose(f);
}

std::vector<float> render(const FewShotDataset& d, int64_t cls, int64_t i) {
  std::vector<float> v(size_t(d.channels() * d.height() * d.width()));
  d.sample(cls, i, v.data());
  return v;
}

double correlation(const std::vector<float>& a, const std::vector<float>& b) {
  const double n = double(a.size());
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n, mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double ab = 0, aa = 0, bb = 0;
  for (size_t k = 0; k < a.size(); ++k)
    ab += (a[k] - ma) * (b[k] - mb), aa += (a[k] - ma) * (a[k] - ma), bb += (b[k] - mb) * (b[k] - mb);
  return ab / std::sqrt(aa * bb + 1e-12);
}

// A synthetic dataset: sample i of class c is a constant image of value (100 c + i) / 1e4, so
// every image in an episode names where it came from.
class ToyDataset final : public FewShotDataset {
 public:
  explicit ToyDataset(std::vector<int64_t> counts) : counts_(std::move(counts)) {}
  std::string name() const override { return "toy"; }
  int64_t num_classes() const override { return int64_t(counts_.size()); }
  int64_t samples_per_class(int64_t c) const override { return counts_[size_t(c)]; }
  int64_t channels() const override { return 1; }
  int64_t height() const override { return 2; }
  int64_t width() const override { return 3; }
  void sample(int64_t c, int64_t i, float* out) const override { std::fill(out, out + 6, float(100 * c + i) / 1e4f); }
  std::string class_name(int64_t c) const override {
    std::string s = std::to_string(c);  // not "c" + ...: GCC 12 warns falsely (-Wrestrict) on that
    return s.insert(0, 1, 'c');
  }

 private:
  std::vector<int64_t> counts_;
};

std::pair<int64_t, int64_t> decode_toy(float v) {
  const int64_t k = std::lround(double(v) * 1e4);
  return {k / 100, k % 100};
}

bool same(const Tensor& a, const Tensor& b) { return a.shape() == b.shape() && a.to_vector() == b.to_vector(); }

// Four characters on the 0-255 canvas; "3" comes before "2" in the file, so the loader's
// stroke-count order is visible. \ud842\udfb7 is U+20BB7 (a surrogate pair), 口 is raw UTF-8.
const char* kSmallKanji = R"({"1": {"\u4e00": [[25, 126, 226, 116]]},
 "3": {"\u53e3": [[50, 60, 60, 200], [50, 60, 200, 60], [200, 60, 190, 200]],
       "\ud842\udfb7": [[30, 30, 220, 30], [128, 30, 128, 230], [30, 230, 220, 230]]},
 "2": {"十": [[30, 128, 226, 128], [128, 20, 128, 236]]}})";

}  // namespace

TEST_SUITE_BEGIN("fewshot data");

TEST_CASE("fewshot data: episodes are deterministic in (seed, index) and grouped by class") {
  auto toy = std::make_shared<ToyDataset>(std::vector<int64_t>{8, 9, 10, 11, 12, 13, 14});
  const std::vector<int64_t> classes{0, 2, 3, 5, 6};
  EpisodeSampler s(toy, classes, 3, 2, 4, 17);
  const Episode e3 = s.episode(3);
  CHECK(e3.support_x.shape() == Shape{6, 1, 2, 3});
  CHECK(e3.query_x.shape() == Shape{12, 1, 2, 3});
  CHECK(e3.support_y.dtype() == DType::Int64);
  CHECK(e3.support_y.to_vector() == std::vector<double>{0, 0, 1, 1, 2, 2});
  CHECK(e3.query_y.to_vector() == std::vector<double>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2});
  REQUIRE(e3.classes.size() == 3);
  CHECK(std::set<int64_t>(e3.classes.begin(), e3.classes.end()).size() == 3);
  for (int64_t c : e3.classes) CHECK(std::find(classes.begin(), classes.end(), c) != classes.end());
  // Every image comes from the class of its label; support and query never share a sample.
  const std::vector<double> sx = e3.support_x.to_vector(), qx = e3.query_x.to_vector();
  std::set<std::pair<int64_t, int64_t>> seen;
  for (int64_t r = 0; r < 6; ++r) {
    const auto [c, i] = decode_toy(float(sx[size_t(r * 6)]));
    CHECK(c == e3.classes[size_t(r / 2)]);
    CHECK(seen.insert({c, i}).second);
  }
  for (int64_t r = 0; r < 12; ++r) {
    const auto [c, i] = decode_toy(float(qx[size_t(r * 6)]));
    CHECK(c == e3.classes[size_t(r / 4)]);
    CHECK(i < toy->samples_per_class(c));
    CHECK(seen.insert({c, i}).second);
  }
  // Same (seed, index): the same episode, whatever was drawn before and from which object.
  s.episode(7);
  EpisodeSampler again(toy, classes, 3, 2, 4, 17);
  const Episode e3b = again.episode(3);
  CHECK(same(e3.support_x, e3b.support_x));
  CHECK(same(e3.query_x, e3b.query_x));
  CHECK(e3.classes == e3b.classes);
  // Another index or another seed: another episode (checked over a few, any one may collide).
  int differ_index = 0, differ_seed = 0;
  EpisodeSampler other_seed(toy, classes, 3, 2, 4, 18);
  for (int64_t i = 0; i < 5; ++i) {
    differ_index += !same(s.episode(i).query_x, s.episode(i + 100).query_x);
    differ_seed += !same(s.episode(i).query_x, other_seed.episode(i).query_x);
  }
  CHECK(differ_index == 5);
  CHECK(differ_seed == 5);
  // Every class is drawn over many episodes.
  std::set<int64_t> drawn;
  for (int64_t i = 0; i < 50; ++i)
    for (int64_t c : s.episode(i).classes) drawn.insert(c);
  CHECK(drawn == std::set<int64_t>(classes.begin(), classes.end()));
}

TEST_CASE("fewshot data: sampler errors name the dataset, the class and the numbers") {
  auto toy = std::make_shared<ToyDataset>(std::vector<int64_t>{8, 3, 10});
  CHECK_THROWS_WITH_AS(EpisodeSampler(toy, {0, 1, 2}, 2, 1, 3, 0),
                       contains("dataset toy: class 1 (c1) has 3 samples, fewer than shots + queries = 1 + 3"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(EpisodeSampler(toy, {0, 2}, 5, 1, 1, 0),
                       contains("dataset toy: 5-way episodes need at least 5 classes, got 2"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(EpisodeSampler(toy, {0, 2}, 1, 1, 1, 0), contains("ways must be >= 2, got 1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(EpisodeSampler(toy, {0, 2}, 2, 0, 1, 0), contains("shots must be >= 1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(EpisodeSampler(toy, {0, 2}, 2, 1, 0, 0), contains("queries must be >= 1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(EpisodeSampler(toy, {0, 7}, 2, 1, 1, 0), contains("class id 7 is outside [0, 3)"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(EpisodeSampler(toy, {0, 0, 2}, 2, 1, 1, 0), contains("class 0 (c0) is listed twice"),
                       std::invalid_argument);
  CHECK_NOTHROW(EpisodeSampler(toy, {0, 1, 2}, 3, 1, 2, 0));
}

TEST_CASE("fewshot data: kanji splits are fixed, class-disjoint and cover every class") {
  const ClassSplits s = kanji_splits(6394);
  CHECK(s.train.size() == 4000);
  CHECK(s.valid.size() == 800);
  CHECK(s.test.size() == 1594);
  std::set<int64_t> all(s.train.begin(), s.train.end());
  all.insert(s.valid.begin(), s.valid.end());
  all.insert(s.test.begin(), s.test.end());
  CHECK(all.size() == 6394);
  CHECK(*all.begin() == 0);
  CHECK(*all.rbegin() == 6393);
  const ClassSplits again = kanji_splits(6394);
  CHECK(again.train == s.train);
  CHECK(again.test == s.test);
  CHECK(!std::is_sorted(s.train.begin(), s.train.end()));  // shuffled, not a range
  const ClassSplits small = kanji_splits(10);
  CHECK(small.train.size() == 6);
  CHECK(small.valid.size() == 1);
  CHECK(small.test.size() == 3);
  const ClassSplits three = kanji_splits(3);
  CHECK(three.train.size() == 1);
  CHECK(three.valid.size() == 1);
  CHECK(three.test.size() == 1);
  CHECK_THROWS_WITH_AS(kanji_splits(2), contains("at least 3 classes"), std::invalid_argument);
}

TEST_CASE("fewshot data: kanji JSON loader, order, names and errors with positions") {
  TempDir dir("kanji");
  const std::string path = dir / "data.json";
  write_bytes(path, kSmallKanji);
  KanjiOptions o;
  o.samples_per_class = 7;
  auto d = load_kanji(path, o);
  CHECK(d->num_classes() == 4);
  CHECK(d->samples_per_class(2) == 7);
  CHECK(d->channels() == 1);
  CHECK(d->height() == 28);
  CHECK(d->width() == 28);
  CHECK(d->class_name(0) == "\xe4\xb8\x80");      // 一
  CHECK(d->class_name(1) == "十");                // two strokes, listed last in the file
  CHECK(d->class_name(2) == "\xe5\x8f\xa3");      // 口
  CHECK(d->class_name(3) == "\xf0\xa0\xae\xb7");  // U+20BB7 from its surrogate pair
  CHECK(d->name() == "kanji:" + path);

  auto bad = [&](const std::string& json, const std::string& message) {
    write_bytes(path, json);
    std::string what;
    try {
      load_kanji(path);
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    CHECK_MESSAGE(what.rfind(path + ": line ", 0) == 0, what);  // the file, then the position
    CHECK_MESSAGE(what.find(message) != std::string::npos, what);
  };
  bad("{\"1\": {\"a\": [[1, 2, 3, 4]],}}", "line 1, column 28 (byte 27): expected a member name");
  bad("{\"1\": {\"a\": [[1, 2, 3, 4]]}}\n x",
      "line 2, column 2 (byte 30): unexpected content after the top-level value");
  bad("{\"1\": {\"a\": [[1, 2, 3]]}}", "line 1, column 14 (byte 13): a stroke of \"a\" is not 4 numbers");
  bad("{\"1\": {\"a\": [[1, 2, 3, 300]]}}",
      "line 1, column 24 (byte 23): a stroke coordinate of \"a\" is not a number in [0, 255]");
  bad("{\"1\": {\"a\": [[1, 2, 3, 04]]}}", "byte 24): expected ']', found '4'");
  bad("{\"1\": {\"a\": [[1, 2, 3, 4]]", "expected '}', found the end of the file");
  bad("{\"1\": {\"a\": [[1, 2, 3, 4]], \"a\": []}}", "byte 28): duplicate member name \"a\"");
  bad("{\"x\": {}}", "stroke-count key \"x\" is not a positive integer");
  bad("{\"1\": {\"a\x01\": []}}", "control character in a string");
  bad("{\"1\": {\"\\ud800\": []}}", "unpaired UTF-16 surrogate");
  bad("[1, 2]", "line 1, column 1 (byte 0): expected an object of stroke count -> characters");
  bad("{\"1\": {\"a\": [[1, 2, 3, 4]]}, \"2\": {\"a\": [[1, 2, 3, 4], [1, 2, 3, 4]]}}",
      "character \"a\" appears twice");
  bad("{\"1\": {\"a\": []}}", "expected a non-empty list of strokes for \"a\"");
  bad("", "line 1, column 1 (byte 0): expected a value, found the end of the file");
  CHECK_THROWS_WITH_AS(load_kanji(dir / "missing.json"), contains("missing.json: no such file"), std::runtime_error);
  KanjiOptions wide;
  wide.width_min = 3, wide.width_max = 2;
  CHECK_THROWS_AS(load_kanji(path, wide), std::invalid_argument);
}

TEST_CASE("fewshot data: kanji rendering is seeded, varied within a class and inked") {
  TempDir dir("kanji_render");
  const std::string path = dir / "data.json";
  write_bytes(path, kSmallKanji);
  KanjiOptions o;
  o.samples_per_class = 12;
  o.seed = 5;
  auto d = load_kanji(path, o), d2 = load_kanji(path, o);
  o.seed = 6;
  auto other = load_kanji(path, o);
  double within = 0, between = 0;
  int n_within = 0, n_between = 0;
  for (int64_t c = 0; c < 4; ++c)
    for (int64_t i = 0; i < 12; ++i) {
      const std::vector<float> a = render(*d, c, i);
      CHECK(a == render(*d2, c, i));  // same seed, same image
      CHECK(a != render(*other, c, i));
      const auto [lo, hi] = std::minmax_element(a.begin(), a.end());
      CHECK(*lo >= 0.0f);
      CHECK(*hi <= 1.0f);
      CHECK(*hi > 0.5f);
      CHECK(std::accumulate(a.begin(), a.end(), 0.0) > 15.0);  // every stroke >= ~1.2 px wide, ~18 px long
      if (i > 0) {
        CHECK(a != render(*d, c, 0));  // samples of one class differ
        within += correlation(a, render(*d, c, 0)), ++n_within;
        between += correlation(a, render(*d, (c + 1) % 4, i)), ++n_between;
      }
    }
  within /= n_within, between /= n_between;
  MESSAGE("mean correlation within a class " << within << ", between classes " << between);
  CHECK(within > between + 0.2);
  CHECK_THROWS_AS(d->sample(0, 12, render(*d, 0, 0).data()), std::out_of_range);

  // Episodes of the Kanji set: float32 images in [0, 1], 5-way 1-shot.
  EpisodeSampler s(d, {0, 1, 2, 3}, 4, 1, 5, 0);
  const Episode e = s.episode(0);
  CHECK(e.support_x.shape() == Shape{4, 1, 28, 28});
  CHECK(e.query_x.shape() == Shape{20, 1, 28, 28});

  // Rendering speed at 28 x 28 (reported; 口-like characters of 3 strokes).
  std::vector<float> buf(28 * 28);
  const auto t0 = std::chrono::steady_clock::now();
  const int reps = 2000;
  for (int r = 0; r < reps; ++r) d->sample(r % 4, r % 12, buf.data());
  const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps;
  MESSAGE("kanji rendering: " << us << " us per 28x28 sample (1-3 strokes)");
}

TEST_CASE("fewshot data: the installed kanjidraw data set") {
  const std::string path = default_kanji_path();
  if (!fs::exists(path)) {
    MESSAGE(path << " not installed (apt-get install python3-kanjidraw); skipped");
    return;
  }
  auto d = load_kanji(path);
  CHECK(d->num_classes() == 6394);
  CHECK(d->class_name(0) == "\xe4\xb8\x80");  // 一, the first one-stroke character
  const ClassSplits s = kanji_splits(d->num_classes());
  // Rendering speed on real characters (mean stroke count about 11).
  std::vector<float> buf(28 * 28);
  const auto t0 = std::chrono::steady_clock::now();
  const int reps = 3000;
  for (int r = 0; r < reps; ++r) d->sample(s.train[size_t(r)], r % 20, buf.data());
  const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps;
  MESSAGE("kanji rendering: " << us << " us per 28x28 sample of a meta-training character");
  EpisodeSampler sampler(d, s.test, 5, 1, 15, 0);
  const Episode e = sampler.episode(599);
  CHECK(e.query_x.shape() == Shape{75, 1, 28, 28});
  if (const char* grid = std::getenv("METALOSS_KANJI_GRID")) {
    std::vector<int64_t> classes(s.train.begin(), s.train.begin() + 10);
    write_sample_grid_png(*d, classes, 10, grid, 3);
    MESSAGE("wrote " << std::string(grid));
  }
}

TEST_CASE("fewshot data: Omniglot folders are sorted, resized by area and inverted") {
  TempDir dir("omniglot");
  const std::string root = dir / "images_background";
  // 4x4, black 2x2 block at the top left: after resizing to 2x2 and inverting, one bright pixel.
  std::vector<uint8_t> block(16, 255);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 2; ++x) block[size_t(y * 4 + x)] = 0;
  write_png_file(root + "/Bravo/character01/b.png", 4, 4, 1, block);
  write_png_file(root + "/Bravo/character01/a.png", 4, 4, 1, std::vector<uint8_t>(16, 255));
  // 3x3 RGB, black centre: each output pixel covers a quarter of it (area 0.25 of 2.25).
  std::vector<uint8_t> centre(27, 255);
  for (int c = 0; c < 3; ++c) centre[size_t(4 * 3 + c)] = 0;
  write_png_file(root + "/Alpha/character02/x.png", 3, 3, 3, centre);
  // RGBA, fully transparent: composited on white, so no ink.
  write_png_file(root + "/Alpha/character01/y.png", 2, 2, 4, std::vector<uint8_t>(16, 0));
  fs::create_directories(root + "/Alpha/character01/notes");  // ignored: not a file
  write_bytes(root + "/Alpha/character01/readme.txt", "ignored: not a .png");

  auto d = load_omniglot_folder(root, 2);
  REQUIRE(d->num_classes() == 3);
  CHECK(d->class_name(0) == "Alpha/character01");
  CHECK(d->class_name(1) == "Alpha/character02");
  CHECK(d->class_name(2) == "Bravo/character01");
  CHECK(d->samples_per_class(2) == 2);
  CHECK(d->name() == "omniglot:" + root);
  CHECK(render(*d, 0, 0) == std::vector<float>{0, 0, 0, 0});
  for (float v : render(*d, 1, 0)) CHECK(v == doctest::Approx(std::round(255 * 0.25 / 2.25) / 255));
  CHECK(render(*d, 2, 0) == std::vector<float>{0, 0, 0, 0});  // a.png, all white
  CHECK(render(*d, 2, 1) == std::vector<float>{1, 0, 0, 0});  // b.png

  TempDir empty("omniglot_empty");
  CHECK_THROWS_WITH_AS(load_omniglot_folder(empty.path.string()), contains(": no character folders"),
                       std::runtime_error);
  fs::create_directories(empty / "A/char1");
  CHECK_THROWS_WITH_AS(load_omniglot_folder(empty.path.string()), contains("char1: no .png files in this class folder"),
                       std::runtime_error);
  write_bytes(empty / "A/char1/bad.png", std::string("\x89PNG\r\n\x1a\n", 8) + "not really a png");
  CHECK_THROWS_WITH_AS(load_omniglot_folder(empty.path.string()), contains("bad.png: corrupt PNG"), std::runtime_error);
  // A real PNG cut short.
  write_png_file(empty / "A/char1/bad.png", 4, 4, 1, block);
  const std::string png = read_bytes(empty / "A/char1/bad.png");
  write_bytes(empty / "A/char1/bad.png", png.substr(0, png.size() - 20));
  CHECK_THROWS_WITH_AS(load_omniglot_folder(empty.path.string()), contains("bad.png: corrupt PNG"), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_omniglot_folder(dir / "nowhere"), contains("nowhere: no such directory"),
                       std::runtime_error);
}

TEST_CASE("fewshot data: image folders read JPEG and PNG as RGB") {
  TempDir dir("imgfolder");
  const std::string root = dir.path.string();
  std::vector<uint8_t> solid;
  for (int k = 0; k < 16 * 16; ++k) solid.insert(solid.end(), {200, 100, 50});
  write_jpeg_file(root + "/n02/img.JPEG", 16, 16, solid);
  std::vector<uint8_t> left_right;  // left half red, right half blue
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x)
      left_right.insert(left_right.end(), {uint8_t(x < 2 ? 255 : 0), 0, uint8_t(x < 2 ? 0 : 255)});
  write_png_file(root + "/n01/a.png", 4, 4, 3, left_right);
  write_png_file(root + "/n01/b.png", 4, 4, 1, std::vector<uint8_t>(16, 51));  // grey -> R = G = B

  auto d = load_image_folder(root, 2);
  REQUIRE(d->num_classes() == 2);
  CHECK(d->class_name(0) == "n01");
  CHECK(d->class_name(1) == "n02");
  CHECK(d->channels() == 3);
  CHECK(d->samples_per_class(0) == 2);
  CHECK(render(*d, 0, 0) == std::vector<float>{1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1});  // CHW
  for (float v : render(*d, 0, 1)) CHECK(v == doctest::Approx(0.2));
  const std::vector<float> jpg = render(*d, 1, 0);
  for (int k = 0; k < 4; ++k) {
    CHECK(jpg[size_t(k)] == doctest::Approx(200 / 255.0).epsilon(0.02));
    CHECK(jpg[size_t(4 + k)] == doctest::Approx(100 / 255.0).epsilon(0.03));
    CHECK(jpg[size_t(8 + k)] == doctest::Approx(50 / 255.0).epsilon(0.08));
  }

  const std::string jpeg = read_bytes(root + "/n02/img.JPEG");
  write_bytes(root + "/n02/img.JPEG", jpeg.substr(0, jpeg.size() / 2));
  CHECK_THROWS_WITH_AS(load_image_folder(root), contains("img.JPEG: corrupt JPEG"), std::runtime_error);
  // Declared sizes are checked before the pixels are allocated (a 30000 x 30000 header in a small
  // file took 2.7 GiB before it failed; 65500 x 65500 was a bare std::bad_alloc).
  {
    std::string big = jpeg;
    const size_t sof = big.find("\xFF\xC0");
    REQUIRE(sof != std::string::npos);
    for (size_t at : {sof + 5, sof + 7}) {  // height, then width, big-endian
      big[at] = char(30000 >> 8);
      big[at + 1] = char(30000 & 0xff);
    }
    CHECK_THROWS_WITH_AS(decode_image(big, "big.jpg", 3),
                         contains("big.jpg: JPEG declares 30000 x 30000 pixels (expected at least 1 x 1 and at most 67108864 pixels)"),
                         std::runtime_error);
    std::string png = read_bytes(root + "/n01/a.png");
    for (size_t at : {16, 20}) {  // IHDR width, height
      png[at] = 0, png[at + 1] = 0, png[at + 2] = char(65500 >> 8), png[at + 3] = char(65500 & 0xff);
    }
    const uLong crc = crc32(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(png.data() + 12), 17);
    for (int k = 0; k < 4; ++k) png[size_t(29 + k)] = char(crc >> (24 - 8 * k) & 0xff);
    CHECK_THROWS_WITH_AS(decode_image(png, "big.png", 3), contains("big.png: PNG declares 65500 x 65500 pixels"), std::runtime_error);
  }
  write_bytes(root + "/n02/img.JPEG", "GIF89a...");
  CHECK_THROWS_WITH_AS(load_image_folder(root), contains("img.JPEG: not a PNG or JPEG file"), std::runtime_error);
  TempDir empty("imgfolder_empty");
  CHECK_THROWS_WITH_AS(load_image_folder(empty.path.string()), contains(": no class folders"), std::runtime_error);
}

namespace {

// Writes what pickle.dump({'image_data': uint8 array [N, H, W, 3], 'class_dict': {...}}) writes
// with numpy 1.24: protocol 4 (framed, MEMOIZE, STACK_GLOBAL, raw BINBYTES), or protocol 2 (BINPUT,
// GLOBAL, and the array bytes as a latin-1 string through _codecs.encode).
class PickleWriter {
 public:
  explicit PickleWriter(int protocol) : p4_(protocol >= 4) {}

  std::string dump(int64_t n, int64_t h, int64_t w, const std::vector<uint8_t>& data,
                   const std::vector<std::pair<std::string, std::vector<int>>>& classes) {
    op(0x80), s_ += char(p4_ ? 4 : 2);
    const size_t frame_at = s_.size();
    op('}'), memo();
    op('(');
    text("image_data");
    global("numpy.core.multiarray", "_reconstruct");
    const int ndarray = global("numpy", "ndarray");
    integer(0), op(0x85), memo();
    if (p4_)
      op('C'), s_ += char(1), s_ += 'b', memo();
    else
      raw_as_latin1("b");
    op(0x87), memo(), op('R'), memo();
    op('('), integer(1);
    op('('), integer(n), integer(h), integer(w), integer(3), op('t'), memo();
    global("numpy", "dtype");
    text("u1"), op(0x89), op(0x88), op(0x87), memo(), op('R'), memo();
    op('('), integer(3), text("|"), op('N'), op('N'), op('N'), integer(-1), integer(-1), integer(0), op('t'), memo();
    op('b'), op(0x89);
    const std::string raw(data.begin(), data.end());
    if (p4_) {
      if (raw.size() < 256)
        op('C'), s_ += char(raw.size());
      else
        op('B'), le(raw.size(), 4);
      s_ += raw, memo();
    } else {
      raw_as_latin1(raw);
    }
    op('t'), memo(), op('b');
    text("class_dict");
    op('}'), memo(), op('(');
    for (const auto& [name, rows] : classes) {
      text(name);
      op(']'), memo();
      if (rows.size() == 1) {
        integer(rows[0]), op('a');
      } else {
        op('(');
        for (int r : rows) integer(r);
        op('e');
      }
    }
    op('u'), op('u'), op('.');
    (void)ndarray;
    if (p4_) {  // FRAME: the length of everything after it (one frame for a small pickle)
      std::string frame(1, char(0x95));
      for (int k = 0; k < 8; ++k) frame += char((s_.size() - frame_at) >> (8 * k) & 0xff);
      s_.insert(frame_at, frame);
    }
    return s_;
  }

 private:
  void op(int c) { s_ += char(c); }
  void le(uint64_t v, int bytes) {
    for (int k = 0; k < bytes; ++k) s_ += char(v >> (8 * k) & 0xff);
  }
  int memo() {
    if (p4_)
      op(0x94);
    else
      op('q'), s_ += char(memo_);
    return memo_++;
  }
  int text(const std::string& t) {
    if (p4_)
      op(0x8c), s_ += char(t.size());
    else
      op('X'), le(t.size(), 4);
    s_ += t;
    return memo();
  }
  void integer(int v) {
    if (v >= 0 && v < 256)
      op('K'), s_ += char(v);
    else if (v >= 0 && v < 65536)
      op('M'), le(uint64_t(v), 2);
    else
      op('J'), le(uint32_t(v), 4);
  }
  int global(const std::string& module, const std::string& name) {
    int at = 0;
    if (p4_) {
      at = text(module);
      text(name), op(0x93);
    } else {
      op('c'), s_ += module + "\n" + name + "\n";
    }
    memo();
    return at;
  }
  // _codecs.encode(<bytes as a str of code points 0-255, in UTF-8>, 'latin1')
  void raw_as_latin1(const std::string& raw) {
    if (!codecs_)
      op('c'), s_ += "_codecs\nencode\n", codecs_ = memo() + 1;
    else
      op('h'), s_ += char(codecs_ - 1);
    std::string utf8;
    for (unsigned char c : raw) {
      if (c < 0x80)
        utf8 += char(c);
      else
        utf8 += char(0xC0 | c >> 6), utf8 += char(0x80 | (c & 0x3F));
    }
    text(utf8);
    if (!latin1_)
      latin1_ = text("latin1") + 1;
    else
      op('h'), s_ += char(latin1_ - 1);
    op(0x86), memo(), op('R'), memo();
  }

  bool p4_;
  std::string s_;
  int memo_ = 0, codecs_ = 0, latin1_ = 0;
};

}  // namespace

TEST_CASE("fewshot data: mini-ImageNet pickles, protocol 4 and 2, and bad files") {
  TempDir dir("pickle");
  const int64_t N = 6, H = 5, W = 4;
  std::vector<uint8_t> data(size_t(N * H * W * 3));
  for (size_t k = 0; k < data.size(); ++k) data[k] = uint8_t(k * 37 % 256);  // every byte value class
  const std::vector<std::pair<std::string, std::vector<int>>> classes{
      {"n09", {0, 3, 5}}, {"n01", {4}}, {"n05", {1, 2}}};
  for (int protocol : {4, 2}) {
    CAPTURE(protocol);
    const std::string path = dir / ("mini-" + std::to_string(protocol) + ".pkl");
    write_bytes(path, PickleWriter(protocol).dump(N, H, W, data, classes));
    auto d = load_mini_imagenet_pickle(path);
    CHECK(d->name() == "mini-imagenet:" + path);
    REQUIRE(d->num_classes() == 3);
    CHECK(d->class_name(0) == "n01");  // sorted by synset
    CHECK(d->class_name(1) == "n05");
    CHECK(d->class_name(2) == "n09");
    CHECK(d->samples_per_class(0) == 1);
    CHECK(d->samples_per_class(2) == 3);
    CHECK(d->channels() == 3);
    CHECK(d->height() == H);
    CHECK(d->width() == W);
    const std::vector<float> img = render(*d, 2, 1);  // row 3
    bool all = true;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x)
          all &=
              img[size_t((c * H + y) * W + x)] == float(data[size_t(((3 * H + y) * W + x) * 3 + c)]) * (1.0f / 255.0f);
    CHECK(all);
  }
  // The full 84x84 layout of the real files, one class with APPENDS of many rows.
  std::vector<uint8_t> big(size_t(3 * 84 * 84 * 3), 7);
  const std::string full = dir / "full.pkl";
  write_bytes(full, PickleWriter(4).dump(3, 84, 84, big, {{"n1", {0, 1, 2}}}));
  CHECK(load_mini_imagenet_pickle(full)->height() == 84);

  const std::string path = dir / "bad.pkl";
  const std::string good = PickleWriter(4).dump(N, H, W, data, classes);
  write_bytes(path, good.substr(0, good.size() / 2));
  CHECK_THROWS_WITH_AS(load_mini_imagenet_pickle(path), contains(path + ": truncated"), std::runtime_error);
  const std::string good2 = PickleWriter(2).dump(N, H, W, data, classes);  // protocol 2: no frames
  write_bytes(path, good2.substr(0, good2.size() - 1));  // no STOP
  CHECK_THROWS_WITH_AS(load_mini_imagenet_pickle(path), contains(path + ": truncated: the pickle ends at byte"),
                       std::runtime_error);
  write_bytes(path, "hello, not a pickle");
  CHECK_THROWS_WITH_AS(load_mini_imagenet_pickle(path), contains(path + ": byte 0, opcode 'h' (0x68): memo key 101"),
                       std::runtime_error);
  write_bytes(path, std::string("\x80\x04\x8c\x08"
                                "builtins\x8c\x04"
                                "eval\x93",
                                19));
  CHECK_THROWS_WITH_AS(load_mini_imagenet_pickle(path),
                       contains(path + ": byte 18, opcode 0x93: unsupported global builtins.eval"), std::runtime_error);
  write_bytes(path, std::string("\x80\x05\x8c\x01x.", 6));
  CHECK_THROWS_WITH_AS(load_mini_imagenet_pickle(path),
                       contains("byte 0, opcode 0x80: pickle protocol 5 (expected 2 to 4)"), std::runtime_error);
  write_bytes(path, std::string("\x80\x04\x8c\x01x.", 6));  // a pickled str
  CHECK_THROWS_WITH_AS(load_mini_imagenet_pickle(path), contains("top-level object is a str, expected a dict"),
                       std::runtime_error);
  write_bytes(path, std::string("\x80\x04}(\x8c\x01xK\x01u.", 11));  // {'x': 1}
  CHECK_THROWS_WITH_AS(load_mini_imagenet_pickle(path), contains("no 'image_data' entry"), std::runtime_error);
  write_bytes(path, PickleWriter(4).dump(N, H, W, data, {{"n1", {0, 6}}}));
  CHECK_THROWS_WITH_AS(load_mini_imagenet_pickle(path), contains("'class_dict' entry n1 has an index outside [0, 6)"),
                       std::runtime_error);
  // 200,000 nested lists (a SIGSEGV by recursion before values lived in an arena) and a list that
  // holds itself through the memo: both a clear error, no crash, no leak.
  {
    std::string deep = "\x80\x04";
    deep.append(200000, ']');
    deep.append(199999, 'a');
    write_bytes(path, deep + ".");
    CHECK_THROWS_WITH_AS(load_mini_imagenet_pickle(path), contains("top-level object is a list, expected a dict"),
                         std::runtime_error);
    write_bytes(path, std::string("\x80\x04]\x94h\x00" "a.", 8));
    CHECK_THROWS_WITH_AS(load_mini_imagenet_pickle(path), contains("top-level object is a list, expected a dict"),
                         std::runtime_error);
  }
  // A FRAME longer than the file.
  write_bytes(path, std::string("\x80\x04\x95\x00\xca\x9a\x3b\x00\x00\x00\x00}.", 13));
  CHECK_THROWS_WITH_AS(load_mini_imagenet_pickle(path),
                       contains(path + ": truncated: the frame at byte 2 declares 1000000000 bytes, the file has 2 more"),
                       std::runtime_error);
  write_bytes(path, PickleWriter(4).dump(N, H, W, std::vector<uint8_t>(data.begin(), data.end() - 3), classes));
  CHECK_THROWS_WITH_AS(load_mini_imagenet_pickle(path), contains("'image_data' holds 357 bytes, its shape needs 360"),
                       std::runtime_error);
}

TEST_CASE("fewshot data: sample grid PNG") {
  TempDir dir("grid");
  auto toy = std::make_shared<ToyDataset>(std::vector<int64_t>{5, 2});
  const std::string path = dir / "grid.png";
  write_sample_grid_png(*toy, {0, 1}, 3, path, 2);
  const Image8 g = decode_image(read_bytes(path), path, 1);
  CHECK(g.width == 3 * (3 * 2 + 1) - 1);
  CHECK(g.height == 2 * (2 * 2 + 1) - 1);
  CHECK(g.pixels[size_t(6)] == 128);                                         // first vertical separator
  CHECK(g.pixels[size_t(0)] == 0);                                           // class 0 sample 0: value 0
  CHECK(g.pixels[size_t(5 * g.width + 7)] == std::lround(255 * 101 / 1e4));  // class 1 sample 1
  CHECK(g.pixels[size_t(5 * g.width + 14)] == 0);                            // class 1 has no sample 2: black
}

TEST_SUITE_END();
