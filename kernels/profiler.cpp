#include "kernels/profiler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

namespace metaloss::profiler {

std::atomic<bool> g_enabled{false};

namespace {

struct Event {
  const char* name;
  const char* category;
  int64_t start_ns, dur_ns, self_ns;
  double bytes, flops;
  uint32_t tid;
};

struct State {
  std::mutex mu;
  std::vector<Event> events;
  std::string path;
  size_t (*peak_probe)() = nullptr;
  bool registered_exit = false;
  std::atomic<bool> tracing{false};  // false: NVTX ranges only (read by the CUDA timer without the lock)
  std::map<std::thread::id, uint32_t> tids;
  DeviceHooks hooks;
};
State& state() {
  static State* s = new State;  // never destroyed: stop() may run from atexit
  return *s;
}
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
int64_t g_origin_ns = 0;

// A scope nested in another of the same thread counts toward the outer one's time too; the
// summary reports "self" time (without nested scopes) so that totals add up.
thread_local std::vector<int64_t> t_child_ns;

void stop_at_exit() {
  if (enabled()) stop();
}

// Starts from the environment before main() when METALOSS_PROFILE is set.
struct EnvStart {
  EnvStart() {
    if (const char* p = std::getenv("METALOSS_PROFILE"); p && *p) start(p);
    else if (const char* n = std::getenv("METALOSS_NVTX"); n && std::string(n) == "1") start_ranges_only();
  }
} g_env_start;

std::string json_str(const char* s) {
  std::string o = "\"";
  for (const char* c = s; *c; ++c) {
    if (*c == '"' || *c == '\\') o += '\\';
    o += *c;
  }
  return o + "\"";
}

}  // namespace

void set_memory_probe(size_t (*peak_bytes)()) { state().peak_probe = peak_bytes; }
void set_device_hooks(const DeviceHooks& hooks) { state().hooks = hooks; }
DeviceHooks device_hooks() { return state().hooks; }
int64_t elapsed_ns() { return now_ns() - g_origin_ns; }
bool tracing() { return state().tracing.load(std::memory_order_relaxed); }

void start_ranges_only() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.tracing = false;
  g_enabled.store(true);
}

void start(const std::string& trace_path) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.tracing = true;
  if (s.hooks.on_start) s.hooks.on_start();
  s.path = trace_path;
  s.events.clear();
  s.events.reserve(1 << 16);
  g_origin_ns = now_ns();
  if (!s.registered_exit) {
    std::atexit(stop_at_exit);
    s.registered_exit = true;
  }
  g_enabled.store(true);
}

void Scope::begin(const char* name, const char* category, double bytes, double flops) {
  name_ = name;
  category_ = category;
  bytes_ = bytes;
  flops_ = flops;
  t_child_ns.push_back(0);
  if (const auto push = state().hooks.range_push) push(name);
  start_ns_ = now_ns();
}

void Scope::end() {
  const int64_t dur = now_ns() - start_ns_;
  if (const auto pop = state().hooks.range_pop) pop();
  const int64_t child = t_child_ns.back();
  t_child_ns.pop_back();
  if (!t_child_ns.empty()) t_child_ns.back() += dur;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!enabled() || !s.tracing) return;
  const uint32_t tid = s.tids.emplace(std::this_thread::get_id(), uint32_t(s.tids.size())).first->second;
  s.events.push_back(Event{name_, category_, start_ns_ - g_origin_ns, dur, dur - child, bytes_, flops_, tid});
}

std::string stop() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!enabled()) return "";
  g_enabled.store(false);
  if (!s.tracing) return "";  // NVTX ranges only: nothing recorded
  // The device spans, resolved now (this waits for the GPUs, once).
  const std::vector<DeviceEvent> dev = s.hooks.collect ? s.hooks.collect() : std::vector<DeviceEvent>{};

  // Chrome trace: complete events ("ph": "X") with microsecond timestamps.
  std::ofstream out(s.path);
  out << "{\"displayTimeUnit\": \"ns\", \"traceEvents\": [\n";
  char buf[512];
  for (size_t i = 0; i < s.events.size(); ++i) {
    const Event& e = s.events[i];
    std::snprintf(buf, sizeof buf,
                  "{\"name\": %s, \"cat\": %s, \"ph\": \"X\", \"ts\": %.3f, \"dur\": %.3f, \"pid\": 1, "
                  "\"tid\": %u, \"args\": {\"bytes\": %.0f, \"flops\": %.0f}}%s\n",
                  json_str(e.name).c_str(), json_str(e.category).c_str(), double(e.start_ns) / 1e3,
                  double(e.dur_ns) / 1e3, e.tid, e.bytes, e.flops, i + 1 < s.events.size() ? "," : "");
    out << buf;
  }
  // The device track: one process per GPU (pid 100 + N), named for Perfetto.
  std::map<int, bool> gpus;
  for (const DeviceEvent& e : dev) gpus[e.device] = true;
  size_t written = s.events.size();
  for (const auto& [d, unused] : gpus) {
    out << (written++ ? "," : "");
    std::snprintf(buf, sizeof buf, "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %d, \"args\": {\"name\": \"GPU %d (device time)\"}}\n",
                  100 + d, d);
    out << buf;
  }
  for (const DeviceEvent& e : dev) {
    out << (written++ ? "," : "");
    std::snprintf(buf, sizeof buf,
                  "{\"name\": %s, \"cat\": \"gpu\", \"ph\": \"X\", \"ts\": %.3f, \"dur\": %.3f, \"pid\": %d, "
                  "\"tid\": 0, \"args\": {\"bytes\": %.0f, \"flops\": %.0f}}\n",
                  json_str(e.name).c_str(), double(e.start_ns) / 1e3, double(e.dur_ns) / 1e3, 100 + e.device, e.bytes,
                  e.flops);
    out << buf;
  }
  out << "]}\n";
  const bool wrote = bool(out);
  out.close();

  // Summary by (category, name), sorted by self time.
  struct Agg {
    int64_t calls = 0, total_ns = 0, self_ns = 0;
    double bytes = 0, flops = 0;
  };
  std::map<std::pair<std::string, std::string>, Agg> agg;
  int64_t all_self = 0;
  for (const Event& e : s.events) {
    Agg& a = agg[{e.category, e.name}];
    ++a.calls;
    a.total_ns += e.dur_ns;
    a.self_ns += e.self_ns;
    a.bytes += e.bytes;
    a.flops += e.flops;
    all_self += e.self_ns;
  }
  std::vector<std::pair<std::pair<std::string, std::string>, Agg>> rows(agg.begin(), agg.end());
  std::sort(rows.begin(), rows.end(), [](auto& x, auto& y) { return x.second.self_ns > y.second.self_ns; });
  std::ostringstream os;
  os << "metaloss profile: " << s.events.size() << " events, trace " << (wrote ? "written to " : "NOT written to ")
     << s.path << "\n";
  std::snprintf(buf, sizeof buf, "%-9s %-28s %9s %11s %11s %6s %9s %9s %9s\n", "kind", "name", "calls", "total ms",
                "self ms", "self%", "avg us", "GB/s", "GFLOP/s");
  os << buf;
  const size_t top = std::min<size_t>(rows.size(), 25);
  for (size_t i = 0; i < top; ++i) {
    const auto& [key, a] = rows[i];
    const double secs = double(a.total_ns) / 1e9;
    std::snprintf(buf, sizeof buf, "%-9s %-28.28s %9lld %11.3f %11.3f %5.1f%% %9.2f %9.2f %9.2f\n", key.first.c_str(),
                  key.second.c_str(), (long long)a.calls, double(a.total_ns) / 1e6, double(a.self_ns) / 1e6,
                  all_self ? 100.0 * double(a.self_ns) / double(all_self) : 0.0, double(a.total_ns) / 1e3 / double(a.calls),
                  secs > 0 ? a.bytes / secs / 1e9 : 0.0, secs > 0 ? a.flops / secs / 1e9 : 0.0);
    os << buf;
  }
  if (rows.size() > top) os << "(" << rows.size() - top << " more rows in the trace)\n";
  if (!dev.empty()) {  // device time per kernel: what the GPU spent, and the rates it achieved
    std::map<std::pair<int, std::string>, Agg> g;
    int64_t all = 0;
    for (const DeviceEvent& e : dev) {
      Agg& a = g[{e.device, e.name}];
      ++a.calls;
      a.total_ns += e.dur_ns;
      a.bytes += e.bytes;
      a.flops += e.flops;
      all += e.dur_ns;
    }
    std::vector<std::pair<std::pair<int, std::string>, Agg>> grows(g.begin(), g.end());
    std::sort(grows.begin(), grows.end(), [](auto& x, auto& y) { return x.second.total_ns > y.second.total_ns; });
    std::snprintf(buf, sizeof buf, "device time (CUDA events), %zu kernels:\n%-9s %-28s %9s %11s %6s %9s %9s %9s\n",
                  dev.size(), "device", "kernel", "calls", "device ms", "share", "avg us", "GB/s", "GFLOP/s");
    os << buf;
    for (size_t i = 0; i < std::min<size_t>(grows.size(), 25); ++i) {
      const auto& [key, a] = grows[i];
      const double secs = double(a.total_ns) / 1e9;
      std::snprintf(buf, sizeof buf, "cuda:%-4d %-28.28s %9lld %11.3f %5.1f%% %9.2f %9.2f %9.2f\n", key.first,
                    key.second.c_str(), (long long)a.calls, double(a.total_ns) / 1e6,
                    all ? 100.0 * double(a.total_ns) / double(all) : 0.0, double(a.total_ns) / 1e3 / double(a.calls),
                    secs > 0 ? a.bytes / secs / 1e9 : 0.0, secs > 0 ? a.flops / secs / 1e9 : 0.0);
      os << buf;
    }
  }
  if (s.peak_probe) {
    std::snprintf(buf, sizeof buf, "tensor memory high-water mark: %.2f MiB\n", double(s.peak_probe()) / 1048576.0);
    os << buf;
  }
  std::fputs(os.str().c_str(), stderr);
  s.events.clear();
  return os.str();
}

}  // namespace metaloss::profiler
