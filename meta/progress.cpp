#include "meta/progress.h"

#include <unistd.h>

#include <cmath>
#include <stdexcept>

namespace metaloss {

bool Progress::is_terminal(std::FILE* f) { return f && isatty(fileno(f)); }

Progress::Progress(std::string label, int64_t total, int64_t log_every, std::FILE* out)
    : label_(std::move(label)), total_(total), log_every_(log_every > 0 ? log_every : 100), out_(out),
      tty_(is_terminal(out)), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() {
  if (tty_ && !finished_) std::fputc('\n', out_);
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = int64_t(s + 0.5), h = t / 3600, m = (t / 60) % 60, sec = t % 60;
  char buf[32];
  if (h > 0) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)h, (long long)m, (long long)sec);
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)m, (long long)sec);
  return buf;
}

void Progress::update(int64_t step, double loss) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? double(step) / elapsed : 0;
  const double eta = rate > 0 ? double(total_ - step) / rate : NAN;
  if (tty_) {
    // Redraw at most 10 times a second, and always on the last step.
    if (step != total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    const int width = 30;
    const int filled = total_ > 0 ? int(width * step / total_) : width;
    std::string bar(size_t(filled), '=');
    if (filled < width) bar += '>' + std::string(size_t(width - filled - 1), ' ');
    std::fprintf(out_, "\r%s [%s] %lld/%lld loss %.4f %.1f steps/s ETA %s   ", label_.c_str(), bar.c_str(),
                 (long long)step, (long long)total_, loss, rate, format_duration(eta).c_str());
    std::fflush(out_);
  } else if (step % log_every_ == 0 || step == total_) {
    std::fprintf(out_, "%s step %lld/%lld loss %.4f %.1f steps/s elapsed %s ETA %s\n", label_.c_str(), (long long)step,
                 (long long)total_, loss, rate, format_duration(elapsed).c_str(), format_duration(eta).c_str());
    std::fflush(out_);
  }
}

void Progress::finish() {
  if (tty_ && !finished_) std::fputc('\n', out_);
  finished_ = true;
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

MetricsWriter::MetricsWriter(const std::string& path) : out_(path, std::ios::app), path_(path) {
  if (!out_) throw std::runtime_error("metrics file '" + path + "': cannot open for writing");
}

void MetricsWriter::write(const std::map<std::string, double>& numbers, const std::map<std::string, std::string>& strings) {
  std::string line = "{";
  bool first = true;
  char buf[64];
  for (const auto& [k, v] : numbers) {
    if (std::isfinite(v)) std::snprintf(buf, sizeof buf, "%.10g", v);
    else std::snprintf(buf, sizeof buf, "null");  // JSON has no NaN/inf
    line += (first ? "\"" : ", \"") + json_escape(k) + "\": " + buf;
    first = false;
  }
  for (const auto& [k, v] : strings) {
    line += (first ? "\"" : ", \"") + json_escape(k) + "\": \"" + json_escape(v) + "\"";
    first = false;
  }
  out_ << line << "}\n";
  out_.flush();
  if (!out_) throw std::runtime_error("metrics file '" + path_ + "': write failed");
}

}  // namespace metaloss
