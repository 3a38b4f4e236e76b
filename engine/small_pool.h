// Thread-local free lists for the engine's small bookkeeping objects: every op creates a
// TensorImpl and a Storage, and every recorded op a Node with two small vectors. Through malloc
// that is ~6 heap allocations per op, a large share of a tiny op's cost (bench_alloc counts them).
// PoolAllocator hands out blocks of up to kMaxPooledBytes from per-thread, per-size-class free
// lists and keeps freed blocks for reuse; larger requests go to operator new. Blocks may be freed
// on another thread (they then join that thread's lists). Like the tensor caching allocator, the
// pool is off in ASan builds and with METALOSS_NO_CACHING_ALLOCATOR=1, so ASan sees every
// use-after-free (set the variable for TSan, MSan or valgrind runs too). Blocks cached by a
// thread are freed when it exits; Allocator::empty_cache() does not trim them.
#pragma once
#include <cstddef>
#include <new>

namespace metaloss {

namespace pool {
constexpr size_t kMaxPooledBytes = 512;
void* allocate(size_t bytes);
void release(void* p, size_t bytes) noexcept;
}  // namespace pool

template <class T>
struct PoolAllocator {
  using value_type = T;
  static_assert(alignof(T) <= 16, "PoolAllocator blocks are 16-byte aligned");
  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(pool::allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { pool::release(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const noexcept { return true; }
};

}  // namespace metaloss
