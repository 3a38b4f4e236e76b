// The CPU kernels (kernels/cpu/*.cpp). Same contracts as kernels/kernels.h, on host memory; the
// engine reaches them through the dispatching functions declared there.
#pragma once
#include "kernels/kernels.h"

namespace metaloss::kernels::cpu {

#include "kernels/backend_api.inc"

// Direct convolution without an im2col buffer (kernels/cpu/direct_conv.cpp), forward and both
// adjoints, float32 / float64, contiguous NCHW operands; the CPU side of conv2d_forward,
// conv2d_backward_data and conv2d_backward_filter (kernels/kernels.h).
void direct_conv2d_forward(DType t, const Conv2dGeom& g, int64_t out_channels, const void* x, const void* w, void* y);
void direct_conv2d_backward_data(DType t, const Conv2dGeom& g, int64_t out_channels, const void* dy, const void* w, void* dx);
void direct_conv2d_backward_filter(DType t, const Conv2dGeom& g, int64_t out_channels, const void* x, const void* dy,
                                   void* dw);

// CPU only (LAPACK): see kernels::symmetric_eigen.
void symmetric_eigen(DType t, int64_t n, const void* a, void* eigenvalues, void* eigenvectors);

}  // namespace metaloss::kernels::cpu
