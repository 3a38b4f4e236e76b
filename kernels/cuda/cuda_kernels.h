// The CUDA kernels (kernels/cuda/*.cu). Same contracts as kernels/kernels.h; every pointer and
// view is memory on the current CUDA device, and every kernel runs on that device's stream
// (kernels/cuda/runtime.h), asynchronously. Launch errors throw std::runtime_error naming the
// kernel and the CUDA error. Defined only in a CUDA build (METALOSS_WITH_CUDA).
#pragma once
#include "kernels/kernels.h"

namespace metaloss::kernels::cuda {

#include "kernels/backend_api.inc"

// cuDNN convolution (see kernels/kernels.h); defined only when built with cuDNN.
void conv2d_forward(DType t, const Conv2dGeom& g, int64_t out_channels, const void* x, const void* w, void* y);
void conv2d_backward_data(DType t, const Conv2dGeom& g, int64_t out_channels, const void* dy, const void* w, void* dx);
void conv2d_backward_filter(DType t, const Conv2dGeom& g, int64_t out_channels, const void* x, const void* dy, void* dw);

}  // namespace metaloss::kernels::cuda
