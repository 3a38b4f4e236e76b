// libFuzzer target: the CSV reader (meta/data/csv.cpp). Every accepted cell is a finite float32.
#include <cmath>
#include <limits>

#include "fuzz_util.h"
#include "meta/data/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  metaloss::data::CsvOptions o;  // first byte: separator, header, skipped lines
  o.separator = data[0] & 1 ? ' ' : ',';
  o.header = data[0] & 2;
  o.skip_lines = (data[0] >> 2) & 3;
  const std::string& path = fuzz::as_file(data + 1, size - 1, ".csv");
  fuzz::expect_clean("fuzz_csv", [&] {
    const metaloss::data::CsvTable t = metaloss::data::read_csv(path, o);
    if (t.values.size() != size_t(t.rows) * size_t(t.cols())) fuzz::finding("fuzz_csv", "rows x columns != cells");
    for (double v : t.values)
      if (!std::isfinite(v) || std::fabs(v) > double(std::numeric_limits<float>::max()))
        fuzz::finding("fuzz_csv", "accepted a cell outside float32");
  });
  return 0;
}
