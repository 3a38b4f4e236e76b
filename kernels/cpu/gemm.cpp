// GEMM through CBLAS (OpenBLAS). Batches loop here; OpenBLAS threads each call itself.
#include <cblas.h>
#include <stdexcept>
#include <string>
#include "kernels/cpu/kernels.h"
#include "kernels/profiler.h"

namespace metaloss::kernels {

namespace cpu {

void gemm(DType t, const GemmArgs& g, const void* a, const void* b, void* c) {
  if (g.m == 0 || g.n == 0) return;
  const double es = double(dtype_size(t)), nb = double(g.batch);
  METALOSS_PROFILE_SCOPE("gemm", "kernel", nb * es * double(g.m * g.k + g.k * g.n + g.m * g.n),
                         2.0 * nb * double(g.m) * double(g.n) * double(g.k));
  const auto ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = g.trans_b ? CblasTrans : CblasNoTrans;
  const int m = int(g.m), n = int(g.n), k = int(g.k);
  for (int64_t i = 0; i < g.batch; ++i) {
    if (t == DType::Float32) {
      const float* A = static_cast<const float*>(a) + i * g.stride_a;
      const float* B = static_cast<const float*>(b) + i * g.stride_b;
      float* C = static_cast<float*>(c) + i * g.stride_c;
      cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, A, int(g.lda), B, int(g.ldb), g.accumulate ? 1.0f : 0.0f, C,
                  int(g.ldc));
    } else if (t == DType::Float64) {
      const double* A = static_cast<const double*>(a) + i * g.stride_a;
      const double* B = static_cast<const double*>(b) + i * g.stride_b;
      double* C = static_cast<double*>(c) + i * g.stride_c;
      cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, A, int(g.lda), B, int(g.ldb), g.accumulate ? 1.0 : 0.0, C,
                  int(g.ldc));
    } else {
      throw std::invalid_argument(std::string("kernel gemm: unsupported dtype ") + dtype_name(t));
    }
  }
}

}  // namespace cpu
}  // namespace metaloss::kernels
