// Wall time per named phase of a forward pass (`dsv3 bench --profile`): where a prefill or a
// decode step spends its time. Phases are disjoint (no nesting), so their shares add up to
// the instrumented total. A null PhaseTimes* makes every scope a no-op.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace dsv3 {

class PhaseTimes {
 public:
  void add(const char* phase, double seconds);
  // One line per phase, slowest first: milliseconds per `unit` (a token) and share.
  std::string report(double units, const char* unit) const;
  double total_seconds() const;
  // (phase, seconds), slowest first.
  std::vector<std::pair<std::string, double>> sorted() const;

 private:
  struct Entry {
    std::string phase;
    double seconds = 0;
  };
  std::vector<Entry> entries_;  // few phases: a linear search is the fastest map
};

class PhaseScope {
 public:
  PhaseScope(PhaseTimes* times, const char* phase) : times_(times), phase_(phase) {
    if (times_) start_ = std::chrono::steady_clock::now();
  }
  ~PhaseScope() {
    if (times_) {
      times_->add(phase_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
  }
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  PhaseTimes* times_;
  const char* phase_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace dsv3
