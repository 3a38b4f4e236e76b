// GEMM through cuBLAS. metaloss matrices are row-major; cuBLAS is column-major, and a row-major
// M x N matrix is the column-major N x M matrix of its transpose. So C = op(A) op(B) in row-major
// is C^T = op(B)^T op(A)^T in column-major: swap the operands and the m/n sizes, keep the flags.
#include <cublas_v2.h>

#include <mutex>
#include <stdexcept>
#include <string>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/profiler.h"

namespace metaloss::kernels::cuda {
namespace {

void check_cublas(cublasStatus_t s, const char* call) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuBLAS error in gemm (") + call + "): " + cublasGetStatusName(s) + ": " +
                             cublasGetStatusString(s));
}

cublasHandle_t handle() {
  static cublasHandle_t handles[16] = {};
  static std::once_flag once[16];
  const int d = current_device();
  std::call_once(once[d], [d] {
    check_cublas(cublasCreate(&handles[d]), "cublasCreate");
    // TF32 stays off: float32 results must agree with the CPU's to float32 tolerance.
    check_cublas(cublasSetMathMode(handles[d], CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  });
  check_cublas(cublasSetStream(handles[d], stream()), "cublasSetStream");
  return handles[d];
}

}  // namespace

void gemm(DType t, const GemmArgs& g, const void* a, const void* b, void* c) {
  if (g.m == 0 || g.n == 0) return;
  if (t != DType::Float32 && t != DType::Float64)
    throw std::invalid_argument(std::string("kernel gemm: unsupported dtype ") + dtype_name(t) + " (float32/float64 only)");
  METALOSS_PROFILE_SCOPE("gemm", "kernel", double(dtype_size(t)) * double(g.batch) * double(g.m * g.k + g.k * g.n + g.m * g.n),
                         2.0 * double(g.batch) * double(g.m) * double(g.n) * double(g.k));
  for (int64_t v : {g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.batch})
    if (v > INT32_MAX) throw std::invalid_argument("kernel gemm: size " + std::to_string(v) + " exceeds cuBLAS's 32-bit int");
  cublasHandle_t h = handle();
  const cublasOperation_t opa = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, opb = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = int(g.m), n = int(g.n), k = int(g.k);
  if (g.k == 0) {  // C = 0 (or unchanged when accumulating), as the CPU kernel
    if (!g.accumulate)
      for (int64_t i = 0; i < g.batch; ++i)
        ML_CUDA_CHECK(cudaMemset2DAsync(static_cast<char*>(c) + i * g.stride_c * int64_t(dtype_size(t)),
                                        size_t(g.ldc) * dtype_size(t), 0, size_t(g.n) * dtype_size(t), size_t(g.m), stream()),
                      "gemm (k = 0)");
    return;
  }
  if (t == DType::Float32) {
    const float alpha = 1, beta = g.accumulate ? 1 : 0;
    check_cublas(cublasSgemmStridedBatched(h, opb, opa, n, m, k, &alpha, static_cast<const float*>(b), int(g.ldb),
                                           g.stride_b, static_cast<const float*>(a), int(g.lda), g.stride_a, &beta,
                                           static_cast<float*>(c), int(g.ldc), g.stride_c, int(g.batch)),
                 "cublasSgemmStridedBatched");
  } else {
    const double alpha = 1, beta = g.accumulate ? 1 : 0;
    check_cublas(cublasDgemmStridedBatched(h, opb, opa, n, m, k, &alpha, static_cast<const double*>(b), int(g.ldb),
                                           g.stride_b, static_cast<const double*>(a), int(g.lda), g.stride_a, &beta,
                                           static_cast<double*>(c), int(g.ldc), g.stride_c, int(g.batch)),
                 "cublasDgemmStridedBatched");
  }
}

}  // namespace metaloss::kernels::cuda
