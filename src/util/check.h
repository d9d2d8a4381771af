// Invariant checks: a broken invariant is a bug in dsv3, so it aborts with file:line.
// Problems that come from outside (files, JSON, HTTP, user flags) use Result instead.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace dsv3::detail {

[[noreturn]] inline void check_failed(const char* file, int line, const char* cond,
                                      const char* fmt = nullptr, ...) {
  std::fprintf(stderr, "%s:%d: check failed: %s", file, line, cond);
  if (fmt) {
    std::fprintf(stderr, ": ");
    va_list args;
    va_start(args, fmt);
    std::vfprintf(stderr, fmt, args);
    va_end(args);
  }
  std::fprintf(stderr, "\n");
  std::abort();
}

}  // namespace dsv3::detail

// DSV3_CHECK(cond) or DSV3_CHECK(cond, "printf format", args...)
#define DSV3_CHECK(cond, ...)                                                              \
  do {                                                                                     \
    if (!(cond)) [[unlikely]] {                                                            \
      ::dsv3::detail::check_failed(__FILE__, __LINE__, #cond __VA_OPT__(, ) __VA_ARGS__); \
    }                                                                                      \
  } while (0)
