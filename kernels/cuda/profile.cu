// Device timing for the profiler (kernels/profiler.h): a CUDA event pair around each kernel
// launched through kernels/kernels.h, on the device's stream, resolved only at profiler::stop()
// so that profiling never synchronises a running program; and NVTX ranges for every profiler
// scope (ops, backward nodes, kernels), which Nsight Systems shows by name. Nothing here runs
// while profiling is off: KernelTimer's constructor tests the profiler's flag first.
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

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
  std::vector<Span> spans;
  std::map<int, std::pair<cudaEvent_t, int64_t>> reference;  // per device: an event and its host time
  std::vector<cudaEvent_t> spare;                            // events of resolved spans, reused
};
Timing& timing() {
  static Timing* t = new Timing;  // never destroyed: stop() may run from atexit
  return *t;
}

cudaEvent_t take_event(Timing& t) {
  if (!t.spare.empty()) {
    cudaEvent_t e = t.spare.back();
    t.spare.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  ML_CUDA_CHECK(cudaEventCreate(&e), "profiler event");
  return e;
}

// The first span of a device in a profile places that device's clock on the host's: an event
// recorded and waited for once, at a known host time.
void ensure_reference(Timing& t, int device) {
  if (t.reference.count(device)) return;
  cudaEvent_t e = take_event(t);
  ML_CUDA_CHECK(cudaEventRecord(e, stream()), "profiler reference event");
  ML_CUDA_CHECK(cudaEventSynchronize(e), "profiler reference event");
  t.reference[device] = {e, profiler::elapsed_ns()};
}

void on_start() {
  Timing& t = timing();
  std::lock_guard<std::mutex> lock(t.mu);
  for (const Span& s : t.spans) t.spare.insert(t.spare.end(), {s.start, s.end});
  t.spans.clear();
  for (const auto& [d, ref] : t.reference) t.spare.push_back(ref.first);
  t.reference.clear();
}

std::vector<profiler::DeviceEvent> collect() {
  Timing& t = timing();
  std::lock_guard<std::mutex> lock(t.mu);
  std::vector<profiler::DeviceEvent> out;
  out.reserve(t.spans.size());
  for (const Span& s : t.spans) {
    float from_ref = 0, dur = 0;
    const auto& [ref, ref_ns] = t.reference.at(s.device);
    if (cudaEventSynchronize(s.end) == cudaSuccess && cudaEventElapsedTime(&from_ref, ref, s.start) == cudaSuccess &&
        cudaEventElapsedTime(&dur, s.start, s.end) == cudaSuccess)
      out.push_back({s.name, s.device, ref_ns + int64_t(double(from_ref) * 1e6), int64_t(double(dur) * 1e6), s.bytes,
                     s.flops});
    t.spare.insert(t.spare.end(), {s.start, s.end});
  }
  cudaGetLastError();  // a span that could not be resolved is left out, not an error of the program
  t.spans.clear();
  return out;
}

void range_push(const char* name) { nvtxRangePushA(name); }
void range_pop() { nvtxRangePop(); }

struct Register {
  Register() { profiler::set_device_hooks({on_start, collect, range_push, range_pop}); }
} g_register;

}  // namespace

void KernelTimer::begin(const char* name, double bytes, double flops) {
  Timing& t = timing();
  std::lock_guard<std::mutex> lock(t.mu);
  if (!profiler::tracing()) return;  // NVTX-only mode
  device_ = current_device();
  ensure_reference(t, device_);
  name_ = name;
  bytes_ = bytes;
  flops_ = flops;
  cudaEvent_t e = take_event(t);
  ML_CUDA_CHECK(cudaEventRecord(e, stream()), "profiler start event");
  start_ = e;
}

void KernelTimer::end() {
  Timing& t = timing();
  std::lock_guard<std::mutex> lock(t.mu);
  cudaEvent_t e = take_event(t);
  if (cudaEventRecord(e, stream()) != cudaSuccess) {  // (never throw from a destructor)
    cudaGetLastError();
    t.spare.insert(t.spare.end(), {static_cast<cudaEvent_t>(start_), e});
    return;
  }
  t.spans.push_back({name_, device_, static_cast<cudaEvent_t>(start_), e, bytes_, flops_});
}

}  // namespace metaloss::kernels::cuda
