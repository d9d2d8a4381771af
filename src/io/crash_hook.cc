#include "io/crash_hook.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>

namespace dsv3::crash_hook {

namespace {

struct Plan {
  std::string name;
  uint64_t bytes = 0;
  int64_t occurrence = 1;
};

// Parsed once; a malformed value arms nothing rather than killing at a surprising moment.
const std::optional<Plan>& plan() {
  static const std::optional<Plan> parsed = []() -> std::optional<Plan> {
    const char* v = std::getenv("DSV3_TEST_CRASH_AT");
    if (!v || !*v) return std::nullopt;
    std::string s = v;
    Plan p;
    if (const size_t hash = s.find('#'); hash != std::string::npos) {
      p.occurrence = std::strtoll(s.c_str() + hash + 1, nullptr, 10);
      s.resize(hash);
    }
    if (const size_t at = s.find('@'); at != std::string::npos) {
      p.bytes = std::strtoull(s.c_str() + at + 1, nullptr, 10);
      s.resize(at);
    }
    p.name = s;
    if (p.name.empty() || p.occurrence < 1) return std::nullopt;
    return p;
  }();
  return parsed;
}

}  // namespace

std::optional<uint64_t> arm(std::string_view name) {
  const std::optional<Plan>& p = plan();
  if (!p || p->name != name) return std::nullopt;
  static int64_t seen = 0;  // saves run on one thread
  if (++seen != p->occurrence) return std::nullopt;
  return p->bytes;
}

void kill_now() {
  ::kill(::getpid(), SIGKILL);
  ::_exit(137);  // not reached
}

void point(std::string_view name) {
  if (arm(name)) kill_now();
}

Status write(AtomicFile& file, const void* data, size_t n, uint64_t& written,
             std::optional<uint64_t> limit) {
  if (limit && written + n >= *limit) {
    const size_t allowed = size_t(*limit - std::min(*limit, written));
    (void)file.write(data, allowed);
    kill_now();
  }
  DSV3_TRY(file.write(data, n));
  written += n;
  return OkStatus();
}

}  // namespace dsv3::crash_hook
