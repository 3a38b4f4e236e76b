// Caching host allocator: freed blocks go to per-size-class free lists and are reused, so a
// steady training loop does not call malloc for every tensor. Blocks are 64-byte aligned.
#pragma once
#include <cstddef>
#include <cstdint>

namespace metaloss {

struct AllocatorStats {
  uint64_t requests = 0;       // allocate() calls
  uint64_t system_allocs = 0;  // of which went to the system allocator (cache misses)
  size_t bytes_in_use = 0;     // handed out and not yet released (rounded to size classes)
  size_t peak_bytes_in_use = 0;
  size_t bytes_cached = 0;     // held in free lists
};

class Allocator {
 public:
  static void* allocate(size_t bytes);
  static void release(void* p, size_t bytes);
  static AllocatorStats stats();
  static void reset_peak();
  // Returns cached blocks to the system.
  static void empty_cache();
  // Caching is off in sanitizer builds (so ASan sees every use-after-free) and when the
  // environment sets METALOSS_NO_CACHING_ALLOCATOR=1.
  static bool caching_enabled();
};

}  // namespace metaloss
