#include "server/malloc_tuning.h"

#include <gtest/gtest.h>
#include <malloc.h>
#include <stdlib.h>

#include <cstring>

namespace dsv3::server {
namespace {

void* volatile g_sink = nullptr;  // keeps the compiler from eliding the allocations

void* touched(size_t bytes) {
  void* p = std::malloc(bytes);
  std::memset(p, 1, bytes);
  g_sink = p;
  return p;
}

// glibc raises its mmap threshold to the size of a freed mapped block; the tuning fixes it,
// so a multi-MiB block freed after a larger one is still mapped (and unmapped when freed)
// instead of staying in an arena.
TEST(MallocTuning, LargeBlocksStayMappedAfterALargerOneWasFreed) {
  ::unsetenv("MALLOC_ARENA_MAX");
  ::unsetenv("MALLOC_MMAP_THRESHOLD_");
  ::unsetenv("MALLOC_TRIM_THRESHOLD_");
  ::unsetenv("GLIBC_TUNABLES");
  EXPECT_NE(tune_malloc_for_serving(), "");
  std::free(touched(16 << 20));
  const size_t mapped_before = mallinfo2().hblks;
  void* block = touched(2 << 20);
  EXPECT_EQ(mallinfo2().hblks, mapped_before + 1) << "the 2 MiB block was not mapped";
  std::free(block);
  EXPECT_EQ(mallinfo2().hblks, mapped_before);
}

TEST(MallocTuning, TheEnvironmentsChoiceWins) {
  ::setenv("MALLOC_ARENA_MAX", "2", 1);
  EXPECT_EQ(tune_malloc_for_serving(), "");
  ::unsetenv("MALLOC_ARENA_MAX");
}

}  // namespace
}  // namespace dsv3::server
