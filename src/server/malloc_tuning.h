// glibc's malloc, left to its defaults, keeps most of what a long-running server frees. Each
// HTTP thread gets an arena of its own (up to 8 per core), and after the first multi-megabyte
// block is freed the threshold above which blocks are mmap()ed (and unmapped when freed)
// rises to that block's size, up to 32 MiB: later request bodies, rendered prompts and token
// lists of a few MiB then come from the arenas, which keep them after they are freed. Under a
// soak with multi-MiB request bodies the server's RSS doubled in four minutes.
#pragma once

#include <string>

namespace dsv3::server {

struct MallocTuning {
  int arena_max = 4;                    // arenas for all threads together
  size_t mmap_threshold = 1 << 20;      // blocks this large are mapped, and unmapped when freed
  size_t trim_threshold = 4 << 20;      // free memory an arena keeps at its top
};

// Applies `tuning` to the process's malloc (fixed thresholds, which turns glibc's moving ones
// off), unless the environment already tunes malloc (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_,
// MALLOC_TRIM_THRESHOLD_, GLIBC_TUNABLES): an operator's choice wins. Returns what it did, for
// the start-up log ("" when it left malloc alone).
std::string tune_malloc_for_serving(const MallocTuning& tuning = {});

}  // namespace dsv3::server
