// CUDA runtime glue: per-device streams, the caching device allocator, host<->device copies.
#include <cuda_runtime.h>

#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"

namespace metaloss::kernels::cuda {
namespace {

constexpr int kMaxDevices = 16;

// Size classes: multiples of 512 bytes up to 1 MiB, then 8 classes per power of two (<= 12.5%
// waste). Blocks are only reused within their class, so a steady loop that asks for the same
// sizes every step hits the cache every time after the first.
size_t size_class(size_t bytes) {
  if (bytes <= (size_t(1) << 20)) return (bytes + 511) / 512 * 512;
  size_t p = size_t(1) << 20;
  while (p * 2 < bytes) p *= 2;
  const size_t step = p / 8;
  return (bytes + step - 1) / step * step;
}

struct DevicePool {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_lists;
  MemoryStats stats;
};
DevicePool& pool(int device) {
  static DevicePool* pools = new DevicePool[kMaxDevices];  // never destroyed: tensors may die at exit
  return pools[device];
}

struct DeviceScope {  // makes `device` current for this thread while alive
  int prev;
  explicit DeviceScope(int device) : prev(current_device()) { make_current(device); }
  ~DeviceScope() {
    try {
      make_current(prev);
    } catch (...) {
    }
  }
};

void free_cached(int device) {
  DevicePool& p = pool(device);
  if (p.free_lists.empty()) return;  // never touch (or create a context on) an unused device
  DeviceScope scope(device);
  for (auto& [cls, list] : p.free_lists)
    for (void* ptr : list) ML_CUDA_CHECK(cudaFree(ptr), "free cached device memory");
  p.free_lists.clear();
  p.stats.bytes_cached = 0;
}

}  // namespace

bool built_with_cuda() { return true; }
bool built_with_cudnn() {
#ifdef METALOSS_WITH_CUDNN
  return true;
#else
  return false;
#endif
}

int device_count() {
  static const int n = [] {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no driver" error
      return 0;
    }
    return count < kMaxDevices ? count : kMaxDevices;
  }();
  return n;
}

void check_device(Device d, const char* what) {
  if (!d.is_cuda()) return;
  const int n = device_count();
  if (d.index < 0 || d.index >= n)
    throw std::invalid_argument(std::string(what) + ": device " + d.str() + " is not available (" +
                                (n == 0 ? std::string("no CUDA device found") : std::to_string(n) + " CUDA device(s)") + ")");
}

namespace {
thread_local int t_current = -1;  // cache of cudaGetDevice for this thread
}
int current_device() {
  if (t_current < 0) ML_CUDA_CHECK(cudaGetDevice(&t_current), "current device");
  return t_current;
}
void make_current(int device) {
  if (device == current_device()) return;
  ML_CUDA_CHECK(cudaSetDevice(device), "set device");
  t_current = device;
}

int sm_count() {
  constexpr int kCached = 64;
  static std::atomic<int> cached[kCached];  // 0 = not asked yet
  const int dev = current_device();
  int n = dev >= 0 && dev < kCached ? cached[dev].load(std::memory_order_relaxed) : 0;
  if (n == 0) {
    ML_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev), "multiprocessor count");
    if (n < 1) n = 1;
    if (dev >= 0 && dev < kCached) cached[dev].store(n, std::memory_order_relaxed);
  }
  return n;
}

cudaStream_t stream() {
  // One non-blocking stream per device: every kernel, copy and library call of that device is
  // ordered on it, which is what makes immediate reuse of freed blocks safe.
  static cudaStream_t streams[kMaxDevices] = {};
  static std::once_flag once[kMaxDevices];
  const int d = current_device();
  std::call_once(once[d], [d] { ML_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[d], cudaStreamNonBlocking), "create stream"); });
  return streams[d];
}

void* allocate(int device, size_t bytes) {
  check_device(Device::cuda(device), "cuda allocate");
  const size_t cls = size_class(bytes == 0 ? 1 : bytes);
  DevicePool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mu);
  ++p.stats.requests;
  auto it = p.free_lists.find(cls);
  void* ptr = nullptr;
  if (it != p.free_lists.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    p.stats.bytes_cached -= cls;
  } else {
    DeviceScope scope(device);
    cudaError_t e = cudaMalloc(&ptr, cls);
    if (e == cudaErrorMemoryAllocation) {  // give the cache back and try once more
      cudaGetLastError();
      free_cached(device);
      e = cudaMalloc(&ptr, cls);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      throw std::runtime_error("cuda allocate: cudaMalloc of " + std::to_string(cls) + " bytes on cuda:" +
                               std::to_string(device) + " failed (" + cudaGetErrorString(e) + "); " +
                               std::to_string(p.stats.bytes_in_use) + " bytes in use by tensors");
    }
    ++p.stats.cuda_mallocs;
  }
  p.stats.bytes_in_use += cls;
  if (p.stats.bytes_in_use > p.stats.peak_bytes_in_use) p.stats.peak_bytes_in_use = p.stats.bytes_in_use;
  return ptr;
}

void release(int device, void* ptr, size_t bytes) {
  if (!ptr) return;
  check_device(Device::cuda(device), "cuda release");
  const size_t cls = size_class(bytes == 0 ? 1 : bytes);
  DevicePool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mu);
  p.stats.bytes_in_use -= cls;
  p.free_lists[cls].push_back(ptr);
  p.stats.bytes_cached += cls;
}

MemoryStats memory_stats(int device) {
  check_device(Device::cuda(device), "cuda memory_stats");
  DevicePool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mu);
  return p.stats;
}

void reset_peak(int device) {
  check_device(Device::cuda(device), "cuda reset_peak");
  DevicePool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mu);
  p.stats.peak_bytes_in_use = p.stats.bytes_in_use;
}

void empty_cache() {
  for (int d = 0; d < device_count(); ++d) {
    std::lock_guard<std::mutex> lock(pool(d).mu);
    if (pool(d).free_lists.empty()) continue;
    synchronize(d);  // cached blocks may still be read by queued kernels
    free_cached(d);
  }
}

void memcpy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  if (bytes == 0) return;
  const Device on = dst_dev.is_cuda() ? dst_dev : src_dev;
  if (!on.is_cuda()) throw std::invalid_argument("cuda memcpy: neither side is a CUDA device");
  DeviceScope scope(on.index);
  cudaStream_t s = stream();
  if (dst_dev.is_cuda() && src_dev.is_cuda() && dst_dev.index != src_dev.index) {
    // Across devices: order after both devices' queued work.
    synchronize(src_dev.index);
    ML_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_dev.index, src, src_dev.index, bytes, s), "copy between devices");
    ML_CUDA_CHECK(cudaStreamSynchronize(s), "copy between devices");
    return;
  }
  const cudaMemcpyKind kind = dst_dev.is_cuda() ? (src_dev.is_cuda() ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                                : cudaMemcpyDeviceToHost;
  ML_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, s), "copy to/from device");
  // Host memory may be pageable and reused as soon as we return: wait for the copy.
  if (kind != cudaMemcpyDeviceToDevice) ML_CUDA_CHECK(cudaStreamSynchronize(s), "copy to/from device");
}

void synchronize(int device) {
  DeviceScope scope(device);
  ML_CUDA_CHECK(cudaStreamSynchronize(stream()), "synchronize");
}

}  // namespace metaloss::kernels::cuda
