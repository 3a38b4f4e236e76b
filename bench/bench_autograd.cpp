// Autograd overhead benchmarks. The headline case times `grad` of a fixed 40-op elementwise
// expression on a 128x10 float32 tensor (forward + backward); bench/compare/symbolic_loss.py
// runs the identical expression in PyTorch, and bench/compare/run_symbolic.sh puts the two
// side by side. Everything runs on one thread so the comparison measures dispatch + kernels,
// not threading. Further cases: per-op dispatch on tiny tensors with recording off and on
// (BM_OpDispatch_Tiny) and tape cost per node of recording and backward (BM_TapeChain).
// Heap allocations per training step are in bench_alloc.cpp (it replaces operator new).
//
//   bench_autograd [google-benchmark flags]   run the benchmarks
//   bench_autograd --checksum                 print loss and sum(grad) for the fixed input, exit
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bench/symbolic_expr.h"
#include "engine/metaloss.h"

namespace ml = metaloss;

namespace {

// The expression and its inputs live in bench/symbolic_expr.h (shared with bench_compare).
using Inputs = ml::bench::SymbolicInputs;
using ml::bench::kExprOps;
Inputs make_inputs() { return ml::bench::make_symbolic_inputs(); }
ml::Tensor loss_of(const ml::Tensor& y, const ml::Tensor& f) { return ml::bench::symbolic_loss(y, f); }

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

// Per-op fixed cost on tiny tensors, where the arithmetic is negligible: add, mul, exp, sum on
// [4] and matmul on [4, 4]. The inputs always require grad; arg record=0 runs under NoGrad
// (recording off), record=1 records a tape node per op, so the gap is the per-node tape cost.
// The time column is ns per op (one op per iteration; its output and node die each iteration).
using TinyOp = ml::Tensor (*)(const ml::Tensor&, const ml::Tensor&);
void BM_OpDispatch_Tiny(benchmark::State& state, ml::Shape shape, TinyOp op) {
  const bool record = state.range(0) != 0;
  ml::Tensor a = ml::Tensor::full(shape, 0.5), b = ml::Tensor::full(shape, 0.25);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  ml::GradMode mode(record);
  for (auto _ : state) {
    ml::Tensor c = op(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
}
// BENCHMARK_CAPTURE passes the shape and a captureless lambda (converted to TinyOp).
const ml::Shape kVec4{4}, kMat4x4{4, 4};
#define METALOSS_TINY_OP(name, shape, expr)                                                       \
  BENCHMARK_CAPTURE(BM_OpDispatch_Tiny, name, shape,                                              \
                    [](const ml::Tensor& a, [[maybe_unused]] const ml::Tensor& b) { return expr; }) \
      ->ArgName("record")                                                                          \
      ->Arg(0)                                                                                     \
      ->Arg(1)
METALOSS_TINY_OP(add, kVec4, ml::add(a, b));
METALOSS_TINY_OP(mul, kVec4, ml::mul(a, b));
METALOSS_TINY_OP(exp, kVec4, ml::exp(a));
METALOSS_TINY_OP(sum, kVec4, ml::sum(a));
METALOSS_TINY_OP(matmul, kMat4x4, ml::matmul(a, b));
#undef METALOSS_TINY_OP

// Tape overhead: a chain of N alternating add/mul ops on [4] tensors, recorded from one leaf,
// with a constant second operand (no gradient), so every node has exactly one gradient input
// and one output. mode=0 records the chain only (and frees it); mode=1 records it and runs
// backward(). per_node is time / N (printed in seconds with an SI prefix, e.g. "350ns");
// mode1 - mode0 is the backward pass per node.
void BM_TapeChain(benchmark::State& state) {
  const int64_t n = state.range(0);
  const bool run_backward = state.range(1) != 0;
  ml::Tensor x = ml::Tensor::full({4}, 0.5), c = ml::Tensor::full({4}, 0.5), ones = ml::Tensor::ones({4});
  x.set_requires_grad(true);
  for (auto _ : state) {
    ml::Tensor y = x;
    for (int64_t i = 0; i < n; ++i) y = (i % 2 == 0) ? ml::add(y, c) : ml::mul(y, c);  // stays near 0.5
    if (run_backward) {
      ml::backward({y}, {ones});
      benchmark::DoNotOptimize(x.grad().raw_data());
      x.zero_grad();
    }
  }
  state.counters["per_node"] =
      benchmark::Counter(double(n), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_TapeChain)->ArgNames({"nodes", "backward"})->ArgsProduct({{10, 100, 1000}, {0, 1}});

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
