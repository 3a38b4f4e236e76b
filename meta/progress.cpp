#include "meta/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace metaloss {

bool Progress::is_terminal(std::FILE* f) { return f && isatty(fileno(f)); }

namespace {
bool g_quiet = false;
}
void Progress::set_quiet(bool quiet) { g_quiet = quiet; }
bool Progress::quiet() { return g_quiet; }

Progress::Progress(std::string label, int64_t total, int64_t log_every, std::FILE* out)
    : label_(std::move(label)), total_(total), log_every_(log_every > 0 ? log_every : 100), out_(out),
      tty_(is_terminal(out)), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() {
  if (drawn_ && !finished_) std::fputc('\n', out_);  // nothing drawn: no empty line either
}

namespace {
int terminal_columns(std::FILE* f) {
  winsize w{};
  if (f && ::ioctl(fileno(f), TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
  return 80;
}
}  // namespace

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = int64_t(s + 0.5), h = t / 3600, m = (t / 60) % 60, sec = t % 60;
  char buf[32];
  if (h > 0) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)h, (long long)m, (long long)sec);
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)m, (long long)sec);
  return buf;
}

void Progress::update(int64_t step, double loss) {
  if (g_quiet) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? double(step) / elapsed : 0;
  const double eta = rate > 0 ? double(total_ - step) / rate : NAN;
  if (tty_) {
    // Redraw at most 10 times a second, and always on the last step.
    if (step != total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    // \r, the line, then clear to the end of the line (what a longer earlier line left).
    std::fprintf(out_, "\r%s\033[K", bar_line(label_, step, total_, loss, rate, eta, terminal_columns(out_)).c_str());
    std::fflush(out_);
    drawn_ = true;
  } else if (step % log_every_ == 0 || step == total_) {
    std::fprintf(out_, "%s step %lld/%lld loss %.4f %.1f steps/s elapsed %s ETA %s\n", label_.c_str(), (long long)step,
                 (long long)total_, loss, rate, format_duration(elapsed).c_str(), format_duration(eta).c_str());
    std::fflush(out_);
  }
}

void Progress::finish() {
  if (drawn_ && !finished_) std::fputc('\n', out_);
  finished_ = true;
}

std::string Progress::bar_line(const std::string& label, int64_t step, int64_t total, double loss, double rate,
                               double eta, int columns) {
  char tail[160];
  std::snprintf(tail, sizeof tail, " %lld/%lld loss %.4f %.1f steps/s ETA %s", (long long)step, (long long)total, loss,
                rate, format_duration(eta).c_str());
  const int room = columns - 1 - int(label.size()) - int(std::string(tail).size()) - 3;  // " [" + "]"
  std::string line = label;
  if (room >= 8) {
    const int width = std::min(30, room);
    const int filled = total > 0 ? int(int64_t(width) * step / total) : width;
    std::string bar(size_t(filled), '=');
    if (filled < width) bar += '>' + std::string(size_t(width - filled - 1), ' ');
    line += " [" + bar + "]";
  }
  line += tail;
  if (columns > 1 && int(line.size()) > columns - 1) line.resize(size_t(columns - 1));
  return line;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += c;
        }
    }
  }
  return o;
}

MetricsWriter::MetricsWriter(const std::string& path, bool append)
    : out_(path, append ? std::ios::app : std::ios::trunc), path_(path) {
  if (!out_) throw std::runtime_error("metrics file '" + path + "': cannot open for writing");
}

void MetricsWriter::write(const std::map<std::string, double>& numbers, const std::map<std::string, std::string>& strings,
                          const std::map<std::string, bool>& flags) {
  std::string line = "{";
  bool first = true;
  char buf[64];
  for (const auto& [k, v] : numbers) {
    // Integers (steps, seeds, counts) exactly up to 2^53; other numbers to 10 significant digits.
    if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9007199254740992.0) std::snprintf(buf, sizeof buf, "%.0f", v);
    else if (std::isfinite(v)) std::snprintf(buf, sizeof buf, "%.10g", v);
    else std::snprintf(buf, sizeof buf, "null");  // JSON has no NaN/inf
    line += (first ? "\"" : ", \"") + json_escape(k) + "\": " + buf;
    first = false;
  }
  for (const auto& [k, v] : strings) {
    line += (first ? "\"" : ", \"") + json_escape(k) + "\": \"" + json_escape(v) + "\"";
    first = false;
  }
  for (const auto& [k, v] : flags) {
    line += (first ? "\"" : ", \"") + json_escape(k) + "\": " + (v ? "true" : "false");
    first = false;
  }
  out_ << line << "}\n";
  out_.flush();
  if (!out_) throw std::runtime_error("metrics file '" + path_ + "': write failed");
}

}  // namespace metaloss
