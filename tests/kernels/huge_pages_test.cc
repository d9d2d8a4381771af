// Buffers of HugePageAllocator (the KV cache's storage): below the threshold from operator
// new, above it an advised anonymous mapping; both zero-initialised by the vector, writable,
// and copied and moved like any vector's.
#include "util/huge_pages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace dsv3 {
namespace {

using HugeBytes = std::vector<uint8_t, HugePageAllocator<uint8_t>>;

TEST(HugePages, SmallAndLargeBuffersHoldTheirBytes) {
  for (size_t n : {size_t(1), size_t(4096), kHugePageMinBytes - 1, kHugePageMinBytes,
                   3 * kHugePageMinBytes + 123}) {
    HugeBytes v(n);
    ASSERT_EQ(v.size(), n);
    for (size_t i = 0; i < n; i += 4093) ASSERT_EQ(v[i], 0) << n << " " << i;
    for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i * 7);
    if (n >= kHugePageMinBytes) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % 4096, 0u) << "a mapping of " << n;
    }
    const HugeBytes copy = v;
    HugeBytes moved = std::move(v);
    for (size_t i = 0; i < n; i += 997) {
      ASSERT_EQ(copy[i], uint8_t(i * 7)) << n << " " << i;
      ASSERT_EQ(moved[i], uint8_t(i * 7)) << n << " " << i;
    }
  }
}

}  // namespace
}  // namespace dsv3
