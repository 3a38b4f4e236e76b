// The CUDA runtime as the rest of metaloss sees it: device count, a caching device allocator,
// copies between host and device, synchronisation. Declared in every build; without CUDA
// (METALOSS_WITH_CUDA undefined) cuda_device_count() is 0 and the rest throws std::runtime_error
// saying the library was built without CUDA.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/device.h"
#include "kernels/profiler.h"

namespace metaloss::kernels::cuda {

bool built_with_cuda();
bool built_with_cudnn();
// Number of usable CUDA devices (0 without a driver or GPU; never throws).
int device_count();
// Throws std::invalid_argument when `d` is not a usable CUDA device, naming `what`.
void check_device(Device d, const char* what);

// Caching allocator: freed blocks are kept per device and size class and reused, so a steady
// loop does not call cudaMalloc per tensor. Reuse right after release is safe because all work of
// a device runs on its one stream (stream()); code that hands raw_data() to another stream must
// synchronise first. Byte counts in MemoryStats are of size classes, not of requests. An allocation that fails frees the cache and retries
// once, then throws std::runtime_error naming the size and the memory in use.
void* allocate(int device, size_t bytes);
void release(int device, void* p, size_t bytes);
struct MemoryStats {
  uint64_t requests = 0, cuda_mallocs = 0;
  size_t bytes_in_use = 0, peak_bytes_in_use = 0, bytes_cached = 0;
};
MemoryStats memory_stats(int device);
void reset_peak(int device);
void empty_cache();

// Copies `bytes` between any two of host/device memory (d2h and h2d wait for the device's
// stream: the host data is ready or consumed when they return).
void memcpy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
// Makes `device` the calling thread's current device (kernels launch on the current device).
void make_current(int device);
// Waits for all work queued on the device's stream.
void synchronize(int device);

// While profiling, times the kernels launched in its scope on the current device's stream (a CUDA
// event pair, resolved at profiler::stop(): kernels/cuda/profile.cu) with their bytes and FLOPs,
// for the profiler's device track. Off, it costs the profiler's flag test. CUDA builds only.
class KernelTimer {
 public:
  KernelTimer(const char* name, double bytes, double flops) {
    if (profiler::enabled()) begin(name, bytes, flops);
  }
  ~KernelTimer() {
    if (start_) end();
  }
  KernelTimer(const KernelTimer&) = delete;
  KernelTimer& operator=(const KernelTimer&) = delete;

 private:
  void begin(const char* name, double bytes, double flops);
  void end() noexcept;
  const char* name_ = nullptr;
  void* start_ = nullptr;  // cudaEvent_t
  int device_ = 0;
  double bytes_ = 0, flops_ = 0;
};

}  // namespace metaloss::kernels::cuda
