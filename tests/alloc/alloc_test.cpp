// Regression test (CTest `alloc`): a steady-state training step of every feed-forward zoo model
// used in the benchmarks makes no heap allocation and no caching-allocator miss.
// bench/bench_alloc.cpp measures the same thing with Google Benchmark; this one asserts it, so
// a change that puts a std::vector or std::function back into the per-step path fails CI.
// Its own executable because it replaces the global operator new. Exits 77 (skipped) where the
// engine's pools are off (METALOSS_NO_CACHING_ALLOCATOR=1): every allocation then reaches malloc.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "engine/metaloss.h"
#include "models/optim.h"
#include "models/zoo.h"

namespace {
std::atomic<uint64_t> g_allocs{0};
void* counted(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  void* p = std::malloc(n == 0 ? 1 : n);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted(n); }
void* operator new[](std::size_t n) { return counted(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace ml = metaloss;

int main() {
  if (!ml::Allocator::caching_enabled()) {
    std::puts("alloc_test: skipped: the caching allocator and pools are off (METALOSS_NO_CACHING_ALLOCATOR=1)");
    return 77;
  }
  int failures = 0;
  for (int threads : {1, 2}) {
    ml::kernels::set_num_threads(threads);
    for (const char* name : {"logistic", "mlp", "lenet5"}) {
      const ml::ModelSpec& spec = ml::model_spec(name);
      ml::Generator gen(0);
      auto model = ml::make_model(name, spec.default_classes, gen);
      model->train();
      ml::SGD opt(model->parameters(), ml::SGDOptions{0.01, 0.9});
      ml::Shape in{32};
      for (int64_t d : spec.input) in.push_back(d);
      const ml::Tensor x = ml::randn(in, ml::DType::Float32, gen);
      const ml::Tensor y = ml::randint(0, spec.default_classes, {32}, gen);
      auto step = [&] {
        ml::Tensor loss = ml::cross_entropy((*model)(x), y);
        opt.zero_grad();
        loss.backward();
        opt.step();
      };
      for (int i = 0; i < 3; ++i) step();  // fill the caches, create the momentum buffers
      const uint64_t a0 = g_allocs.load();
      const ml::AllocatorStats s0 = ml::Allocator::stats();
      for (int i = 0; i < 5; ++i) step();
      const uint64_t allocs = g_allocs.load() - a0;
      const uint64_t misses = ml::Allocator::stats().system_allocs - s0.system_allocs;
      const bool ok = allocs == 0 && misses == 0;
      std::printf("%s %-8s %d thread(s): %llu operator new calls, %llu caching-allocator misses in 5 steps\n",
                  ok ? "ok  " : "FAIL", name, threads, static_cast<unsigned long long>(allocs),
                  static_cast<unsigned long long>(misses));
      failures += ok ? 0 : 1;
    }
  }
  return failures == 0 ? 0 : 1;
}
