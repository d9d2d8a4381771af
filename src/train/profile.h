// Wall time per named phase of a training step (`dsv3 train --profile`): where the time goes.
// Phases are disjoint (no nesting), so their shares add up to the instrumented total.
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace dsv3::train {

class Profile {
 public:
  void add(const std::string& phase, double seconds, double cpu_seconds, double gemm_seconds,
           double flops);
  // One line per phase, slowest first: wall seconds, share, the calling thread's CPU seconds
  // (with one thread and a busy machine, the honest measure), GFLOP/s where flops were given.
  std::string report() const;
  void clear() { phases_.clear(); }

 private:
  struct Entry {
    double seconds = 0, cpu_seconds = 0, gemm_seconds = 0, flops = 0;
    int64_t calls = 0;
  };
  std::map<std::string, Entry> phases_;
};

// Adds the time from construction to destruction to `phase` (nothing when profile is null).
class ProfileScope {
 public:
  ProfileScope(Profile* profile, const char* phase, double flops = 0)
      : profile_(profile), phase_(phase), flops_(flops) {
    if (!profile_) return;
    start_ = std::chrono::steady_clock::now();
    cpu_start_ = thread_cpu_seconds();
    gemm_start_ = gemm_cpu_seconds();
  }
  ~ProfileScope() {
    if (!profile_) return;
    profile_->add(phase_,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(),
                  thread_cpu_seconds() - cpu_start_, gemm_cpu_seconds() - gemm_start_, flops_);
  }
  static double thread_cpu_seconds();
  // CPU seconds of all matrix products so far (blas.h's GemmStats).
  static double gemm_cpu_seconds();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  Profile* profile_;
  const char* phase_;
  double flops_;
  std::chrono::steady_clock::time_point start_;
  double cpu_start_ = 0, gemm_start_ = 0;
};

}  // namespace dsv3::train
