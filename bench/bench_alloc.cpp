// Heap allocations of a steady-state training step. Every form of the global operator new /
// delete is replaced here with a counting wrapper around malloc / aligned_alloc, so the counts
// cover everything C++ allocates: tensor handles and impls, shared_ptr control blocks, tape
// nodes, std::function captures, shape vectors. Tensor *data* does not go through operator new:
// it comes from the engine's caching allocator (engine/allocator.h), whose own statistics are
// reported alongside (requests, and the misses that reached the system allocator).
//
// Lives in its own executable because replacing operator new is global to the program.
//
//   bench_alloc [google-benchmark flags]
// Counters, all per training step (forward, cross_entropy, zero_grad, backward, SGD step):
//   allocs_per_step       operator new calls
//   bytes_per_step        bytes requested from operator new
//   tensor_allocs_per_step  Allocator::allocate calls (tensor storage)
//   tensor_misses_per_step  of those, cache misses that called the system allocator
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "engine/metaloss.h"
#include "models/optim.h"
#include "models/zoo.h"

namespace ml = metaloss;

// ================================ counting operator new / delete ===========================
namespace {

std::atomic<uint64_t> g_allocs{0}, g_bytes{0};

void* counted_alloc(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  g_bytes.fetch_add(n, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
void* counted_alloc(std::size_t n, std::align_val_t al) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  g_bytes.fetch_add(n, std::memory_order_relaxed);
  const std::size_t a = std::max(static_cast<std::size_t>(al), sizeof(void*));
  // aligned_alloc wants a size that is a multiple of the alignment.
  return std::aligned_alloc(a, (n + a - 1) / a * a + (n == 0 ? a : 0));
}
void* or_throw(void* p) {
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t n) { return or_throw(counted_alloc(n)); }
void* operator new[](std::size_t n) { return or_throw(counted_alloc(n)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new(std::size_t n, std::align_val_t al) { return or_throw(counted_alloc(n, al)); }
void* operator new[](std::size_t n, std::align_val_t al) { return or_throw(counted_alloc(n, al)); }
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept { return counted_alloc(n, al); }
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept { return counted_alloc(n, al); }

// malloc and aligned_alloc memory are both released with free.
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

// ================================ the training step ========================================
namespace {

constexpr int64_t kBatch = 128;
constexpr int kWarmup = 3;  // first steps fill the caching allocator and create SGD momentum

// One step of supervised training, as meta/train.cpp's loop does it.
void train_step(ml::Module& model, ml::Optimizer& opt, const ml::Tensor& x, const ml::Tensor& y) {
  ml::Tensor loss = ml::cross_entropy(model(x), y);
  opt.zero_grad();
  loss.backward();
  opt.step();
}

// Arg: model name from models/zoo.h (captured). Runs kWarmup untimed steps, then counts
// allocations only inside each timed step (not the benchmark loop's own bookkeeping).
void BM_TrainStepAllocs(benchmark::State& state, const char* model_name) {
  const ml::ModelSpec& spec = ml::model_spec(model_name);
  ml::Generator gen(0);
  auto model = ml::make_model(model_name, spec.default_classes, gen);
  model->train();
  ml::SGD opt(model->parameters(), ml::SGDOptions{0.01, 0.9});
  ml::Shape in{kBatch};
  for (int64_t d : spec.input) in.push_back(d);
  const ml::Tensor x = ml::randn(in, ml::DType::Float32, gen);
  const ml::Tensor y = ml::randint(0, spec.default_classes, {kBatch}, gen);
  for (int i = 0; i < kWarmup; ++i) train_step(*model, opt, x, y);

  uint64_t allocs = 0, bytes = 0, tensor_allocs = 0, tensor_misses = 0;
  for (auto _ : state) {
    const uint64_t a0 = g_allocs.load(std::memory_order_relaxed), b0 = g_bytes.load(std::memory_order_relaxed);
    const ml::AllocatorStats s0 = ml::Allocator::stats();
    train_step(*model, opt, x, y);
    const ml::AllocatorStats s1 = ml::Allocator::stats();
    allocs += g_allocs.load(std::memory_order_relaxed) - a0;
    bytes += g_bytes.load(std::memory_order_relaxed) - b0;
    tensor_allocs += s1.requests - s0.requests;
    tensor_misses += s1.system_allocs - s0.system_allocs;
  }
  using C = benchmark::Counter;
  state.counters["allocs_per_step"] = C(double(allocs), C::kAvgIterations);
  state.counters["bytes_per_step"] = C(double(bytes), C::kAvgIterations);
  state.counters["tensor_allocs_per_step"] = C(double(tensor_allocs), C::kAvgIterations);
  state.counters["tensor_misses_per_step"] = C(double(tensor_misses), C::kAvgIterations);
  state.counters["params"] = double(model->num_parameters());
}
BENCHMARK_CAPTURE(BM_TrainStepAllocs, lenet5, "lenet5")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainStepAllocs, mlp, "mlp")->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  // One thread: allocation counts do not depend on it, and the timing stays comparable with
  // bench_autograd.
  ml::kernels::set_num_threads(1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
