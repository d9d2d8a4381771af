// Reads the golden reference arrays of tests/data/golden/<case>/golden (arrays.txt format).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsv3::testing {

struct GoldenArray {
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<int32_t> i32;
};

class GoldenCase {
 public:
  explicit GoldenCase(const std::string& name);
  // A case stored elsewhere (tests/data/golden/<case> in the repository).
  static GoldenCase from_dir(const std::string& dir) { return GoldenCase(dir, FromDir{}); }
  std::string checkpoint_dir() const;
  const GoldenArray& array(const std::string& name) const;
  bool has(const std::string& name) const { return arrays_.count(name) != 0; }
  const nlohmann::json& manifest() const { return manifest_; }
  int num_prompts() const { return int(manifest_["prompts"].size()); }

 private:
  struct FromDir {};
  GoldenCase(const std::string& dir, FromDir);
  std::string dir_;
  nlohmann::json manifest_;
  std::map<std::string, GoldenArray> arrays_;
};

inline std::string test_data_dir() { return DSV3_TEST_DATA_DIR; }

// Largest |a - b| over all elements.
float max_abs_diff(const float* a, const float* b, size_t n);

}  // namespace dsv3::testing
