#include "engine/small_pool.h"

#include "engine/allocator.h"

namespace metaloss::pool {
namespace {

constexpr size_t kGranule = 16, kClasses = kMaxPooledBytes / kGranule;
constexpr unsigned kMaxCachedPerClass = 1u << 14;  // bounds what a thread can hoard

struct FreeBlock {
  FreeBlock* next;
};

struct Cache {
  FreeBlock* head[kClasses] = {};
  unsigned count[kClasses] = {};
  ~Cache();
};

// Set when this thread's Cache has been destroyed (thread exit, or static destruction at program
// exit): later releases go straight to operator delete. A bool needs no destructor, so it stays
// readable after the Cache is gone.
thread_local bool t_cache_dead = false;
thread_local Cache t_cache;

Cache::~Cache() {
  t_cache_dead = true;
  for (size_t c = 0; c < kClasses; ++c)
    while (FreeBlock* b = head[c]) {
      head[c] = b->next;
      ::operator delete(b, std::align_val_t{kGranule});
    }
}

bool enabled() {
  static const bool on = Allocator::caching_enabled();
  return on;
}

}  // namespace

void* allocate(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes > kMaxPooledBytes || !enabled() || t_cache_dead) return ::operator new(bytes, std::align_val_t{kGranule});
  const size_t c = (bytes - 1) / kGranule;
  Cache& cache = t_cache;
  if (FreeBlock* b = cache.head[c]) {
    cache.head[c] = b->next;
    --cache.count[c];
    return b;
  }
  return ::operator new((c + 1) * kGranule, std::align_val_t{kGranule});
}

void release(void* p, size_t bytes) noexcept {
  if (!p) return;
  if (bytes == 0) bytes = 1;
  if (bytes > kMaxPooledBytes || !enabled() || t_cache_dead) return ::operator delete(p, std::align_val_t{kGranule});
  const size_t c = (bytes - 1) / kGranule;
  Cache& cache = t_cache;
  if (cache.count[c] >= kMaxCachedPerClass) return ::operator delete(p, std::align_val_t{kGranule});
  auto* b = static_cast<FreeBlock*>(p);
  b->next = cache.head[c];
  cache.head[c] = b;
  ++cache.count[c];
}

}  // namespace metaloss::pool
