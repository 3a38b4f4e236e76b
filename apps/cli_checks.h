// Option checks the CLI11 built-ins miss: CLI11 converts "-5" to 2^64 - 5 for an unsigned option
// and saturates values past 2^64 - 1, and NaN passes every range check (NaN < min is false).
#pragma once
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

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

// An integer that fits 64 bits: CLI11 saturates "--steps 99999999999999999999999" to 2^63 - 1
// (a run of 9.2e18 steps) instead of refusing it. Only that is checked here (other forms are
// left to CLI11's own parsing and its range checks).
inline const CLI::Validator kInt64Range(
    [](std::string& s) -> std::string {
      const bool neg = !s.empty() && s[0] == '-';
      const std::string digits = neg || (!s.empty() && s[0] == '+') ? s.substr(1) : s;
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return "";
      const std::string t = digits.substr(std::min(digits.find_first_not_of('0'), digits.size() - 1));
      const std::string max = neg ? "9223372036854775808" : "9223372036854775807";
      if (t.size() > max.size() || (t.size() == max.size() && t > max))
        return "expected an integer in [-2^63, 2^63 - 1], got '" + s + "'";
      return "";
    },
    "", "64-bit integer");

// Adds kInt64Range to every integer option of `app` and its subcommands (seeds have kSeedCheck).
inline void check_integer_ranges(CLI::App& app) {
  for (CLI::Option* o : app.get_options())
    if (o->get_type_name().rfind("INT", 0) == 0) o->check(kInt64Range);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) check_integer_ranges(*sub);
}

// Edit distance, for "did you mean" (a typo of one or two letters, a transposition).
inline size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The nearest of `names` to `s` within a third of its length (at least 2 edits), or "".
inline std::string closest(const std::string& s, const std::vector<std::string>& names) {
  std::string best;
  size_t best_d = std::max<size_t>(2, s.size() / 3) + 1;
  for (const std::string& n : names) {
    const size_t d = edit_distance(s, n);
    if (d < best_d) best_d = d, best = n;
  }
  return best;
}

// The long option of `app` nearest to `opt` ("--stpes" -> "--steps").
inline std::string closest_option(const CLI::App& app, const std::string& opt) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app.get_options())
    for (const std::string& l : o->get_lnames()) names.push_back("--" + l);
  return closest(opt, names);
}

// The subcommand of `app` nearest to `name` ("trian" -> "train").
inline std::string closest_name(const CLI::App& app, const std::string& name) {
  std::vector<std::string> names;
  for (const CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(c->get_name());
  return closest(name, names);
}

// An old spelling of an option, kept as a deprecated alias for a release: hidden from --help,
// writing into the same variable (with the new option's checks), and saying the new name when used.
template <class T>
CLI::Option* add_deprecated_alias(CLI::App* c, const std::string& old_name, const std::string& new_name, T& target) {
  CLI::Option* o = c->add_option(old_name, target, "deprecated spelling of " + new_name);
  o->group("");
  if (const CLI::Option* now = c->get_option_no_throw(new_name)) o->type_name(now->get_type_name());
  o->each([old_name, new_name](const std::string&) {
    std::fprintf(stderr, "warning: %s is deprecated, use %s (the old spelling goes in a later release)\n",
                 old_name.c_str(), new_name.c_str());
  });
  return o;
}

}  // namespace metaloss::app
