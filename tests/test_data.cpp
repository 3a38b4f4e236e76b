// metaloss::data: readers (IDX, CIFAR, CSV) on small files written here, their error messages,
// splits, normalisation, augmentation, batching, and the real datasets when installed.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "engine/metaloss.h"
#include "meta/data/data.h"
#include "temp_dir.h"

using namespace metaloss;
using namespace metaloss::data;
namespace fs = std::filesystem;

using metaloss::testing::TempDir;

namespace {

void write_plain(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  gzclose(f);
}

std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16 & 0xff), char(v >> 8 & 0xff), char(v & 0xff)};
}

std::string idx_file(uint32_t magic, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::string s = be32(magic);
  for (uint32_t d : dims) s += be32(d);
  s.append(data.begin(), data.end());
  return s;
}

// n images of rows x cols with pixel k of image i = (7 i + k) mod 256.
std::vector<uint8_t> pixels(int n, int rows, int cols) {
  std::vector<uint8_t> p;
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < rows * cols; ++k) p.push_back(uint8_t((7 * i + k) % 256));
  return p;
}

// doctest::Contains of a std::string (its constructor takes a doctest::String).
doctest::Contains contains(const std::string& s) { return doctest::Contains(s.c_str()); }

std::vector<int64_t> as_int(const Tensor& t) {
  std::vector<int64_t> out;
  for (double v : t.to_vector()) out.push_back(int64_t(v));
  return out;
}

}  // namespace

TEST_SUITE_BEGIN("data");

TEST_CASE("data: IDX images and labels round-trip, plain and gzip") {
  TempDir dir("idx");
  write_plain(dir / "train-images-idx3-ubyte", idx_file(0x803, {3, 2, 4}, pixels(3, 2, 4)));
  write_plain(dir / "train-labels-idx1-ubyte", idx_file(0x801, {3}, {1, 0, 2}));
  write_gz(dir / "t10k-images-idx3-ubyte.gz", idx_file(0x803, {2, 2, 4}, pixels(2, 2, 4)));
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_file(0x801, {2}, {2, 2}));

  const TrainTest tt = load_idx_dataset(dir.path.string());
  CHECK(tt.train.inputs.shape() == Shape{3, 1, 2, 4});
  CHECK(tt.train.inputs.dtype() == DType::Float32);
  CHECK(tt.train.targets.dtype() == DType::Int64);
  CHECK(as_int(tt.train.targets) == std::vector<int64_t>{1, 0, 2});
  CHECK(tt.test.inputs.shape() == Shape{2, 1, 2, 4});
  CHECK(as_int(tt.test.targets) == std::vector<int64_t>{2, 2});
  CHECK(tt.train.num_classes == 3);
  CHECK(tt.test.num_classes == 3);  // the label space is shared even if a class is absent
  const std::vector<uint8_t> p = pixels(3, 2, 4);
  const std::vector<double> v = tt.train.inputs.to_vector();
  for (size_t k = 0; k < p.size(); ++k) CHECK(v[k] == doctest::Approx(p[k] / 255.0));
  CHECK(tt.test.inputs.at({1, 0, 1, 3}) == doctest::Approx(((7 + 7) % 256) / 255.0));
}

TEST_CASE("data: IDX test images of other dimensions than the training images are refused, naming the file") {
  TempDir dir("idx_dims");
  write_plain(dir / "train-images-idx3-ubyte", idx_file(0x803, {3, 2, 4}, pixels(3, 2, 4)));
  write_plain(dir / "train-labels-idx1-ubyte", idx_file(0x801, {3}, {1, 0, 2}));
  write_plain(dir / "t10k-images-idx3-ubyte", idx_file(0x803, {2, 4, 2}, pixels(2, 4, 2)));  // same size, other shape
  write_plain(dir / "t10k-labels-idx1-ubyte", idx_file(0x801, {2}, {2, 2}));
  CHECK_THROWS_WITH_AS(load_idx_dataset(dir.path.string()),
                       contains(dir / "t10k-images-idx3-ubyte" + ": images are 4 x 2 but the training images (" +
                                dir / "train-images-idx3-ubyte" + ") are 2 x 4"),
                       std::runtime_error);
}

TEST_CASE("data: IDX bad files raise errors naming the path and the problem") {
  TempDir dir("idx_bad");
  const std::string img = dir / "img", lab = dir / "lab";
  write_plain(lab, idx_file(0x801, {3}, {0, 1, 2}));

  write_plain(img, idx_file(0x801, {3}, {0, 1, 2}));  // a label file where images belong
  CHECK_THROWS_WITH_AS(read_idx_images(img), contains(img + ": wrong magic number 0x00000801 (expected 0x00000803"),
                       std::runtime_error);
  write_plain(img, idx_file(0x803, {3, 2, 2}, std::vector<uint8_t>(10, 1)));
  CHECK_THROWS_WITH_AS(read_idx_images(img), contains(img + ": truncated: header promises 12 data bytes, file has 10"),
                       std::runtime_error);
  write_plain(img, be32(0x803) + be32(3));  // header cut short
  CHECK_THROWS_WITH_AS(read_idx_images(img), contains(img + ": truncated: header needs 16 bytes"), std::runtime_error);
  write_plain(img, "ab");
  CHECK_THROWS_WITH_AS(read_idx_images(img), contains(img + ": truncated"), std::runtime_error);

  // A gzip stream cut in half.
  const std::string gz = dir / "img.gz";
  std::vector<uint8_t> noise(4 * 28 * 28);
  for (size_t k = 0; k < noise.size(); ++k) noise[k] = uint8_t(k * 2654435761u >> 13);
  write_gz(gz, idx_file(0x803, {4, 28, 28}, noise));
  std::string bytes;
  {
    std::ifstream in(gz, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  write_plain(gz, bytes.substr(0, bytes.size() / 2));
  CHECK_THROWS_WITH_AS(read_idx_images(gz), contains(gz + ": truncated"), std::runtime_error);

  write_plain(img, idx_file(0x803, {2, 2, 2}, std::vector<uint8_t>(8, 1)));
  CHECK_THROWS_WITH_AS(read_idx_pair(img, lab), contains(lab + ": label/image count mismatch: 3 labels, but " + img + " holds 2 images"),
                       std::runtime_error);

  // A header declaring far more than the file can hold is refused before any allocation: 2^32 - 1
  // images of 255 x 255 in a 16-byte plain file (read to its end: truncated), and in a gzip.
  write_plain(img, idx_file(0x803, {0xffffffffu, 255, 255}, {}));
  CHECK_THROWS_WITH_AS(read_idx_images(img), contains(img + ": truncated: header promises 279280248357375 data bytes, file has 0"),
                       std::runtime_error);
  write_gz(gz, idx_file(0x803, {0xffffffffu, 255, 255}, {}));
  CHECK_THROWS_WITH_AS(read_idx_images(gz), contains(gz + ": header declares 279280248357375 data bytes, more than a gzip file of"),
                       std::runtime_error);
  // A gzip bomb: 8 MiB of zeros behind a header declaring 1 image of 2 x 2. Reading stops 1 byte
  // past the declared 20 bytes instead of inflating all of it.
  write_gz(gz, idx_file(0x803, {1, 2, 2}, std::vector<uint8_t>(8 << 20, 0)));
  CHECK_THROWS_WITH_AS(read_idx_images(gz), contains(gz + ": holds more than the 20 bytes expected (after decompression)"),
                       std::runtime_error);

  CHECK_THROWS_WITH_AS(read_idx_images(dir / "nope"), contains(dir / "nope" + ": no such file"), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_idx_dataset(dir / "missing"), contains(dir / "missing" + ": no such directory"), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_idx_dataset(dir.path.string()), contains(dir.path.string() + ": missing file train-images-idx3-ubyte[.gz]"),
                       std::runtime_error);
}

namespace {

// CIFAR records: label bytes, then 3072 pixels with pixel k of record r = (r + 3 k) mod 256.
std::string cifar_records(const std::vector<std::vector<uint8_t>>& labels, int first) {
  std::string s;
  for (size_t r = 0; r < labels.size(); ++r) {
    for (uint8_t l : labels[r]) s += char(l);
    for (int k = 0; k < 3072; ++k) s += char((first + int(r) + 3 * k) % 256);
  }
  return s;
}

}  // namespace

TEST_CASE("data: CIFAR-10 and CIFAR-100 binaries round-trip") {
  TempDir dir("cifar");
  const std::string c10 = dir / "c10";
  for (int b = 1; b <= 5; ++b)  // two records per batch, labels 2b-2 and 2b-1 (mod 10)
    write_plain(c10 + "/data_batch_" + std::to_string(b) + ".bin",
                cifar_records({{uint8_t((2 * b - 2) % 10)}, {uint8_t((2 * b - 1) % 10)}}, 2 * (b - 1)));
  write_plain(c10 + "/test_batch.bin", cifar_records({{9}}, 100));
  const TrainTest tt = load_cifar10(c10);
  CHECK(tt.train.inputs.shape() == Shape{10, 3, 32, 32});
  CHECK(tt.test.inputs.shape() == Shape{1, 3, 32, 32});
  CHECK(tt.train.num_classes == 10);
  CHECK(as_int(tt.train.targets) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(as_int(tt.test.targets) == std::vector<int64_t>{9});
  // Channel-major layout: pixel (c, y, x) is byte c*1024 + y*32 + x of the image.
  const std::vector<std::array<int64_t, 4>> probes = {{0, 0, 0, 0}, {3, 1, 5, 7}, {9, 2, 31, 31}};
  for (auto [r, c, y, x] : probes) {
    const int64_t k = c * 1024 + y * 32 + x;
    CHECK(tt.train.inputs.at({r, c, y, x}) == doctest::Approx(double((r + 3 * k) % 256) / 255.0));
  }

  // CIFAR-100 inside the archive's own folder name; the fine (second) label is used.
  write_plain(dir / "c100/cifar-100-binary/train.bin", cifar_records({{1, 42}, {19, 99}, {0, 0}}, 0));
  write_plain(dir / "c100/cifar-100-binary/test.bin", cifar_records({{5, 7}}, 0));
  const TrainTest t100 = load_cifar100(dir / "c100");
  CHECK(t100.train.inputs.shape() == Shape{3, 3, 32, 32});
  CHECK(as_int(t100.train.targets) == std::vector<int64_t>{42, 99, 0});
  CHECK(as_int(t100.test.targets) == std::vector<int64_t>{7});
  CHECK(t100.train.num_classes == 100);
  CHECK(t100.train.inputs.at({1, 2, 0, 1}) == doctest::Approx(double((1 + 3 * 2049) % 256) / 255.0));
}

TEST_CASE("data: CIFAR bad files raise errors naming the path and the problem") {
  TempDir dir("cifar_bad");
  const std::string f = dir / "test_batch.bin";
  write_plain(f, cifar_records({{1}, {2}}, 0).substr(0, 3073 + 100));
  CHECK_THROWS_WITH_AS(read_cifar_files({f}, 1, 10),
                       contains(f + ": truncated: 3173 bytes is not a whole number of 3073-byte records"), std::runtime_error);
  write_plain(f, cifar_records({{1}, {10}}, 0));
  CHECK_THROWS_WITH_AS(read_cifar_files({f}, 1, 10), contains(f + ": label 10 of record 1 is outside [0, 10)"), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_cifar10(dir.path.string()), contains(dir.path.string() + ": missing file data_batch_1.bin"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(load_cifar100(dir / "none"), contains(dir / "none" + ": no such directory"), std::runtime_error);
}

TEST_CASE("data: CSV regression reader, round trip and options") {
  TempDir dir("csv");
  const std::string path = dir / "t.csv";
  write_plain(path, "\"a\", \"b\",y\r\n1,2.5,-3\r\n\r\n4,5e1,6\r\n");  // CRLF, quotes, a blank line
  const Dataset d = csv_regression(path);
  CHECK(d.inputs.shape() == Shape{2, 2});
  CHECK(d.targets.shape() == Shape{2, 1});
  CHECK(d.num_classes == 0);
  CHECK(d.inputs.to_vector() == std::vector<double>{1, 2.5, 4, 50});
  CHECK(d.targets.to_vector() == std::vector<double>{-3, 6});

  const Dataset da = csv_regression(path, "a");  // a named target column anywhere in the row
  CHECK(da.inputs.to_vector() == std::vector<double>{2.5, -3, 50, 6});
  CHECK(da.targets.to_vector() == std::vector<double>{1, 4});

  // Whitespace separated, no header, gzip: the layout of sklearn's diabetes files.
  write_gz(dir / "ws.csv.gz", "1  2\t3\n4 5 6\n");
  CsvOptions o;
  o.separator = ' ';
  o.header = false;
  const CsvTable t = read_csv(dir / "ws.csv.gz", o);
  CHECK(t.rows == 2);
  CHECK(t.cols() == 3);
  CHECK(t.values == std::vector<double>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("data: CSV bad files raise errors naming the path and the problem") {
  TempDir dir("csv_bad");
  const std::string path = dir / "bad.csv";
  write_plain(path, "a,b,y\n1,2,3\n4,5\n");
  CHECK_THROWS_WITH_AS(csv_regression(path), contains(path + ": row 2 (line 3): expected 3 columns, got 2"), std::runtime_error);
  write_plain(path, "a,b,y\n1,2,3\n4,x5,6\n");
  CHECK_THROWS_WITH_AS(csv_regression(path), contains(path + ": row 2 (line 3), column 2 'b': non-numeric cell 'x5'"),
                       std::runtime_error);
  write_plain(path, "a,b,y\n1,,3\n");
  CHECK_THROWS_WITH_AS(csv_regression(path), contains("non-numeric cell ''"), std::runtime_error);
  for (const char* cell : {"nan", "inf", "-inf", "NaN", "1e39", "-3.5e38"}) {
    write_plain(path, std::string("a,b,y\n1,2,3\n4,") + cell + ",6\n");
    CHECK_THROWS_WITH_AS(csv_regression(path), contains(path + ": row 2 (line 3), column 2 'b': cell '" + cell +
                                                        "' is not a finite number within float32 range"),
                         std::runtime_error);
  }
  write_plain(path, "a,b,y\n1,3.4e38,3\n");  // the largest float32 magnitudes are numbers
  CHECK(csv_regression(path).inputs.to_vector()[1] == doctest::Approx(3.4e38));
  write_plain(path, "a,b,y\n1,2,3\n");
  CHECK_THROWS_WITH_AS(csv_regression(path, "price"), contains(path + ": missing target column 'price'"), std::runtime_error);
  write_plain(path, "");
  CHECK_THROWS_WITH_AS(csv_regression(path), contains(path + ": empty CSV file"), std::runtime_error);
  CHECK_THROWS_WITH_AS(csv_regression(dir / "none.csv"), contains(dir / "none.csv" + ": no such file"), std::runtime_error);

  // Diabetes-style pair whose row counts disagree.
  write_gz(dir / "diabetes_data_raw.csv.gz", "1 2\n3 4\n");
  write_gz(dir / "diabetes_target.csv.gz", "5\n");
  CHECK_THROWS_WITH_AS(load_diabetes(dir.path.string()),
                       contains(dir / "diabetes_target.csv.gz" + ": row count mismatch: 1 targets, but"), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_boston(dir.path.string()), contains(dir / "boston_house_prices.csv" + ": no such file"),
                       std::runtime_error);
}

TEST_CASE("data: Boston housing and Diabetes from Debian's python3-sklearn files") {
  if (!fs::exists(std::string(kSklearnDataDir) + "/boston_house_prices.csv")) {
    MESSAGE("python3-sklearn data not installed in " << kSklearnDataDir << "; skipped");
    return;
  }
  const Dataset b = load_boston();
  CHECK(b.inputs.shape() == Shape{506, 13});
  CHECK(b.targets.shape() == Shape{506, 1});
  CHECK(b.inputs.at({0, 0}) == doctest::Approx(0.00632));
  CHECK(b.inputs.at({0, 12}) == doctest::Approx(4.98));
  CHECK(b.targets.at({0, 0}) == doctest::Approx(24.0));
  CHECK(b.targets.at({505, 0}) == doctest::Approx(11.9));

  const Dataset d = load_diabetes();
  CHECK(d.inputs.shape() == Shape{442, 10});
  CHECK(d.targets.shape() == Shape{442, 1});
  CHECK(d.inputs.at({0, 0}) == 59.0);
  CHECK(d.inputs.at({0, 2}) == doctest::Approx(32.1));
  CHECK(d.targets.at({0, 0}) == 151.0);
  CHECK(d.targets.at({1, 0}) == 75.0);
}

namespace {

// Classification data whose input row i is the single feature i, so splits can be traced back.
Dataset traced(const std::vector<int64_t>& labels, int64_t num_classes) {
  Dataset d;
  const int64_t n = int64_t(labels.size());
  d.inputs = reshape(Tensor::arange(0, double(n)), {n, 1});
  d.targets = Tensor::from_vector(labels, {n});
  d.num_classes = num_classes;
  return d;
}

std::map<int64_t, int64_t> class_counts(const Dataset& d) {
  std::map<int64_t, int64_t> c;
  for (int64_t l : as_int(d.targets)) ++c[l];
  return c;
}

}  // namespace

TEST_CASE("data: stratified 10% validation split is class-proportional and seeded") {
  // 100 / 50 / 30 examples of classes 0 / 1 / 2, interleaved (37 is coprime to 180).
  std::vector<int64_t> labels(180);
  for (int i = 0; i < 180; ++i) labels[size_t(i * 37 % 180)] = i < 100 ? 0 : i < 150 ? 1 : 2;
  TrainTest tt{traced(labels, 3), traced({0, 1}, 3)};
  const std::map<int64_t, int64_t> all = class_counts(tt.train);
  REQUIRE(all == std::map<int64_t, int64_t>{{0, 100}, {1, 50}, {2, 30}});

  Generator g1(7);
  const Splits s = stratified_split(tt, g1, 0.1);
  CHECK(class_counts(s.valid) == std::map<int64_t, int64_t>{{0, 10}, {1, 5}, {2, 3}});
  CHECK(class_counts(s.train) == std::map<int64_t, int64_t>{{0, 90}, {1, 45}, {2, 27}});
  CHECK(s.test.inputs.same(tt.test.inputs));
  // Disjoint, covering, each row keeps its own label, and both parts keep file order.
  std::set<int64_t> seen;
  for (const Dataset* part : {&s.train, &s.valid}) {
    const std::vector<int64_t> rows = as_int(part->inputs), ys = as_int(part->targets);
    CHECK(std::is_sorted(rows.begin(), rows.end()));
    for (size_t k = 0; k < rows.size(); ++k) {
      CHECK(seen.insert(rows[k]).second);
      CHECK(ys[k] == labels[size_t(rows[k])]);
    }
  }
  CHECK(seen.size() == 180);

  Generator g2(7), g3(8);
  CHECK(as_int(stratified_split(tt, g2, 0.1).valid.inputs) == as_int(s.valid.inputs));
  CHECK(as_int(stratified_split(tt, g3, 0.1).valid.inputs) != as_int(s.valid.inputs));
  Generator g4(7);
  CHECK_THROWS_AS(stratified_split({traced({0, 1}, 0), {}}, g4), std::invalid_argument);
}

TEST_CASE("data: regression 60/20/20 split is a seeded partition") {
  Dataset d;
  d.inputs = reshape(Tensor::arange(0, 50), {50, 1});
  d.targets = reshape(Tensor::arange(100, 150), {50, 1});
  Generator g(3);
  const Splits s = random_split(d, g);
  CHECK(s.train.size() == 30);
  CHECK(s.valid.size() == 10);
  CHECK(s.test.size() == 10);
  std::set<int64_t> seen;
  for (const Dataset* part : {&s.train, &s.valid, &s.test}) {
    const std::vector<int64_t> rows = as_int(part->inputs), ys = as_int(part->targets);
    for (size_t k = 0; k < rows.size(); ++k) {
      CHECK(seen.insert(rows[k]).second);
      CHECK(ys[k] == rows[k] + 100);
    }
  }
  CHECK(seen.size() == 50);
  Generator g2(3);
  CHECK(as_int(random_split(d, g2).test.inputs) == as_int(s.test.inputs));
}

TEST_CASE("data: normalisation fits on the training split only") {
  // Images [4, 2, 1, 2]: channel 0 holds 0..7, channel 1 is constant 5.
  Splits s;
  s.train.num_classes = 2;
  const std::vector<float> v = {0, 1, 5, 5, 2, 3, 5, 5, 4, 5, 5, 5, 6, 7, 5, 5};
  s.train.inputs = Tensor::from_vector(v, {4, 2, 1, 2});
  s.train.targets = Tensor::from_vector(std::vector<int64_t>{0, 1, 0, 1}, {4});
  s.valid = s.test = s.train;
  s.valid.inputs = Tensor::full({1, 2, 1, 2}, 100.0);
  s.test.inputs = Tensor::full({1, 2, 1, 2}, -1.0);

  const Normalization n = normalize(s);
  const double m = 3.5, sd = std::sqrt(5.25);  // population mean/std of 0..7
  CHECK(n.inputs.mean.shape() == Shape{1, 2, 1, 1});
  CHECK(n.inputs.mean.at({0, 0, 0, 0}) == doctest::Approx(m));
  CHECK(n.inputs.std.at({0, 0, 0, 0}) == doctest::Approx(sd));
  CHECK(n.inputs.mean.at({0, 1, 0, 0}) == doctest::Approx(5));
  CHECK(n.inputs.std.at({0, 1, 0, 0}) == 1.0);  // constant channel: no division by zero
  CHECK(!n.targets.defined());                  // classification labels stay labels
  CHECK(s.train.inputs.at({3, 0, 0, 1}) == doctest::Approx((7 - m) / sd));
  CHECK(s.train.inputs.at({3, 1, 0, 1}) == doctest::Approx(0));
  CHECK(s.valid.inputs.at({0, 0, 0, 0}) == doctest::Approx((100 - m) / sd));  // train stats, not its own
  CHECK(s.test.inputs.at({0, 0, 0, 1}) == doctest::Approx((-1 - m) / sd));
  const Standardizer refit = fit_standardizer(s.train.inputs);
  CHECK(refit.mean.at({0, 0, 0, 0}) == doctest::Approx(0).epsilon(1e-6));
  CHECK(refit.std.at({0, 0, 0, 0}) == doctest::Approx(1));

  // Regression: X per column and y, both from the training rows only.
  Splits r;
  r.train.inputs = Tensor::from_vector(std::vector<float>{1, 10, 3, 30}, {2, 2});
  r.train.targets = Tensor::from_vector(std::vector<float>{2, 4}, {2, 1});
  r.valid = r.test = r.train;
  r.test.targets = Tensor::from_vector(std::vector<float>{6}, {1, 1});
  r.test.inputs = Tensor::from_vector(std::vector<float>{2, 20}, {1, 2});
  const Normalization rn = normalize(r);
  REQUIRE(rn.targets.defined());
  CHECK(rn.inputs.mean.to_vector() == std::vector<double>{2, 20});
  CHECK(rn.inputs.std.to_vector() == std::vector<double>{1, 10});
  CHECK(r.train.inputs.to_vector() == std::vector<double>{-1, -1, 1, 1});
  CHECK(r.test.inputs.to_vector() == std::vector<double>{0, 0});
  CHECK(r.test.targets.at({0, 0}) == doctest::Approx(3));  // (6 - 3) / 1
  CHECK(rn.targets.invert(r.test.targets).at({0, 0}) == doctest::Approx(6));
}

TEST_CASE("data: random crop with padding and horizontal flip") {
  const int64_t n = 64, c = 2, h = 6, w = 5, pad = 2;
  Tensor x = add(reshape(Tensor::arange(0, double(n * c * h * w)), {n, c, h, w}), 1.0);  // no zeros inside
  Generator g1(11), g2(11), g3(12);
  const Tensor a = random_crop_flip(x, g1, pad), b = random_crop_flip(x, g2, pad), d = random_crop_flip(x, g3, pad);
  CHECK(a.shape() == x.shape());
  CHECK(a.to_vector() == b.to_vector());
  CHECK(a.to_vector() != d.to_vector());
  Generator g0(11);
  CHECK(random_crop_flip(x, g0, 0, false).to_vector() == x.to_vector());  // nothing to do

  // Every output image is one shift (dy, dx) in [-pad, pad]^2 of its input, maybe mirrored, the
  // same for both channels; and over 64 images both flips and several shifts occur.
  std::set<int64_t> flips, shifts;
  for (int64_t i = 0; i < n; ++i) {
    int matches = 0;
    for (int mirror = 0; mirror < 2; ++mirror)
      for (int64_t dy = -pad; dy <= pad; ++dy)
        for (int64_t dx = -pad; dx <= pad; ++dx) {
          bool ok = true;
          for (int64_t k = 0; k < c && ok; ++k)
            for (int64_t y = 0; y < h && ok; ++y)
              for (int64_t xo = 0; xo < w && ok; ++xo) {
                const int64_t sy = y + dy, sx = (mirror ? w - 1 - xo : xo) + dx;
                const double want = sy >= 0 && sy < h && sx >= 0 && sx < w ? x.at({i, k, sy, sx}) : 0.0;
                ok = a.at({i, k, y, xo}) == want;
              }
          if (ok) {
            ++matches;
            flips.insert(mirror);
            shifts.insert(dy * 10 + dx);
          }
        }
    CHECK(matches >= 1);
  }
  CHECK(flips.size() == 2);
  CHECK(shifts.size() > 5);
}

TEST_CASE("data: batch sampler visits every index once per epoch and reshuffles") {
  Dataset d;
  d.inputs = reshape(Tensor::arange(0, 20), {10, 2});  // row i = (2i, 2i+1)
  d.targets = Tensor::arange(0, 10, 1, DType::Int64);
  d.num_classes = 10;
  SamplerOptions o;
  o.batch_size = 3;
  BatchSampler s(d, o);
  CHECK(s.num_batches() == 4);
  Generator g(5);
  std::vector<std::vector<int64_t>> orders;
  for (int epoch = 0; epoch < 3; ++epoch) {
    s.start_epoch(g);
    std::vector<int64_t> order;
    for (int64_t b = 0; b < s.num_batches(); ++b) {
      const Batch batch = s.batch(b);
      CHECK(batch.inputs.size(0) == (b < 3 ? 3 : 1));
      CHECK(batch.inputs.size(1) == 2);
      const std::vector<int64_t> idx = as_int(batch.indices);
      CHECK(as_int(batch.targets) == idx);  // targets and inputs gathered with the same rows
      for (size_t k = 0; k < idx.size(); ++k) CHECK(batch.inputs.at({int64_t(k), 1}) == 2 * idx[k] + 1);
      order.insert(order.end(), idx.begin(), idx.end());
    }
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    orders.push_back(order);
  }
  CHECK(orders[0] != orders[1]);
  CHECK(orders[1] != orders[2]);
  CHECK_THROWS_AS(s.batch(4), std::out_of_range);

  BatchSampler same(d, o);  // same seed, same sequence of epochs
  Generator g2(5);
  same.start_epoch(g2);
  CHECK(as_int(same.order()) == orders[0]);

  o.shuffle = false;
  o.drop_last = true;
  BatchSampler fixed(d, o);
  CHECK(fixed.num_batches() == 3);
  for (int epoch = 0; epoch < 2; ++epoch) {
    fixed.start_epoch(g);
    CHECK(as_int(fixed.batch(0).indices) == std::vector<int64_t>{0, 1, 2});
    CHECK(as_int(fixed.batch(2).indices) == std::vector<int64_t>{6, 7, 8});
  }
}

TEST_CASE("data: real Fashion-MNIST from Debian's dataset-fashion-mnist") {
  if (!fs::is_directory(kFashionMnistDir)) {
    MESSAGE("Fashion-MNIST not installed in " << kFashionMnistDir << " (apt-get install dataset-fashion-mnist); skipped");
    return;
  }
  const TrainTest tt = load_fashion_mnist();
  CHECK(tt.train.inputs.shape() == Shape{60000, 1, 28, 28});
  CHECK(tt.test.inputs.shape() == Shape{10000, 1, 28, 28});
  CHECK(tt.train.num_classes == 10);
  CHECK(amin(tt.train.inputs).item() == 0.0);
  CHECK(amax(tt.train.inputs).item() == 1.0);
  for (auto [label, count] : class_counts(tt.train)) CHECK(count == 6000);  // balanced classes
  for (auto [label, count] : class_counts(tt.test)) CHECK(count == 1000);

  Generator g(0);
  Splits s = stratified_split(tt, g, 0.1);
  CHECK(s.train.size() == 54000);
  CHECK(s.valid.size() == 6000);
  for (auto [label, count] : class_counts(s.valid)) CHECK(count == 600);
  const Normalization n = normalize(s);
  CHECK(n.inputs.mean.item() == doctest::Approx(0.286).epsilon(0.01));  // the usual Fashion-MNIST mean
  CHECK(n.inputs.std.item() == doctest::Approx(0.353).epsilon(0.01));
}

TEST_SUITE_END();

TEST_CASE("data: a missing regression folder names the package that ships the files") {
  // On a fresh machine without Debian's python3-sklearn the default folder does not exist: the
  // error must say which package to install, not only that a folder is missing.
  for (auto load : {&metaloss::data::load_diabetes, &metaloss::data::load_boston})
    CHECK_THROWS_WITH_AS(load("/nonexistent/sklearn/datasets/data"),
                         doctest::Contains("apt-get install python3-sklearn"), std::runtime_error);
}
