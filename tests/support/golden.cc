#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/golden.h"

namespace dsv3::testing {

GoldenCase::GoldenCase(const std::string& name)
    : GoldenCase(test_data_dir() + "/golden/" + name, FromDir{}) {}

GoldenCase::GoldenCase(const std::string& dir, FromDir) : dir_(dir) {
  std::ifstream mf(dir_ + "/golden/manifest.json");
  if (!mf) throw std::runtime_error("missing golden manifest in " + dir_);
  manifest_ = nlohmann::json::parse(mf);
  std::ifstream list(dir_ + "/golden/arrays.txt");
  std::string line;
  while (std::getline(list, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string aname, dtype, shape, file;
    ls >> aname >> dtype >> shape >> file;
    GoldenArray a;
    int64_t n = 1;
    if (shape != "-") {
      std::stringstream ss(shape);
      std::string dim;
      while (std::getline(ss, dim, ',')) {
        a.shape.push_back(std::stoll(dim));
        n *= a.shape.back();
      }
    }
    std::ifstream in(dir_ + "/golden/" + file, std::ios::binary);
    if (dtype == "float32") {
      a.f32.resize(n);
      in.read(reinterpret_cast<char*>(a.f32.data()), n * 4);
    } else {
      a.i32.resize(n);
      in.read(reinterpret_cast<char*>(a.i32.data()), n * 4);
    }
    if (n && !in) throw std::runtime_error("short golden file " + file);
    arrays_[aname] = std::move(a);
  }
}

std::string GoldenCase::checkpoint_dir() const { return dir_ + "/checkpoint"; }

const GoldenArray& GoldenCase::array(const std::string& name) const {
  auto it = arrays_.find(name);
  if (it == arrays_.end()) throw std::runtime_error("no golden array " + name);
  return it->second;
}

float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::fmax(m, std::fabs(a[i] - b[i]));
  return m;
}

}  // namespace dsv3::testing
