#include "util/phase_times.h"

#include <algorithm>
#include <cstdio>

namespace dsv3 {

void PhaseTimes::add(const char* phase, double seconds) {
  for (Entry& e : entries_) {
    if (e.phase == phase) {
      e.seconds += seconds;
      return;
    }
  }
  entries_.push_back({phase, seconds});
}

double PhaseTimes::total_seconds() const {
  double total = 0;
  for (const Entry& e : entries_) total += e.seconds;
  return total;
}

std::vector<std::pair<std::string, double>> PhaseTimes::sorted() const {
  std::vector<std::pair<std::string, double>> out;
  for (const Entry& e : entries_) out.emplace_back(e.phase, e.seconds);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

std::string PhaseTimes::report(double units, const char* unit) const {
  const double total = total_seconds();
  std::string out;
  char line[160];
  for (const auto& [phase, seconds] : sorted()) {
    std::snprintf(line, sizeof line, "  %-28s %9.3f ms/%s  %5.1f%%\n", phase.c_str(),
                  units > 0 ? 1e3 * seconds / units : 0.0, unit,
                  total > 0 ? 100.0 * seconds / total : 0.0);
    out += line;
  }
  return out;
}

}  // namespace dsv3
