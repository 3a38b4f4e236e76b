// Process-wide settings of the engine, for programs above it (the CLI, embedders): they reach
// the kernels only through the engine (scripts/check_layers.sh keeps apps off kernels/).
#pragma once
#include "engine/tensor.h"
#include "kernels/profiler.h"  // metaloss::profiler: start/stop a Chrome trace of ops and kernels

namespace metaloss {

void set_num_threads(int n);  // threads of the CPU kernels (default: all cores)
int get_num_threads();
// Throws std::invalid_argument "<what>: device cuda:N is not available (...)" unless `d` can be used.
void check_device(Device d, const char* what);
// Whether this build has the CUDA backend and cuDNN (a GPU may still be absent at run time).
bool built_with_cuda();
int cuda_device_count();  // visible CUDA devices (0 without the backend or a GPU)
bool built_with_cudnn();

}  // namespace metaloss
