// A low-overhead profiler for ops and kernels. Off unless METALOSS_PROFILE=FILE is set in the
// environment (or profiler_start(FILE) is called, as `--profile FILE` does). When on, every
// profiled scope records its name, category ("op", "backward", "kernel"), duration, bytes moved
// and FLOPs; at exit (or profiler_stop()) a Chrome-trace JSON is written to FILE (open it in
// Perfetto or chrome://tracing) and a summary table of the top entries by time is printed.
// When off, a scope costs one relaxed load of a global flag and a branch.
//
// On a GPU the host times of a kernel scope say little (launches are asynchronous), so the CUDA
// backend (kernels/cuda/profile.cu) registers DeviceHooks: every CUDA kernel launched through
// kernels/kernels.h is bracketed by a CUDA event pair on its stream, read back at stop() (no
// synchronisation while profiling), and shown on a device track of the trace ("GPU N") with its
// bytes and FLOPs, so the summary gives each kernel's achieved GB/s and FLOP/s on the device.
// Every scope (op, backward node, kernel) is also an NVTX range, so Nsight Systems shows the
// engine's names; METALOSS_NVTX=1 turns on the NVTX ranges alone (no trace, no device events).
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace metaloss::profiler {

extern std::atomic<bool> g_enabled;
inline bool enabled() { return g_enabled.load(std::memory_order_relaxed); }

void start(const std::string& trace_path);
// Writes the trace and prints the summary to stderr; returns the summary text.
std::string stop();

// Current high-water mark of tensor memory is sampled from this callback (the engine's allocator
// registers it; kernels know nothing about tensors).
void set_memory_probe(size_t (*peak_bytes)());

// Nanoseconds since start() on the profiler's clock (device spans are placed on it).
int64_t elapsed_ns();
// Whether start() asked for a trace (false in the NVTX-only mode of METALOSS_NVTX=1).
bool tracing();

// One kernel timed on a device, as the backend resolved it at stop().
struct DeviceEvent {
  const char* name;
  int device;
  int64_t start_ns, dur_ns;  // on the profiler's clock
  double bytes, flops;
};
struct DeviceHooks {
  void (*on_start)() = nullptr;                     // profiling starts: forget earlier spans
  std::vector<DeviceEvent> (*collect)() = nullptr;  // at stop(): waits for the devices, resolves every span
  void (*range_push)(const char* name) = nullptr;   // NVTX
  void (*range_pop)() = nullptr;
};
void set_device_hooks(const DeviceHooks& hooks);
DeviceHooks device_hooks();  // the registered ones (all null in a build without CUDA)
// Starts in NVTX-only mode: scopes become NVTX ranges, nothing is recorded or written.
void start_ranges_only();

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
