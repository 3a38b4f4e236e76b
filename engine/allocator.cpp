#include "engine/allocator.h"

#include "kernels/profiler.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace metaloss {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kMaxCachedBytes = size_t(2) << 30;  // beyond this, released blocks are freed

// Size classes: multiples of 64 bytes up to 4 KiB, then 4 classes per power of two (<= 25% waste).
size_t size_class(size_t bytes) {
  if (bytes <= 4096) return (bytes + kAlign - 1) / kAlign * kAlign;
  size_t p = 4096;
  while (p * 2 < bytes) p *= 2;
  const size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

struct State {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  AllocatorStats stats;
  bool caching = true;
  State() {
#if defined(__SANITIZE_ADDRESS__)
    caching = false;
#endif
    if (const char* e = std::getenv("METALOSS_NO_CACHING_ALLOCATOR"); e && e[0] == '1') caching = false;
    profiler::set_memory_probe([] { return Allocator::stats().peak_bytes_in_use; });
  }
};
State& state() {
  static State* s = new State;  // never destroyed: tensors may be released during static teardown
  return *s;
}

}  // namespace

void* Allocator::allocate(size_t bytes) {
  const size_t cls = size_class(bytes == 0 ? 1 : bytes);
  State& s = state();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    ++s.stats.requests;
    s.stats.bytes_in_use += cls;
    if (s.stats.bytes_in_use > s.stats.peak_bytes_in_use) s.stats.peak_bytes_in_use = s.stats.bytes_in_use;
    auto it = s.free_lists.find(cls);
    if (it != s.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      s.stats.bytes_cached -= cls;
      return p;
    }
    ++s.stats.system_allocs;
  }
  void* p = std::aligned_alloc(kAlign, cls);
  if (!p) throw std::bad_alloc();
  return p;
}

void Allocator::release(void* p, size_t bytes) {
  if (!p) return;
  const size_t cls = size_class(bytes == 0 ? 1 : bytes);
  State& s = state();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stats.bytes_in_use -= cls;
    if (s.caching && s.stats.bytes_cached + cls <= kMaxCachedBytes) {
      s.free_lists[cls].push_back(p);
      s.stats.bytes_cached += cls;
      return;
    }
  }
  std::free(p);
}

AllocatorStats Allocator::stats() {
  std::lock_guard<std::mutex> lock(state().mu);
  return state().stats;
}

void Allocator::reset_peak() {
  std::lock_guard<std::mutex> lock(state().mu);
  state().stats.peak_bytes_in_use = state().stats.bytes_in_use;
}

void Allocator::empty_cache() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  for (auto& [cls, list] : s.free_lists)
    for (void* p : list) std::free(p);
  s.free_lists.clear();
  s.stats.bytes_cached = 0;
}

bool Allocator::caching_enabled() { return state().caching; }

}  // namespace metaloss
