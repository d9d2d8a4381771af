// A small deterministic random generator whose whole state is one 64-bit word, so checkpoints
// can save it and a resumed run draws exactly the numbers a straight run would have.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <string_view>

namespace dsv3::train {

// SplitMix64 (Steele, Lea, Flood 2014): passes BigCrush, one add and a mix per draw.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t state() const { return state_; }

  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return uint64_t(uniform() * double(n)); }
  // Standard normal (Box-Muller; one draw per call keeps the state a single word).
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  uint64_t state_;
};

// FNV-1a of a name: per-tensor random streams.
inline uint64_t hash_name(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

}  // namespace dsv3::train
