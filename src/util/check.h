// Invariant checks: a broken invariant is a bug in dsv3, so it aborts with file:line.
// Problems that come from outside (files, JSON, HTTP, user flags) use Result instead.
#pragma once

#include <cstdio>
#include <cstdlib>

#define DSV3_CHECK(cond, ...)                                                     \
  do {                                                                            \
    if (!(cond)) [[unlikely]] {                                                   \
      std::fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, "" __VA_ARGS__);                                       \
      std::fprintf(stderr, "\n");                                                 \
      std::abort();                                                               \
    }                                                                             \
  } while (0)
