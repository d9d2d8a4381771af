#include "train/profile.h"

#include "train/blas.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

namespace dsv3::train {

double ProfileScope::thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double ProfileScope::gemm_cpu_seconds() { return gemm_stats().seconds; }

void Profile::add(const std::string& phase, double seconds, double cpu_seconds,
                  double gemm_seconds, double flops) {
  Entry& e = phases_[phase];
  e.seconds += seconds;
  e.cpu_seconds += cpu_seconds;
  e.gemm_seconds += gemm_seconds;
  e.flops += flops;
  ++e.calls;
}

std::string Profile::report() const {
  std::vector<std::pair<std::string, Entry>> rows(phases_.begin(), phases_.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  double total = 0, total_cpu = 0;
  for (const auto& [name, e] : rows) {
    total += e.seconds;
    total_cpu += e.cpu_seconds;
  }
  std::string out =
      "  phase                    wall s  share    cpu s  share  gemm cpu s   calls  "
      "GFLOP/s(wall)\n";
  char line[200];
  double total_gemm = 0;
  for (const auto& [name, e] : rows) {
    total_gemm += e.gemm_seconds;
    std::snprintf(line, sizeof line, "  %-22s %8.3f %5.1f%% %8.3f %5.1f%% %11.3f %7ld",
                  name.c_str(), e.seconds, total > 0 ? 100.0 * e.seconds / total : 0.0,
                  e.cpu_seconds, total_cpu > 0 ? 100.0 * e.cpu_seconds / total_cpu : 0.0,
                  e.gemm_seconds, long(e.calls));
    out += line;
    if (e.flops > 0) {
      std::snprintf(line, sizeof line, "  %7.1f", e.flops / e.seconds / 1e9);
      out += line;
    }
    out += "\n";
  }
  std::snprintf(line, sizeof line, "  %-22s %8.3f        %8.3f        %11.3f\n", "total", total,
                total_cpu, total_gemm);
  return out + line;
}

}  // namespace dsv3::train
