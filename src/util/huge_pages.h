// Memory for large buffers that are read at random (the KV cache: sparse attention reads its
// selected rows scattered over the whole cache), backed by transparent huge pages where the
// kernel allows them. With THP in "madvise" mode (a common default) a region gets 2 MB pages
// only if asked for; with 4 KB pages every selected row is its own TLB miss.
#pragma once

#include <cstddef>
#include <new>

namespace dsv3 {

// At least this many bytes: an anonymous mapping advised MADV_HUGEPAGE; smaller, operator new.
inline constexpr size_t kHugePageMinBytes = size_t(2) << 20;

void* allocate_huge_pages(size_t bytes);
void free_huge_pages(void* p, size_t bytes);

// A standard allocator over allocate_huge_pages (stateless: all instances are equal).
template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}  // NOLINT: rebinding
  T* allocate(size_t n) { return static_cast<T*>(allocate_huge_pages(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { free_huge_pages(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept { return true; }
};

}  // namespace dsv3
