// Kernel and op throughput: GEMM (engine matmul, kernel gemm, raw cblas_sgemm), elementwise ops
// against a memcpy baseline, reductions and softmax, conv2d forward/backward, and the cost of
// the profiler when off and when on. Throughput is reported as benchmark counters:
//   FLOPS  FLOP/s (GEMM, conv), printed with SI suffixes, e.g. "FLOPS=42.1G/s"
//   bytes  minimum bytes read + written per call, as a rate, e.g. "bytes=9.8G/s" (= GB/s)
// Engine ops run under NoGrad: these numbers are compute + dispatch, not tape.
//
//   bench_kernels [--threads=N] [google-benchmark flags]
// --threads sets the engine pool and OpenBLAS threads (default 1, as bench_autograd, so the
// numbers compare across machines and the engine/kernel/cblas GEMM rows share one setting).
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/metaloss.h"
#include "kernels/kernels.h"
#include "kernels/profiler.h"

namespace ml = metaloss;

namespace {

// Uniform [-1, 1) float32 tensor; ops never see NaN/Inf or denormals.
ml::Tensor rnd(const ml::Shape& s) { return ml::uniform(s, -1.0, 1.0); }

// Sizes for elementwise and whole-tensor reductions: 4K (L1), 64K (L2), 1M (L3-ish), 16M (DRAM).
void ElementwiseSizes(benchmark::internal::Benchmark* b) {
  b->ArgName("n");
  for (int64_t n : {int64_t(1) << 12, int64_t(1) << 16, int64_t(1) << 20, int64_t(1) << 24}) b->Arg(n);
}

// One untimed call before each timed loop: afterwards the caching allocator holds a block of the
// output's size, so a short run (a 16M-element op may run only once) does not time the page
// faults of a fresh 64 MB allocation.
void warm(const ml::Tensor& t) { benchmark::DoNotOptimize(t.raw_data()); }

void SetBytes(benchmark::State& state, double bytes) {
  state.counters["bytes"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}
void SetFlops(benchmark::State& state, double flops) {
  state.counters["FLOPS"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

// ================================ GEMM ======================================================
// Args: M, N, K, Bt. C[M,N] = A[M,K] @ B with B stored [K,N] (Bt=0) or [N,K] and used
// transposed (Bt=1, the Linear layer's x W^T). The three variants take identical operands, so
// engine - kernel is op dispatch + output allocation and kernel - cblas is the kernel wrapper.
void GemmShapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "N", "K", "Bt"});
  for (int64_t n : {64, 128, 256, 512, 1024}) b->Args({n, n, n, 0});
  b->Args({128, 1000, 784, 1});   // MLP layer 1: [128x784] x [1000x784]^T
  b->Args({128, 500, 1000, 1});   // [128x1000] x [500x1000]^T
}

struct GemmOperands {
  int64_t m, n, k;
  bool bt;
  ml::Tensor a, b, c;
  explicit GemmOperands(const benchmark::State& s)
      : m(s.range(0)), n(s.range(1)), k(s.range(2)), bt(s.range(3) != 0),
        a(rnd({m, k})), b(bt ? rnd({n, k}) : rnd({k, n})), c(ml::Tensor::zeros({m, n})) {}
  double flops() const { return 2.0 * double(m) * double(n) * double(k); }
};

void BM_Gemm_EngineMatmul(benchmark::State& state) {
  GemmOperands g(state);
  ml::NoGrad no_grad;
  // transpose() is a stride view: matmul hands it to GEMM as trans_b without a copy.
  const ml::Tensor b = g.bt ? ml::transpose(g.b, 0, 1) : g.b;
  warm(ml::matmul(g.a, b));
  for (auto _ : state) {
    ml::Tensor c = ml::matmul(g.a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  SetFlops(state, g.flops());
}
BENCHMARK(BM_Gemm_EngineMatmul)->Apply(GemmShapes);

void BM_Gemm_Kernel(benchmark::State& state) {
  GemmOperands g(state);
  ml::kernels::GemmArgs args;
  args.trans_b = g.bt;
  args.m = g.m;
  args.n = g.n;
  args.k = g.k;
  args.lda = g.k;
  args.ldb = g.bt ? g.k : g.n;
  args.ldc = g.n;
  for (auto _ : state) {
    ml::kernels::gemm(ml::Device::cpu(), ml::DType::Float32, args, g.a.raw_data(), g.b.raw_data(), g.c.raw_data());
    benchmark::ClobberMemory();
  }
  SetFlops(state, g.flops());
}
BENCHMARK(BM_Gemm_Kernel)->Apply(GemmShapes);

void BM_Gemm_Cblas(benchmark::State& state) {
  GemmOperands g(state);
  const int m = int(g.m), n = int(g.n), k = int(g.k);
  const float* A = g.a.data<float>();
  const float* B = g.b.data<float>();
  float* C = g.c.data<float>();
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, g.bt ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, A, k, B, g.bt ? k : n,
                0.0f, C, n);
    benchmark::ClobberMemory();
  }
  SetFlops(state, g.flops());
}
BENCHMARK(BM_Gemm_Cblas)->Apply(GemmShapes);

// ================================ elementwise ===============================================
using UnaryFn = ml::Tensor (*)(const ml::Tensor&);
using BinaryFn = ml::Tensor (*)(const ml::Tensor&, const ml::Tensor&);

// bytes = 2 inputs read + 1 output written.
void BM_Binary(benchmark::State& state, BinaryFn op) {
  const int64_t n = state.range(0);
  ml::Tensor a = rnd({n}), b = rnd({n});
  ml::NoGrad no_grad;
  warm(op(a, b));
  for (auto _ : state) {
    ml::Tensor c = op(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  SetBytes(state, 3.0 * 4.0 * double(n));
}
BENCHMARK_CAPTURE(BM_Binary, add, [](const ml::Tensor& a, const ml::Tensor& b) { return ml::add(a, b); })
    ->Apply(ElementwiseSizes);
BENCHMARK_CAPTURE(BM_Binary, mul, [](const ml::Tensor& a, const ml::Tensor& b) { return ml::mul(a, b); })
    ->Apply(ElementwiseSizes);

// bytes = 1 input read + 1 output written.
void BM_Unary(benchmark::State& state, UnaryFn op) {
  const int64_t n = state.range(0);
  ml::Tensor x = rnd({n});
  ml::NoGrad no_grad;
  warm(op(x));
  for (auto _ : state) {
    ml::Tensor y = op(x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  SetBytes(state, 2.0 * 4.0 * double(n));
}
BENCHMARK_CAPTURE(BM_Unary, exp, [](const ml::Tensor& x) { return ml::exp(x); })->Apply(ElementwiseSizes);
BENCHMARK_CAPTURE(BM_Unary, relu, [](const ml::Tensor& x) { return ml::relu(x); })->Apply(ElementwiseSizes);
BENCHMARK_CAPTURE(BM_Unary, sigmoid, [](const ml::Tensor& x) { return ml::sigmoid(x); })->Apply(ElementwiseSizes);
// A copy through the engine (allocation + kernels::copy), between the ops and raw memcpy.
BENCHMARK_CAPTURE(BM_Unary, clone, [](const ml::Tensor& x) { return x.clone(); })->Apply(ElementwiseSizes);

// Source and destination for the two copy baselines, in one 64-byte-aligned buffer with dst
// placed 256 bytes (mod 4 KiB) *below* src. Two separate std::vectors land at an arbitrary
// distance; when it is a little over a multiple of 4 KiB, every load matches the low 12 address
// bits of an in-flight store ("4K aliasing") and a copy loop runs at half speed.
struct CopyBuffers {
  std::vector<float> buf;
  float *dst, *src;
  explicit CopyBuffers(size_t n) : buf(2 * n + 64 + 16, 1.0f) {
    float* base = buf.data();
    while (reinterpret_cast<uintptr_t>(base) % 64 != 0) ++base;
    dst = base;
    src = base + n + 64;  // src - dst = 4n + 256 bytes, = 256 mod 4096 for the sizes used here
  }
};

// The bandwidth ceiling for a unary op: n floats read + n written, into a preallocated buffer
// (no allocation, unlike the engine ops). This is glibc's memcpy, which picks its strategy by
// size: on some CPUs its `rep movsb` path (used for mid-sized copies) is far slower than a
// vector loop, hence the second baseline below.
void BM_Memcpy(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  CopyBuffers b(n);
  for (auto _ : state) {
    std::memcpy(b.dst, b.src, n * sizeof(float));
    benchmark::ClobberMemory();
  }
  SetBytes(state, 2.0 * 4.0 * double(n));
}
BENCHMARK(BM_Memcpy)->Apply(ElementwiseSizes);

// The same traffic through a plain loop the compiler vectorises: y = x + 0.0f cannot be folded
// to a copy (it maps -0 to +0), so GCC keeps the loop instead of emitting a memcpy call.
// Unrolled: a one-vector loop body ran at half speed here depending on where it was placed.
__attribute__((noinline)) void copy_loop(const float* __restrict x, float* __restrict y, size_t n) {
#pragma GCC unroll 8
  for (size_t i = 0; i < n; ++i) y[i] = x[i] + 0.0f;
}
void BM_CopyLoop(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  CopyBuffers b(n);
  for (auto _ : state) {
    copy_loop(b.src, b.dst, n);
    benchmark::ClobberMemory();
  }
  SetBytes(state, 2.0 * 4.0 * double(n));
}
BENCHMARK(BM_CopyLoop)->Apply(ElementwiseSizes);

// add(a^T, b) on square [s, s]: one operand walks memory with stride s (cache-unfriendly), the
// other and the output are contiguous. Same element counts as the contiguous cases.
void BM_AddTransposed(benchmark::State& state) {
  const int64_t n = state.range(0);
  int64_t s = 1;
  while (s * s < n) ++s;
  ml::Tensor a = rnd({s, s}), b = rnd({s, s});
  ml::NoGrad no_grad;
  const ml::Tensor at = ml::transpose(a, 0, 1);
  warm(ml::add(at, b));
  for (auto _ : state) {
    ml::Tensor c = ml::add(at, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  SetBytes(state, 3.0 * 4.0 * double(s * s));
}
BENCHMARK(BM_AddTransposed)->Apply(ElementwiseSizes);

// ================================ reductions ================================================
// bytes = input read + output written.
void BM_SumAll(benchmark::State& state) {
  const int64_t n = state.range(0);
  ml::Tensor x = rnd({n});
  ml::NoGrad no_grad;
  warm(ml::sum(x));
  for (auto _ : state) {
    ml::Tensor y = ml::sum(x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  SetBytes(state, 4.0 * double(n + 1));
}
BENCHMARK(BM_SumAll)->Apply(ElementwiseSizes);

void BM_MeanAll(benchmark::State& state) {
  const int64_t n = state.range(0);
  ml::Tensor x = rnd({n});
  ml::NoGrad no_grad;
  warm(ml::mean(x));
  for (auto _ : state) {
    ml::Tensor y = ml::mean(x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  SetBytes(state, 4.0 * double(n + 1));
}
BENCHMARK(BM_MeanAll)->Apply(ElementwiseSizes);

void BM_MaxAll(benchmark::State& state) {
  const int64_t n = state.range(0);
  ml::Tensor x = rnd({n});
  ml::NoGrad no_grad;
  warm(ml::amax(x));
  for (auto _ : state) {
    ml::Tensor y = ml::amax(x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  SetBytes(state, 4.0 * double(n + 1));
}
BENCHMARK(BM_MaxAll)->Apply(ElementwiseSizes);

// [rows, 1000] with 1000 classes: the logits shape of a classifier batch (128) and a big one.
void RowsX1000(benchmark::internal::Benchmark* b) { b->ArgName("rows")->Arg(128)->Arg(4096); }
constexpr int64_t kCols = 1000;

// Sum over dim 1 (per-row, contiguous inner reduction).
void BM_SumDim1(benchmark::State& state) {
  const int64_t r = state.range(0);
  ml::Tensor x = rnd({r, kCols});
  ml::NoGrad no_grad;
  warm(ml::sum(x, {1}));
  for (auto _ : state) {
    ml::Tensor y = ml::sum(x, {1});
    benchmark::DoNotOptimize(y.raw_data());
  }
  SetBytes(state, 4.0 * double(r * kCols + r));
}
BENCHMARK(BM_SumDim1)->Apply(RowsX1000);

// Sum over dim 0 (strided outer reduction; what a Linear bias gradient does every step).
void BM_SumDim0(benchmark::State& state) {
  const int64_t r = state.range(0);
  ml::Tensor x = rnd({r, kCols});
  ml::NoGrad no_grad;
  warm(ml::sum(x, {0}));
  for (auto _ : state) {
    ml::Tensor y = ml::sum(x, {0});
    benchmark::DoNotOptimize(y.raw_data());
  }
  SetBytes(state, 4.0 * double(r * kCols + kCols));
}
BENCHMARK(BM_SumDim0)->Apply(RowsX1000);

// Softmax over dim 1: one read + one write is the minimum traffic.
void BM_Softmax(benchmark::State& state, bool log) {
  const int64_t r = state.range(0);
  ml::Tensor x = rnd({r, kCols});
  ml::NoGrad no_grad;
  warm(log ? ml::log_softmax(x, 1) : ml::softmax(x, 1));
  for (auto _ : state) {
    ml::Tensor y = log ? ml::log_softmax(x, 1) : ml::softmax(x, 1);
    benchmark::DoNotOptimize(y.raw_data());
  }
  SetBytes(state, 2.0 * 4.0 * double(r * kCols));
}
BENCHMARK_CAPTURE(BM_Softmax, softmax, false)->Apply(RowsX1000);
BENCHMARK_CAPTURE(BM_Softmax, log_softmax, true)->Apply(RowsX1000);

// ================================ conv2d ====================================================
// Args: N, Cin, H(=W), Cout, k, pad (stride 1, no bias: the FLOP count is the convolution only).
void ConvShapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"N", "Cin", "HW", "Cout", "k", "pad"});
  b->Args({128, 1, 28, 6, 5, 2});    // LeNet-5 C1 on MNIST (padded variant)
  b->Args({128, 6, 14, 16, 5, 0});   // LeNet-5 C3
  b->Args({32, 64, 32, 64, 3, 1});   // CIFAR-style 3x3 block
  b->Unit(benchmark::kMillisecond);
}

struct ConvCase {
  int64_t n, cin, hw, cout, k, pad, out;
  ml::Tensor x, w;
  explicit ConvCase(const benchmark::State& s)
      : n(s.range(0)), cin(s.range(1)), hw(s.range(2)), cout(s.range(3)), k(s.range(4)), pad(s.range(5)),
        out(hw + 2 * pad - k + 1), x(rnd({n, cin, hw, hw})), w(rnd({cout, cin, k, k})) {}
  double forward_flops() const { return 2.0 * double(n * cout * out * out) * double(cin * k * k); }
};

void BM_Conv2d_Forward(benchmark::State& state) {
  ConvCase c(state);
  ml::NoGrad no_grad;
  warm(ml::conv2d(c.x, c.w, ml::Tensor(), 1, c.pad));
  for (auto _ : state) {
    ml::Tensor y = ml::conv2d(c.x, c.w, ml::Tensor(), 1, c.pad);
    benchmark::DoNotOptimize(y.raw_data());
  }
  SetFlops(state, c.forward_flops());
}
BENCHMARK(BM_Conv2d_Forward)->Apply(ConvShapes);

// Input gradient + weight gradient through grad(). The forward is recorded once, outside the
// loop, with retain_graph so every iteration times the backward pass alone. Each gradient is a
// GEMM as large as the forward's, so the FLOP count is 2x forward.
void BM_Conv2d_Backward(benchmark::State& state) {
  ConvCase c(state);
  c.x.set_requires_grad(true);
  c.w.set_requires_grad(true);
  ml::Tensor y = ml::conv2d(c.x, c.w, ml::Tensor(), 1, c.pad);
  ml::Tensor gy = rnd(y.shape());
  ml::GradOptions opt;
  opt.retain_graph = 1;
  warm(ml::grad({y}, {c.x, c.w}, {gy}, opt)[1]);
  for (auto _ : state) {
    ml::Grads g = ml::grad({y}, {c.x, c.w}, {gy}, opt);
    benchmark::DoNotOptimize(g[0].raw_data());
    benchmark::DoNotOptimize(g[1].raw_data());
  }
  SetFlops(state, 2.0 * c.forward_flops());
}
BENCHMARK(BM_Conv2d_Backward)->Apply(ConvShapes);

// ================================ profiler cost =============================================
// Runs f with stderr sent to /dev/null: profiler::stop() prints its summary table there.
template <class F>
void quiet_stderr(F f) {
  std::fflush(stderr);
  const int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
  if (saved >= 0 && devnull >= 0) dup2(devnull, 2);
  f();
  std::fflush(stderr);
  if (saved >= 0) {
    dup2(saved, 2);
    close(saved);
  }
  if (devnull >= 0) close(devnull);
}

// Baseline for the two below: the loop itself.
void BM_Profiler_EmptyLoop(benchmark::State& state) {
  for (auto _ : state) benchmark::ClobberMemory();
}
BENCHMARK(BM_Profiler_EmptyLoop);

// One disabled profiler scope (a relaxed load + branch, per kernels/profiler.h).
void BM_Profiler_ScopeOff(benchmark::State& state) {
  if (ml::profiler::enabled()) {
    state.SkipWithError("profiler is on (METALOSS_PROFILE set?)");
    return;
  }
  for (auto _ : state) {
    METALOSS_PROFILE_SCOPE("bench", "op");
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Profiler_ScopeOff);

// add of two [4] tensors (one op scope + its kernel scopes) with the profiler off (arg 0, the
// default) and on (arg 1). When on, the recorded events are flushed to /dev/null every 16K
// iterations, outside the timed region, so memory stays bounded; the amortised vector growth
// is part of the measured cost.
void BM_Profiler_TinyAdd(benchmark::State& state) {
  const bool on = state.range(0) != 0;
  if (ml::profiler::enabled()) {
    state.SkipWithError("profiler is on (METALOSS_PROFILE set?)");
    return;
  }
  ml::Tensor a = rnd({4}), b = rnd({4});
  ml::NoGrad no_grad;
  if (on) ml::profiler::start("/dev/null");
  int64_t since_flush = 0;
  for (auto _ : state) {
    ml::Tensor c = ml::add(a, b);
    benchmark::DoNotOptimize(c.raw_data());
    if (on && ++since_flush == (1 << 14)) {
      state.PauseTiming();
      quiet_stderr([] {
        ml::profiler::stop();
        ml::profiler::start("/dev/null");
      });
      since_flush = 0;
      state.ResumeTiming();
    }
  }
  if (on) quiet_stderr([] { ml::profiler::stop(); });
}
BENCHMARK(BM_Profiler_TinyAdd)->ArgName("profiler")->Arg(0)->Arg(1);

}  // namespace

int main(int argc, char** argv) {
  // Strip our own --threads=N before Google Benchmark sees (and rejects) it.
  int threads = 1;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0)
      threads = std::atoi(argv[i] + 10);
    else
      argv[kept++] = argv[i];
  }
  argc = kept;
  ml::kernels::set_num_threads(threads > 0 ? threads : 1);
  benchmark::AddCustomContext("metaloss_threads", std::to_string(ml::kernels::get_num_threads()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
