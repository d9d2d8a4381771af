// Training data for now: a stream of token ids, cut into windows visited in a seeded random
// order. (The text data loader with a tokenizer and a validation split comes later.)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/result.h"

namespace dsv3::train {

// A .txt file of ids separated by whitespace or commas, or any other file as little-endian
// int32 ids. Every id must be in [0, vocab); the error names the file, the index and the id.
Result<std::vector<int32_t>> load_tokens(const std::string& path, int64_t vocab);

// Where a sampler stands: the epoch and the index of the next window in that epoch's order.
struct DataPosition {
  uint64_t epoch = 0;
  uint64_t index = 0;
};

// Windows of `window` tokens starting at every multiple of `stride` that fits, each epoch in
// a fresh random order drawn from (seed, epoch): a position fully determines what comes next,
// so a resumed run reads exactly the windows a straight run would have.
class WindowSampler {
 public:
  WindowSampler(int64_t num_tokens, int64_t window, int64_t stride, uint64_t seed);

  int64_t windows_per_epoch() const { return int64_t(order_.size()); }
  // Start of the next window.
  int64_t next();
  DataPosition position() const { return pos_; }
  void seek(DataPosition p);

 private:
  void shuffle();

  int64_t stride_;
  uint64_t seed_;
  DataPosition pos_;
  std::vector<int64_t> order_;  // window indices in this epoch's order
};

}  // namespace dsv3::train
