// The CPU kernels (kernels/cpu/*.cpp). Same contracts as kernels/kernels.h, on host memory; the
// engine reaches them through the dispatching functions declared there.
#pragma once
#include "kernels/kernels.h"

namespace metaloss::kernels::cpu {

#include "kernels/backend_api.inc"

// CPU only (LAPACK): see kernels::symmetric_eigen.
void symmetric_eigen(DType t, int64_t n, const void* a, void* eigenvalues, void* eigenvectors);

}  // namespace metaloss::kernels::cpu
