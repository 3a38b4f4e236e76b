// Option checks the CLI11 built-ins miss: CLI11 converts "-5" to 2^64 - 5 for an unsigned option
// and saturates values past 2^64 - 1, and NaN passes every range check (NaN < min is false).
#pragma once
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <string>

namespace metaloss::app {

// A seed: decimal digits only, at most 18446744073709551615.
inline const CLI::Validator kSeedCheck(
    [](std::string& s) -> std::string {
      const bool digits = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
      const std::string max = "18446744073709551615";
      const std::string t = s.substr(std::min(s.find_first_not_of('0'), s.size() - 1));  // without leading zeros
      if (!digits || t.size() > max.size() || (t.size() == max.size() && t > max))
        return "expected a seed in [0, " + max + "], got '" + s + "'";
      return "";
    },
    "SEED", "seed");

// A finite number (NaN and +-inf refused).
inline const CLI::Validator kFiniteCheck(
    [](std::string& s) -> std::string {
      char* end = nullptr;
      const double v = std::strtod(s.c_str(), &end);
      if (end == s.c_str() || !std::isfinite(v)) return "expected a finite number, got '" + s + "'";
      return "";
    },
    "", "finite");

// An output file: its folder must exist and be writable now, so that a long run does not fail
// only when it saves (the file itself is written at the end).
inline const CLI::Validator kWritableFileCheck(
    [](std::string& s) -> std::string {
      if (s.empty()) return "expected a file path, got ''";
      if (s.back() == '/') return "expected a file path, got the folder '" + s + "'";
      const std::string::size_type slash = s.rfind('/');
      const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : s.substr(0, slash));
      if (access(dir.c_str(), F_OK) != 0) return "the folder '" + dir + "' of '" + s + "' does not exist";
      if (access(dir.c_str(), W_OK) != 0) return "the folder '" + dir + "' of '" + s + "' is not writable";
      if (access(s.c_str(), F_OK) == 0 && access(s.c_str(), W_OK) != 0) return "'" + s + "' exists and is not writable";
      return "";
    },
    "FILE", "writable file");

}  // namespace metaloss::app
