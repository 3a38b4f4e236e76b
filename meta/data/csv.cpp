#include "meta/data/csv.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <filesystem>
#include <string_view>

#include "engine/tensor.h"
#include "meta/data/io.h"

namespace metaloss::data {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

// Splits one line into `cells` (reused across lines, so no allocation per row once warm).
void split(std::string_view line, char sep, std::vector<std::string_view>& cells) {
  cells.clear();
  if (sep == ' ') {
    size_t i = 0;
    while (true) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      if (i == line.size()) break;
      const size_t j = line.find_first_of(" \t\r", i);
      const size_t end = j == std::string_view::npos ? line.size() : j;
      cells.push_back(line.substr(i, end - i));
      i = end;
    }
    return;
  }
  size_t start = 0;
  while (true) {
    const size_t j = line.find(sep, start);
    cells.push_back(trim(line.substr(start, j == std::string_view::npos ? std::string_view::npos : j - start)));
    if (j == std::string_view::npos) break;
    start = j + 1;
  }
}

bool blank(std::string_view line) { return trim(line).empty(); }

// Column `col` as float32 [rows, 1].
Tensor column_tensor(const CsvTable& t, int64_t col) {
  Tensor y = Tensor::empty({t.rows, 1});
  float* p = y.data<float>();
  for (int64_t r = 0; r < t.rows; ++r) p[r] = float(t.values[size_t(r * t.cols() + col)]);
  return y;
}

}  // namespace

CsvTable read_csv(const std::string& path, const CsvOptions& opts) {
  const std::string text = read_file(path);
  std::string_view rest(text);
  CsvTable t;
  std::vector<std::string_view> cells;
  int64_t line_no = 0;
  int64_t width = -1;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++line_no;
    if (line_no <= opts.skip_lines || blank(line)) continue;
    split(line, opts.separator, cells);
    if (width < 0) {
      width = int64_t(cells.size());
      if (opts.header) {
        for (std::string_view c : cells) t.columns.emplace_back(c);
        continue;
      }
      t.columns.assign(cells.size(), "");
    }
    if (int64_t(cells.size()) != width)
      fail(path, "row " + std::to_string(t.rows + 1) + " (line " + std::to_string(line_no) + "): expected " +
                     std::to_string(width) + " columns, got " + std::to_string(cells.size()));
    for (size_t c = 0; c < cells.size(); ++c) {
      const std::string_view cell = cells[c];
      double v = 0;
      const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
      if (cell.empty() || ec != std::errc() || end != cell.data() + cell.size())
        fail(path, "row " + std::to_string(t.rows + 1) + " (line " + std::to_string(line_no) + "), column " +
                       std::to_string(c + 1) + (t.columns[c].empty() ? "" : " '" + t.columns[c] + "'") +
                       ": non-numeric cell '" + std::string(cell) + "'");
      // The values become float32 tensors: nan, inf and anything past float32's range (from_chars
      // reads "nan" and "1e39" happily) would train on garbage.
      if (!std::isfinite(v) || std::fabs(v) > double(std::numeric_limits<float>::max()))
        fail(path, "row " + std::to_string(t.rows + 1) + " (line " + std::to_string(line_no) + "), column " +
                       std::to_string(c + 1) + (t.columns[c].empty() ? "" : " '" + t.columns[c] + "'") + ": cell '" +
                       std::string(cell) + "' is not a finite number within float32 range (|x| <= 3.4e38)");
      t.values.push_back(v);
    }
    ++t.rows;
  }
  if (width < 0) fail(path, "empty CSV file");
  return t;
}

Dataset csv_regression(const std::string& path, const std::string& target, const CsvOptions& opts) {
  const CsvTable t = read_csv(path, opts);
  if (t.cols() < 2) fail(path, "need at least one feature column and a target column");
  int64_t ycol = t.cols() - 1;
  if (!target.empty()) {
    ycol = -1;
    for (int64_t c = 0; c < t.cols(); ++c)
      if (t.columns[size_t(c)] == target) ycol = c;
    if (ycol < 0) fail(path, "missing target column '" + target + "'");
  }
  Dataset d;
  d.name = std::filesystem::path(path).stem().string();
  const int64_t f = t.cols() - 1;
  d.inputs = Tensor::empty({t.rows, f});
  float* x = d.inputs.data<float>();
  for (int64_t r = 0; r < t.rows; ++r)
    for (int64_t c = 0, k = 0; c < t.cols(); ++c)
      if (c != ycol) x[r * f + k++] = float(t.values[size_t(r * t.cols() + c)]);
  d.targets = column_tensor(t, ycol);
  return d;
}

namespace {
// The regression sets come from Debian's python3-sklearn by default: say so when the folder is missing.
void require_sklearn_dir(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    fail(dir, std::string("no such directory (the default, ") + kSklearnDataDir +
                  ", is where Debian's python3-sklearn installs its datasets: apt-get install python3-sklearn, "
                  "which scripts/install-deps.sh does; or give --data-dir)");
}
}  // namespace

Dataset load_boston(const std::string& dir) {
  require_sklearn_dir(dir);
  const std::string path = (std::filesystem::path(dir) / "boston_house_prices.csv").string();
  CsvOptions o;
  o.skip_lines = 1;  // "506,13,,,...": sample and feature counts, checked below
  Dataset d = csv_regression(path, "MEDV", o);
  if (d.size() != 506 || d.inputs.size(1) != 13)
    fail(path, "expected 506 rows of 13 features + MEDV, got " + std::to_string(d.size()) + " rows of " +
                   std::to_string(d.inputs.size(1)) + " features");
  d.name = "boston";
  return d;
}

Dataset load_diabetes(const std::string& dir) {
  require_sklearn_dir(dir);
  const auto base = std::filesystem::path(dir);
  const std::string xpath = (base / "diabetes_data_raw.csv.gz").string(), ypath = (base / "diabetes_target.csv.gz").string();
  CsvOptions o;
  o.separator = ' ';
  o.header = false;
  const CsvTable xt = read_csv(xpath, o), yt = read_csv(ypath, o);
  if (yt.cols() != 1) fail(ypath, "expected 1 target column, got " + std::to_string(yt.cols()));
  if (xt.rows != yt.rows)
    fail(ypath, "row count mismatch: " + std::to_string(yt.rows) + " targets, but " + xpath + " has " +
                    std::to_string(xt.rows) + " rows");
  Dataset d;
  d.name = "diabetes";
  d.inputs = Tensor::empty({xt.rows, xt.cols()});
  float* x = d.inputs.data<float>();
  for (size_t i = 0; i < xt.values.size(); ++i) x[i] = float(xt.values[i]);
  d.targets = column_tensor(yt, 0);
  return d;
}

}  // namespace metaloss::data
