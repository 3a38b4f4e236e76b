// Autograd overhead benchmarks. The headline case times `grad` of a fixed 40-op elementwise
// expression on a 128x10 float32 tensor (forward + backward); bench/compare/symbolic_loss.py
// runs the identical expression in PyTorch, and bench/compare/run_symbolic.sh puts the two
// side by side. Everything runs on one thread so the comparison measures dispatch + kernels,
// not threading.
//
//   bench_autograd [google-benchmark flags]   run the benchmarks
//   bench_autograd --checksum                 print loss and sum(grad) for the fixed input, exit
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "engine/metaloss.h"

namespace ml = metaloss;

namespace {

constexpr int64_t kRows = 128, kCols = 10;

// Deterministic inputs without an RNG, so Python builds bit-identical ones:
// f[i][j] = softmax_j(sin(0.37 i + 1.3 j)) computed in double, then rounded to float32;
// y = one-hot of (i % 10).
struct Inputs {
  ml::Tensor y, f;
};
Inputs make_inputs() {
  std::vector<double> f(kRows * kCols), y(kRows * kCols, 0.0);
  for (int64_t i = 0; i < kRows; ++i) {
    double z = 0;
    for (int64_t j = 0; j < kCols; ++j) z += f[i * kCols + j] = std::exp(std::sin(0.37 * i + 1.3 * j));
    for (int64_t j = 0; j < kCols; ++j) f[i * kCols + j] /= z;
    y[i * kCols + i % kCols] = 1.0;
  }
  Inputs in;
  in.y = ml::Tensor::from_vector(y, {kRows, kCols});
  in.f = ml::Tensor::from_vector(f, {kRows, kCols});
  in.f.set_requires_grad(true);
  return in;
}

// Exactly 40 elementwise engine ops (one call each; numbered), in the style of EvoMAL's loss
// trees: log/sqrt/div only ever see |x| + eps or |x| + 1, so the value and gradient stay finite.
// The final mean is a reduction and is NOT counted among the 40.
// Keep in sync with expression() in bench/compare/symbolic_loss.py.
constexpr int kExprOps = 40;
ml::Tensor expression(const ml::Tensor& y, const ml::Tensor& f) {
  using namespace metaloss;
  Tensor a1 = mul(y, f);             // 1
  Tensor a2 = abs(f);                // 2
  Tensor a3 = add(a2, 1e-7);         // 3
  Tensor a4 = log(a3);               // 4   protected log
  Tensor a5 = mul(y, a4);            // 5
  Tensor a6 = neg(a5);               // 6   cross-entropy-like term
  Tensor a7 = sub(f, y);             // 7
  Tensor a8 = square(a7);            // 8
  Tensor a9 = add(a6, a8);           // 9
  Tensor a10 = abs(a7);              // 10
  Tensor a11 = sqrt(a10);            // 11
  Tensor a12 = tanh(a11);            // 12
  Tensor a13 = mul(a12, 0.5);        // 13
  Tensor a14 = maximum(a9, a13);     // 14
  Tensor a15 = minimum(a1, a12);     // 15
  Tensor a16 = sign(a7);             // 16
  Tensor a17 = mul(a16, a15);        // 17
  Tensor a18 = abs(a17);             // 18
  Tensor a19 = add(a18, 1.0);        // 19  denominator >= 1
  Tensor a20 = div(a14, a19);        // 20
  Tensor a21 = neg(a20);             // 21
  Tensor a22 = exp(a21);             // 22  exp of a non-positive value
  Tensor a23 = sub(a20, a22);        // 23
  Tensor a24 = tanh(a23);            // 24
  Tensor a25 = rsub(1.0, a24);       // 25  1 - x
  Tensor a26 = square(a25);          // 26
  Tensor a27 = mul(a26, a9);         // 27
  Tensor a28 = add(a27, a14);        // 28
  Tensor a29 = abs(a28);             // 29
  Tensor a30 = add(a29, 1e-7);       // 30
  Tensor a31 = sqrt(a30);            // 31  protected sqrt
  Tensor a32 = mul(y, a31);          // 32
  Tensor a33 = sub(a31, a32);        // 33
  Tensor a34 = maximum(a33, a22);    // 34
  Tensor a35 = minimum(a34, a29);    // 35
  Tensor a36 = div(a35, a19);        // 36
  Tensor a37 = mul(a36, 0.25);       // 37
  Tensor a38 = add(a37, a5);         // 38
  Tensor a39 = tanh(a38);            // 39
  Tensor a40 = add(a39, a9);         // 40
  return a40;
}

ml::Tensor loss_of(const ml::Tensor& y, const ml::Tensor& f) { return ml::mean(expression(y, f)); }

// Forward + backward: what a meta-learned loss costs per inner step.
void BM_SymbolicLoss40_Grad(benchmark::State& state) {
  Inputs in = make_inputs();
  for (auto _ : state) {
    ml::Tensor loss = loss_of(in.y, in.f);
    ml::Grads g = ml::grad({loss}, {in.f});
    benchmark::DoNotOptimize(g[0].raw_data());
  }
  state.counters["expr_ops"] = kExprOps;
}
BENCHMARK(BM_SymbolicLoss40_Grad);

// The same forward with recording off: the gap to the case above is tape + backward.
void BM_SymbolicLoss40_Forward_NoGrad(benchmark::State& state) {
  Inputs in = make_inputs();
  ml::NoGrad no_grad;
  for (auto _ : state) {
    ml::Tensor loss = loss_of(in.y, in.f);
    benchmark::DoNotOptimize(loss.raw_data());
  }
  state.counters["expr_ops"] = kExprOps;
}
BENCHMARK(BM_SymbolicLoss40_Forward_NoGrad);

// Per-op fixed cost: add of two 1-element tensors, where the arithmetic is negligible.
// Arg 0: no recording; arg 1: inputs require grad, so each add also records a tape node.
void BM_OpDispatch_Add_Tiny(benchmark::State& state) {
  const bool record = state.range(0) != 0;
  ml::Tensor a = ml::Tensor::full({1}, 1.5), b = ml::Tensor::full({1}, 2.5);
  if (record) {
    a.set_requires_grad(true);
    b.set_requires_grad(true);
  }
  for (auto _ : state) {
    ml::Tensor c = ml::add(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
}
BENCHMARK(BM_OpDispatch_Add_Tiny)->ArgName("record")->Arg(0)->Arg(1);

// Loss value and sum of the gradient for the fixed input, summed in double on the host so the
// checksum does not depend on either library's reduction order.
int print_checksum() {
  Inputs in = make_inputs();
  ml::Tensor loss = loss_of(in.y, in.f);
  ml::Grads g = ml::grad({loss}, {in.f});
  double gsum = 0, gabs = 0;
  for (double v : g[0].to_vector()) gsum += v, gabs += std::fabs(v);
  std::printf("ops=%d loss=%.9g grad_sum=%.9g grad_abs_sum=%.9g\n", kExprOps, loss.item(), gsum, gabs);
  return std::isfinite(loss.item()) && std::isfinite(gsum) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  ml::kernels::set_num_threads(1);  // single-threaded, like torch.set_num_threads(1) on the Python side
  if (argc > 1 && std::strcmp(argv[1], "--checksum") == 0) return print_checksum();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
