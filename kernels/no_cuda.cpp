// The CUDA runtime API of kernels/cuda/runtime.h in a build without CUDA: no devices, and a clear
// error for anything that would need one.
#ifndef METALOSS_WITH_CUDA
#include <stdexcept>
#include <string>

#include "kernels/cuda/runtime.h"

namespace metaloss::kernels::cuda {
namespace {
[[noreturn]] void not_built(const char* what) {
  throw std::runtime_error(std::string(what) +
                           ": metaloss was built without CUDA (configure with nvcc on the PATH, or -DMETALOSS_CUDA=ON)");
}
}  // namespace

bool built_with_cuda() { return false; }
bool built_with_cudnn() { return false; }
int device_count() { return 0; }
void check_device(Device d, const char* what) {
  if (d.is_cuda())
    throw std::invalid_argument(std::string(what) + ": device " + d.str() +
                                " is not available (metaloss was built without CUDA)");
}
void* allocate(int, size_t) { not_built("cuda allocate"); }
void release(int, void*, size_t) {}
MemoryStats memory_stats(int) { return {}; }
void reset_peak(int) {}
void empty_cache() {}
void memcpy(void*, Device, const void*, Device, size_t) { not_built("cuda memcpy"); }
void make_current(int) { not_built("cuda make_current"); }
void synchronize(int) {}

}  // namespace metaloss::kernels::cuda
#endif
