// A test hook that kills the process at a chosen moment of a save, the way the OOM killer, a
// job scheduler or a power cut would (SIGKILL: no destructor, no flush, no cleanup), so tests
// can check that an interrupted save never destroys the checkpoint it replaces.
//
// Armed only by the environment variable DSV3_TEST_CRASH_AT=NAME[@BYTES][#OCCURRENCE]: the
// OCCURRENCE-th time (default 1) that NAME is reached the process dies. NAME is either a file's
// base name (e.g. optimizer.safetensors: the process dies once BYTES bytes of the file, header
// included, have been handed to the writer; default 0) or a named step of a save (e.g.
// checkpoint-switched). Unset, every call here is a cheap no-op.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "util/atomic_file.h"

namespace dsv3::crash_hook {

// Counts one occurrence of `name`; when it is the armed one, how many bytes may be written
// before dying (the caller stops there and calls kill_now()).
std::optional<uint64_t> arm(std::string_view name);

[[noreturn]] void kill_now();

// Dies here if DSV3_TEST_CRASH_AT names this occurrence of `name`.
void point(std::string_view name);

// Writes to `file`, counting into `written`; past `limit` (from arm()) writes the bytes up to
// the limit and dies.
Status write(AtomicFile& file, const void* data, size_t n, uint64_t& written,
             std::optional<uint64_t> limit);

}  // namespace dsv3::crash_hook
