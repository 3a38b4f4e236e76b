// A low-overhead profiler for ops and kernels. Off unless METALOSS_PROFILE=FILE is set in the
// environment (or profiler_start(FILE) is called, as `--profile FILE` does). When on, every
// profiled scope records its name, category ("op", "backward", "kernel"), duration, bytes moved
// and FLOPs; at exit (or profiler_stop()) a Chrome-trace JSON is written to FILE (open it in
// Perfetto or chrome://tracing) and a summary table of the top entries by time is printed.
// When off, a scope costs one relaxed load of a global flag and a branch.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

namespace metaloss::profiler {

extern std::atomic<bool> g_enabled;
inline bool enabled() { return g_enabled.load(std::memory_order_relaxed); }

void start(const std::string& trace_path);
// Writes the trace and prints the summary to stderr; returns the summary text.
std::string stop();

// Current high-water mark of tensor memory is sampled from this callback (the engine's allocator
// registers it; kernels know nothing about tensors).
void set_memory_probe(size_t (*peak_bytes)());

class Scope {
 public:
  Scope(const char* name, const char* category, double bytes = 0, double flops = 0) {
    if (enabled()) begin(name, category, bytes, flops);
  }
  ~Scope() {
    if (name_) end();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  void begin(const char* name, const char* category, double bytes, double flops);
  void end();
  const char* name_ = nullptr;
  const char* category_ = nullptr;
  double bytes_ = 0, flops_ = 0;
  int64_t start_ns_ = 0;
};

}  // namespace metaloss::profiler

#define METALOSS_PROFILE_CAT2(a, b) a##b
#define METALOSS_PROFILE_CAT(a, b) METALOSS_PROFILE_CAT2(a, b)
// METALOSS_PROFILE_SCOPE("add", "op", bytes, flops)
#define METALOSS_PROFILE_SCOPE(...) \
  ::metaloss::profiler::Scope METALOSS_PROFILE_CAT(metaloss_profile_scope_, __LINE__)(__VA_ARGS__)
