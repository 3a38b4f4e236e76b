// Numeric CSV tables and the regression datasets built from them.
#pragma once
#include <string>
#include <vector>

#include "meta/data/dataset.h"

namespace metaloss::data {

// Debian's python3-sklearn ships its small datasets here.
inline constexpr const char* kSklearnDataDir = "/usr/lib/python3/dist-packages/sklearn/datasets/data";

struct CsvOptions {
  char separator = ',';  // ' ' means any run of spaces/tabs (sklearn's diabetes files)
  bool header = true;    // the first (non-skipped) line names the columns
  int skip_lines = 0;    // lines before the header (Boston's "506,13,..." count line)
};

struct CsvTable {
  std::vector<std::string> columns;  // header names, quotes stripped ("" without a header)
  std::vector<double> values;        // row-major, rows x columns.size()
  int64_t rows = 0;
  int64_t cols() const { return int64_t(columns.size()); }
};

// Reads a plain or gzip CSV of numbers. Blank lines are skipped; every row must have as many
// cells as the first; every cell must parse as a number whole.
CsvTable read_csv(const std::string& path, const CsvOptions& opts = {});

// A regression dataset from a CSV with a header: the column named `target` (the last column when
// empty) is the target, all others are features.
Dataset csv_regression(const std::string& path, const std::string& target = "", const CsvOptions& opts = {});

// Boston housing: 506 x 13 features, target MEDV (boston_house_prices.csv).
Dataset load_boston(const std::string& dir = kSklearnDataDir);
// Diabetes (raw, unscaled): 442 x 10 features from diabetes_data_raw.csv.gz, target from
// diabetes_target.csv.gz; both space-separated without a header.
Dataset load_diabetes(const std::string& dir = kSklearnDataDir);

}  // namespace metaloss::data
