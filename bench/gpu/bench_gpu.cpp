// GPU kernel throughput: elementwise and reduction kernels in GB/s next to the device-to-device
// copy bandwidth, and GEMM in TFLOP/s. Each line times one op run back to back (median of
// `iters` runs, each ended by a device synchronisation, after warm-up), so launch overhead is
// included but negligible at these sizes. bench/gpu/torch_kernels.py times the same ops in PyTorch.
//
//   bench_gpu [--iters N]     prints one JSON line per op
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/metaloss.h"
#include "kernels/cuda/runtime.h"

using namespace metaloss;
namespace cuda = metaloss::kernels::cuda;

namespace {

int g_iters = 20;
double g_copy_gbs = 0;

double median_seconds(const std::function<void()>& f) {
  for (int i = 0; i < 3; ++i) f();
  cuda::synchronize(0);
  std::vector<double> s;
  for (int i = 0; i < g_iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    cuda::synchronize(0);
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(s.begin(), s.end());
  return s[s.size() / 2];
}

void report_bw(const char* name, double bytes, const std::function<void()>& f) {
  const double t = median_seconds(f), gbs = bytes / t / 1e9;
  std::printf("{\"op\": \"%s\", \"us\": %.1f, \"GB_per_s\": %.0f, \"pct_of_copy\": %.0f}\n", name, t * 1e6, gbs,
              g_copy_gbs > 0 ? 100 * gbs / g_copy_gbs : 100.0);
  std::fflush(stdout);
  if (g_copy_gbs == 0) g_copy_gbs = gbs;
}

void report_flops(const char* name, double flops, const std::function<void()>& f) {
  const double t = median_seconds(f);
  std::printf("{\"op\": \"%s\", \"us\": %.1f, \"TFLOP_per_s\": %.2f}\n", name, t * 1e6, flops / t / 1e12);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2)
    if (!std::strcmp(argv[i], "--iters")) g_iters = std::atoi(argv[i + 1]);
  if (cuda::device_count() == 0) {
    std::fprintf(stderr, "bench_gpu: no CUDA device\n");
    return 77;
  }
  try {
    const Device gpu = Device::cuda(0);
    NoGrad ng;
    Generator gen(1);
    const int64_t n = int64_t(1) << 26, side = 8192;  // 64 Mi floats = 256 MiB per tensor
    const double B = 4.0 * double(n);
    Tensor a = randn(Shape{n}, DType::Float32, gen, gpu), b = randn(Shape{n}, DType::Float32, gen, gpu);
    Tensor c = Tensor::empty(Shape{n}, DType::Float32, gpu);
    Tensor m = reshape(a, {side, side}), row = randn(Shape{side}, DType::Float32, gen, gpu);
    report_bw("copy_d2d (baseline)", 2 * B, [&] { cuda::memcpy(c.raw_data(), gpu, a.raw_data(), gpu, size_t(B)); });
    report_bw("add", 3 * B, [&] { (void)add(a, b); });
    report_bw("mul_scalar", 2 * B, [&] { (void)mul(a, 2.0); });
    report_bw("exp", 2 * B, [&] { (void)exp(a); });
    report_bw("relu", 2 * B, [&] { (void)relu(a); });
    report_bw("add_row_broadcast [8192,8192]+[8192]", 2 * B, [&] { (void)add(m, row); });
    report_bw("where(gt(a,0), a, b)", 3 * B + B / 4, [&] { (void)where(gt(a, 0.0), a, b); });
    report_bw("cast float32->float64", 3 * B, [&] { (void)a.to(DType::Float64); });
    report_bw("transpose copy [8192,8192]", 2 * B, [&] { (void)contiguous(transpose(m, 0, 1)); });
    report_bw("sum all", B, [&] { (void)sum(a); });
    report_bw("sum dim 1 (row sums) [8192,8192]", B, [&] { (void)sum(m, {1}); });
    report_bw("sum dim 0 (column sums) [8192,8192]", B, [&] { (void)sum(m, {0}); });
    report_bw("amax dim 1 [8192,8192]", B, [&] { (void)amax(m, {1}); });
    report_bw("softmax dim 1 [65536,1024]", 2 * B, [&] { (void)softmax(reshape(a, {65536, 1024}), 1); });
    report_bw("log_softmax dim 1 [8388608,8] (classes)", 2 * B, [&] { (void)log_softmax(reshape(a, {n / 8, 8}), 1); });
    for (DType t : {DType::Float32, DType::Float64}) {
      const int64_t s = 4096;
      Tensor x = randn(Shape{s, s}, t, gen, gpu), y = randn(Shape{s, s}, t, gen, gpu);
      const std::string name = std::string("gemm ") + dtype_name(t) + " 4096^3";
      report_flops(name.c_str(), 2.0 * double(s) * double(s) * double(s), [&] { (void)matmul(x, y); });
    }
    Tensor xb = randn(Shape{128, 784}, DType::Float32, gen, gpu), wl = randn(Shape{1000, 784}, DType::Float32, gen, gpu);
    report_flops("linear float32 [128,784]x[784,1000]^T (MLP layer)", 2.0 * 128 * 784 * 1000, [&] { (void)linear(xb, wl); });
    const auto st = cuda::memory_stats(0);
    std::printf("{\"allocator\": {\"requests\": %llu, \"cuda_mallocs\": %llu, \"peak_MB\": %.0f}}\n",
                (unsigned long long)st.requests, (unsigned long long)st.cuda_mallocs, double(st.peak_bytes_in_use) / 1e6);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu: %s\n", e.what());
    return 1;
  }
  return 0;
}
