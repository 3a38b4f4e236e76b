// Shared by the libFuzzer targets of the file readers (scripts/fuzz.sh). A reader may accept an
// input or reject it with an exception that names the problem; anything else is a finding: a
// crash or sanitizer report, an exception outside std::exception, or std::bad_alloc (a declared
// size trusted before it was checked: libFuzzer's -malloc_limit_mb catches the large ones first).
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>

namespace fuzz {

[[noreturn]] inline void finding(const char* target, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", target, what.c_str());
  std::abort();
}

// The input as a file (the readers take paths), one per process, rewritten per input.
inline const std::string& as_file(const uint8_t* data, size_t size, const char* suffix = "") {
  static const std::string path = "/tmp/metaloss-fuzz-" + std::to_string(::getpid()) + suffix;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) finding("fuzz", "cannot write " + path);
  return path;
}

// Runs the reader; a clear rejection (std::exception naming what is wrong) is fine.
template <class F>
void expect_clean(const char* target, F&& read) {
  try {
    read();
  } catch (const std::bad_alloc&) {
    finding(target, "std::bad_alloc: a size was trusted before it was checked");
  } catch (const std::exception& e) {
    if (std::string(e.what()).empty()) finding(target, "an exception without a message");
  }
}

}  // namespace fuzz
