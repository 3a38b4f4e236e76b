// Entry point of the CUDA test suite. Without a usable CUDA device it prints why and exits 77,
// which CTest reports as "Skipped" (SKIP_RETURN_CODE), never as passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "kernels/cuda/runtime.h"

int main(int argc, char** argv) {
  namespace cuda = metaloss::kernels::cuda;
  if (!cuda::built_with_cuda()) {
    std::printf("CUDA tests skipped: metaloss was built without CUDA (no nvcc at configure time)\n");
    return 77;
  }
  if (cuda::device_count() == 0) {
    std::printf("CUDA tests skipped: no CUDA device (driver or GPU missing)\n");
    return 77;
  }
  std::printf("CUDA tests on %d device(s); cuDNN %s\n", cuda::device_count(), cuda::built_with_cudnn() ? "on" : "off");
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
