// Device timing for the profiler (kernels/profiler.h): a CUDA event pair around each kernel
// launched through kernels/kernels.h, on the device's stream, resolved only at profiler::stop()
// so that profiling never synchronises a running program; and NVTX ranges for every profiler
// scope (ops, backward nodes, kernels), which Nsight Systems shows by name. Nothing here runs
// while profiling is off: KernelTimer's constructor tests the profiler's flag first.
#include <cuda_runtime.h>
#ifdef METALOSS_WITH_NVTX
#include <nvtx3/nvToolsExt.h>
#endif

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <vector>

#include "kernels/cuda/check.h"
#include "kernels/profiler.h"

namespace metaloss::kernels::cuda {
namespace {

struct Span {
  const char* name;
  int device;
  cudaEvent_t start, end;
  double bytes, flops;
};

struct Timing {
  std::mutex mu;
  std::vector<Span> spans;                                   // recorded, not yet resolved
  std::vector<profiler::DeviceEvent> resolved;               // resolved early (see sweep)
  std::map<int, std::pair<cudaEvent_t, int64_t>> reference;  // per device: an event and its host time
  std::map<int, std::vector<cudaEvent_t>> spare;             // per device (events belong to one): reused
  int64_t dropped = 0;                                       // spans that could not be timed
  size_t next_sweep = 4096;                                  // spans pending before the next sweep
};
Timing& timing() {
  static Timing* t = new Timing;  // never destroyed: stop() may run late
  return *t;
}

// An event of the current device, or null when CUDA refuses one (then the span is dropped:
// profiling must never make a kernel fail, nor throw from KernelTimer's destructor).
cudaEvent_t take_event(Timing& t, int device) noexcept {
  auto& pool = t.spare[device];
  if (!pool.empty()) {
    cudaEvent_t e = pool.back();
    pool.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  if (cudaEventCreate(&e) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return e;
}
void give_back(Timing& t, int device, cudaEvent_t e) noexcept {
  if (e) t.spare[device].push_back(e);
}

// The first span of a device in a profile places that device's clock on the host's: an event
// recorded and waited for once, at a known host time.
bool ensure_reference(Timing& t, int device) noexcept {
  if (t.reference.count(device)) return true;
  cudaEvent_t e = take_event(t, device);
  if (!e || cudaEventRecord(e, stream()) != cudaSuccess || cudaEventSynchronize(e) != cudaSuccess) {
    cudaGetLastError();
    give_back(t, device, e);
    return false;
  }
  t.reference[device] = {e, profiler::elapsed_ns()};
  return true;
}

// Span -> event on the profiler's clock. wait: block until it ran (at stop()); otherwise only a
// span whose end event has completed is resolved. False: not (yet) resolvable.
bool resolve(Timing& t, const Span& s, bool wait, profiler::DeviceEvent& out) {
  if (!wait && cudaEventQuery(s.end) != cudaSuccess) {
    cudaGetLastError();  // cudaErrorNotReady is not an error
    return false;
  }
  const auto ref = t.reference.find(s.device);
  float from_ref = 0, dur = 0;
  const bool ok = ref != t.reference.end() && (!wait || cudaEventSynchronize(s.end) == cudaSuccess) &&
                  cudaEventElapsedTime(&from_ref, ref->second.first, s.start) == cudaSuccess &&
                  cudaEventElapsedTime(&dur, s.start, s.end) == cudaSuccess;
  if (ok)
    out = {s.name, s.device, ref->second.second + int64_t(double(from_ref) * 1e6), int64_t(double(dur) * 1e6), s.bytes,
           s.flops};
  else
    cudaGetLastError();
  return ok;
}

// Keeps the number of live events bounded on a long profile: spans that have completed are
// resolved now and their events reused.
// (A GPU far behind the host keeps spans pending: the next sweep then waits for twice as many.)
void sweep(Timing& t) {
  std::vector<Span> pending;
  for (const Span& s : t.spans) {
    profiler::DeviceEvent e;
    if (resolve(t, s, false, e)) {
      t.resolved.push_back(e);
      give_back(t, s.device, s.start);
      give_back(t, s.device, s.end);
    } else {
      pending.push_back(s);
    }
  }
  t.spans.swap(pending);
  t.next_sweep = std::max<size_t>(4096, 2 * t.spans.size());
}

void on_start() {
  Timing& t = timing();
  std::lock_guard<std::mutex> lock(t.mu);
  for (const Span& s : t.spans) {
    give_back(t, s.device, s.start);
    give_back(t, s.device, s.end);
  }
  t.spans.clear();
  t.resolved.clear();
  t.dropped = 0;
  t.next_sweep = 4096;
  for (const auto& [d, ref] : t.reference) give_back(t, d, ref.first);
  t.reference.clear();
}

std::vector<profiler::DeviceEvent> collect() {
  Timing& t = timing();
  std::lock_guard<std::mutex> lock(t.mu);
  std::vector<profiler::DeviceEvent> out;
  out.swap(t.resolved);
  for (const Span& s : t.spans) {
    profiler::DeviceEvent e;
    if (resolve(t, s, true, e)) out.push_back(e);
    else ++t.dropped;
    give_back(t, s.device, s.start);
    give_back(t, s.device, s.end);
  }
  t.spans.clear();
  if (t.dropped > 0)  // said, not hidden: a device error, or the CUDA runtime already shut down
    std::fprintf(stderr, "metaloss profile: %lld CUDA kernel spans could not be timed on the device\n",
                 (long long)t.dropped);
  return out;
}

#ifdef METALOSS_WITH_NVTX
void range_push(const char* name) { nvtxRangePushA(name); }
void range_pop() { nvtxRangePop(); }
#else
constexpr void (*range_push)(const char*) = nullptr;
constexpr void (*range_pop)() = nullptr;
#endif

struct Register {
  Register() { profiler::set_device_hooks({on_start, collect, range_push, range_pop}); }
} g_register;

}  // namespace

void KernelTimer::begin(const char* name, double bytes, double flops) {
  if (!profiler::tracing()) return;  // NVTX-only mode
  Timing& t = timing();
  std::lock_guard<std::mutex> lock(t.mu);
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || !ensure_reference(t, device)) {
    cudaGetLastError();
    ++t.dropped;
    return;
  }
  cudaEvent_t e = take_event(t, device);
  if (!e || cudaEventRecord(e, stream()) != cudaSuccess) {
    cudaGetLastError();
    give_back(t, device, e);
    ++t.dropped;
    return;
  }
  device_ = device;
  name_ = name;
  bytes_ = bytes;
  flops_ = flops;
  start_ = e;
}

void KernelTimer::end() noexcept {
  Timing& t = timing();
  std::lock_guard<std::mutex> lock(t.mu);
  cudaEvent_t e = take_event(t, device_);
  if (!e || cudaEventRecord(e, stream()) != cudaSuccess) {
    cudaGetLastError();
    give_back(t, device_, static_cast<cudaEvent_t>(start_));
    give_back(t, device_, e);
    ++t.dropped;
    return;
  }
  t.spans.push_back({name_, device_, static_cast<cudaEvent_t>(start_), e, bytes_, flops_});
  if (t.spans.size() >= t.next_sweep) sweep(t);
}

}  // namespace metaloss::kernels::cuda
