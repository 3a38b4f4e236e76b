// Progress reporting for long runs: a live bar on a terminal (step, loss, steps/s, ETA), plain
// log lines otherwise (files, CI), and JSON-lines metrics to a file.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

namespace metaloss {

class Progress {
 public:
  // `total` steps; `log_every` steps between plain log lines when not on a terminal.
  Progress(std::string label, int64_t total, int64_t log_every = 100, std::FILE* out = stderr);
  ~Progress();
  void update(int64_t step, double loss);  // step counts from 1
  void finish();
  static bool is_terminal(std::FILE* f);
  // `metaloss --quiet`: no progress at all (bars and periodic lines); results, warnings and
  // errors are still printed.
  static void set_quiet(bool quiet);
  static bool quiet();
  // The terminal line for `step`, at most `columns - 1` characters: the bar shrinks, then goes,
  // then the line is cut (a 60-column terminal wrapped the 90-character line and flooded).
  static std::string bar_line(const std::string& label, int64_t step, int64_t total, double loss, double rate,
                              double eta_seconds, int columns);

 private:
  std::string label_;
  int64_t total_, log_every_;
  std::FILE* out_;
  bool tty_, finished_ = false, drawn_ = false;  // drawn_: a line is on screen (a newline ends it)
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// Appends one JSON object per line; numbers and strings only. Flushed per line so a killed run
// keeps every line it wrote.
class MetricsWriter {
 public:
  // Throws naming the path if it cannot be opened. append: keep earlier lines (a resumed run);
  // otherwise the file starts empty (a fresh run's lines are not mixed into an older run's).
  explicit MetricsWriter(const std::string& path, bool append = true);
  void write(const std::map<std::string, double>& numbers, const std::map<std::string, std::string>& strings = {},
             const std::map<std::string, bool>& flags = {});  // flags: JSON true / false

 private:
  std::ofstream out_;
  std::string path_;
};

std::string json_escape(const std::string& s);
std::string format_duration(double seconds);  // "1:05:03" / "2:07"

}  // namespace metaloss
