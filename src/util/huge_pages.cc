#include "util/huge_pages.h"

#include <sys/mman.h>

namespace dsv3 {

void* allocate_huge_pages(size_t bytes) {
  if (bytes < kHugePageMinBytes) return ::operator new(bytes);
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: without THP the pages stay 4 KB
#endif
  return p;
}

void free_huge_pages(void* p, size_t bytes) {
  if (!p) return;
  if (bytes < kHugePageMinBytes) return ::operator delete(p);
  ::munmap(p, bytes);
}

}  // namespace dsv3
