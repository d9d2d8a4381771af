// Time bounds that tell a hang or runaway work from normal work in tests of limits (a step
// budget, a parse of deep nesting). They are not speed claims: each is several times what a
// release build needs, and it stretches for builds that run far slower (sanitizers, Debug).
#pragma once

#include <chrono>

namespace dsv3::testing {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int kBuildSlowdown = 20;  // ASan / TSan builds (GCC), Debug too
#elif !defined(NDEBUG)
inline constexpr int kBuildSlowdown = 4;  // Debug
#else
inline constexpr int kBuildSlowdown = 1;
#endif

// `seconds` in a release build, scaled by how much slower this build runs.
inline constexpr std::chrono::seconds hang_bound(int seconds) {
  return std::chrono::seconds(seconds * kBuildSlowdown);
}

}  // namespace dsv3::testing
