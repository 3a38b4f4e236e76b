// SparseLSR against dense label smoothing (the EvoMAL paper's claim: faster and less memory),
// with cross entropy as the floor. Each iteration is forward + backward: grad() of the loss with
// respect to float32 logits [128, C], C = 10, 100, 1000, 10000, single-threaded.
//
// Memory: the engine's caching allocator counts bytes handed out (engine/allocator.h; rounded
// up to its size classes, so small tensors count 64 bytes). Before the timed loop we read
// bytes_in_use (the logits and labels, which are live throughout) and reset the peak; after it,
// peak_bytes_in_use - that base is the most memory the loss held at once during any iteration:
//   peak_extra_bytes  that difference (graph, saved tensors, gradients, temporaries)
//   peak_extra_BxC    the same in units of one float32 [128, C] tensor (B x C x 4 bytes)
//   graph_BxC         bytes the recorded graph holds after forward, before backward (what an
//                     unrolled meta-learning loop keeps per inner step), in the same unit
//   allocs            allocator requests per iteration
// The peak of all three losses is log_softmax's backward (its saved output, the incoming
// gradient, exp, the product and the result: 5 x BxC); dense LSR's own B x C tensors are freed
// before that point, so they show in graph_BxC and in time, not in the peak.
// Anything else allocating on this thread would inflate the numbers; nothing else runs here.
//
//   bench_losses [google-benchmark flags], e.g. --benchmark_min_time=0.05
#include <benchmark/benchmark.h>

#include "engine/allocator.h"
#include "engine/metaloss.h"
#include "meta/losses/losses.h"

namespace ml = metaloss;
namespace ls = metaloss::losses;

namespace {

constexpr int64_t kBatch = 128;
constexpr double kXi = 0.1;

template <class LossFn>
void run(benchmark::State& state, LossFn loss_fn) {
  const int64_t c = state.range(0);
  ml::Generator gen(1);
  ml::Tensor logits = ml::randn({kBatch, c}, ml::DType::Float32, gen).set_requires_grad();
  ml::Tensor labels = ml::randint(0, c, {kBatch}, gen);
  const double bxc = double(kBatch * c * 4);
  // One untimed pass so the allocator's cache holds every block size (no first-touch faults);
  // it also measures what the recorded graph keeps alive between forward and backward.
  const size_t base = ml::Allocator::stats().bytes_in_use;
  {
    ml::Tensor loss = loss_fn(logits, labels);
    state.counters["graph_BxC"] = double(ml::Allocator::stats().bytes_in_use - base) / bxc;
    benchmark::DoNotOptimize(ml::grad({loss}, {logits})[0].raw_data());
  }
  ml::Allocator::reset_peak();
  const uint64_t requests = ml::Allocator::stats().requests;
  for (auto _ : state) {
    ml::Grads g = ml::grad({loss_fn(logits, labels)}, {logits});
    benchmark::DoNotOptimize(g[0].raw_data());
  }
  const ml::AllocatorStats after = ml::Allocator::stats();
  const double extra = double(after.peak_bytes_in_use - base);
  state.counters["peak_extra_bytes"] = extra;
  state.counters["peak_extra_BxC"] = extra / bxc;
  state.counters["allocs"] = double(after.requests - requests) / double(state.iterations());
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_SparseLSR(benchmark::State& state) {
  run(state, [](const ml::Tensor& z, const ml::Tensor& y) { return ls::sparse_lsr(z, y, kXi); });
}
void BM_DenseLSR(benchmark::State& state) {
  run(state, [](const ml::Tensor& z, const ml::Tensor& y) { return ls::label_smoothing(z, y, kXi); });
}
void BM_CrossEntropy(benchmark::State& state) {
  run(state, [](const ml::Tensor& z, const ml::Tensor& y) { return ls::cross_entropy(z, y); });
}

#define METALOSS_LOSS_BENCH(fn) \
  BENCHMARK(fn)->ArgName("C")->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond)
METALOSS_LOSS_BENCH(BM_SparseLSR);
METALOSS_LOSS_BENCH(BM_DenseLSR);
METALOSS_LOSS_BENCH(BM_CrossEntropy);
#undef METALOSS_LOSS_BENCH

}  // namespace

int main(int argc, char** argv) {
  ml::kernels::set_num_threads(1);  // as the other suites: numbers compare across machines
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
