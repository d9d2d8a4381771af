#include "server/malloc_tuning.h"

#include <malloc.h>

#include <cstdlib>

namespace dsv3::server {

std::string tune_malloc_for_serving(const MallocTuning& t) {
  for (const char* name : {"MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                           "GLIBC_TUNABLES"}) {
    if (std::getenv(name)) return "";
  }
  const bool ok = mallopt(M_ARENA_MAX, t.arena_max) == 1 &&
                  mallopt(M_MMAP_THRESHOLD, int(t.mmap_threshold)) == 1 &&
                  mallopt(M_TRIM_THRESHOLD, int(t.trim_threshold)) == 1;
  if (!ok) return "";
  return "malloc: " + std::to_string(t.arena_max) + " arenas, blocks from " +
         std::to_string(t.mmap_threshold >> 10) + " KiB mapped";
}

}  // namespace dsv3::server
