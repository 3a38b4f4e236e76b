// GEMM through CBLAS (OpenBLAS), batches looping here (OpenBLAS threads each call itself), and the
// symmetric eigendecomposition through the LAPACK that OpenBLAS ships.
#include <cblas.h>
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>
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

// ---- symmetric eigendecomposition (LAPACK dsyev/ssyev, which OpenBLAS ships) ---------------
extern "C" {
void dsyev_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
            const int* lwork, int* info);
void ssyev_(const char* jobz, const char* uplo, const int* n, float* a, const int* lda, float* w, float* work,
            const int* lwork, int* info);
}

namespace metaloss::kernels::cpu {

namespace {
template <class T, class F>
void syev(F lapack, int64_t n64, const T* a, T* w, T* v) {
  if (n64 > INT32_MAX) throw std::invalid_argument("kernel symmetric_eigen: matrix too large for LAPACK");
  const int n = int(n64), lda = n > 0 ? n : 1;
  // Row-major symmetric input = column-major same matrix; LAPACK overwrites it with the
  // eigenvectors in columns, i.e. rows of the row-major result: transpose into v below.
  std::vector<T> work_a(a, a + n64 * n64);
  int lwork = -1, info = 0;
  T query = 0;
  const char jobz = 'V', uplo = 'L';
  lapack(&jobz, &uplo, &n, work_a.data(), &lda, w, &query, &lwork, &info);
  lwork = std::max(1, int(query));
  std::vector<T> work(static_cast<size_t>(lwork));
  lapack(&jobz, &uplo, &n, work_a.data(), &lda, w, work.data(), &lwork, &info);
  if (info != 0)
    throw std::runtime_error("kernel symmetric_eigen: LAPACK ?syev failed (info " + std::to_string(info) + ")");
  for (int64_t i = 0; i < n64; ++i)
    for (int64_t j = 0; j < n64; ++j) v[i * n64 + j] = work_a[size_t(j * n64 + i)];  // column j -> column j
}
}  // namespace

void symmetric_eigen(DType t, int64_t n, const void* a, void* eigenvalues, void* eigenvectors) {
  if (t == DType::Float64)
    syev<double>(dsyev_, n, static_cast<const double*>(a), static_cast<double*>(eigenvalues),
                 static_cast<double*>(eigenvectors));
  else if (t == DType::Float32)
    syev<float>(ssyev_, n, static_cast<const float*>(a), static_cast<float*>(eigenvalues), static_cast<float*>(eigenvectors));
  else
    throw std::invalid_argument(std::string("kernel symmetric_eigen: unsupported dtype ") + dtype_name(t));
}

}  // namespace metaloss::kernels::cpu
