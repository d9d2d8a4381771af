#include "train/data.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <numeric>
#include <sstream>

#include "train/rng.h"

namespace dsv3::train {

Result<std::vector<int32_t>> load_tokens(const std::string& path, int64_t vocab) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Err("cannot read token file ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  std::vector<int32_t> tokens;
  const bool text = path.size() >= 4 && path.compare(path.size() - 4, 4, ".txt") == 0;
  if (text) {
    size_t i = 0;
    while (i < bytes.size()) {
      const unsigned char ch = bytes[i];
      if (std::isspace(ch) || ch == ',') {
        ++i;
        continue;
      }
      int64_t v = 0;
      const size_t start = i;
      while (i < bytes.size() && std::isdigit(static_cast<unsigned char>(bytes[i]))) {
        v = std::min<int64_t>(v * 10 + (bytes[i++] - '0'), int64_t(1) << 40);
      }
      if (i == start || (i < bytes.size() && !std::isspace(static_cast<unsigned char>(bytes[i])) &&
                         bytes[i] != ',')) {
        return Err(path, ": byte ", start, ": expected a token id (digits), found '",
                   bytes.substr(start, 16), "'");
      }
      if (v >= vocab) {
        return Err(path, ": token ", tokens.size(), " = ", v, " is outside the vocabulary [0, ",
                   vocab, ")");
      }
      tokens.push_back(int32_t(v));
    }
    return tokens;
  }
  if (bytes.size() % 4 != 0) {
    return Err(path, ": ", bytes.size(), " bytes is not a whole number of int32 token ids ",
               "(name a text file of ids *.txt)");
  }
  tokens.resize(bytes.size() / 4);
  for (size_t t = 0; t < tokens.size(); ++t) {
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data() + 4 * t);
    const int32_t v = int32_t(uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 |
                              uint32_t(b[3]) << 24);
    if (v < 0 || v >= vocab) {
      return Err(path, ": token ", t, " = ", v, " is outside the vocabulary [0, ", vocab, ")");
    }
    tokens[t] = v;
  }
  return tokens;
}

WindowSampler::WindowSampler(int64_t num_tokens, int64_t window, int64_t stride, uint64_t seed)
    : stride_(stride), seed_(seed) {
  const int64_t count = num_tokens >= window ? (num_tokens - window) / stride + 1 : 0;
  order_.resize(count);
  shuffle();
}

void WindowSampler::shuffle() {
  std::iota(order_.begin(), order_.end(), int64_t(0));
  Rng rng(seed_ * 0x9e3779b97f4a7c15ull + pos_.epoch + 1);
  for (int64_t i = int64_t(order_.size()) - 1; i > 0; --i) {
    std::swap(order_[i], order_[rng.below(uint64_t(i + 1))]);
  }
}

int64_t WindowSampler::next() {
  if (pos_.index >= order_.size()) {
    ++pos_.epoch;
    pos_.index = 0;
    shuffle();
  }
  return order_[pos_.index++] * stride_;
}

void WindowSampler::seek(DataPosition p) {
  pos_ = p;
  shuffle();
}

}  // namespace dsv3::train
