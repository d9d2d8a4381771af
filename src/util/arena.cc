#include "util/arena.h"

#include <algorithm>

namespace dsv3 {

float* Arena::floats(size_t n) {
  const size_t padded = (n + 15) & ~size_t(15);  // keep 64-byte alignment
  while (current_ < blocks_.size()) {
    Block& b = blocks_[current_];
    if (used_ + padded <= b.size) {
      float* p = b.data.get() + used_;
      used_ += padded;
      return p;
    }
    ++current_;
    used_ = 0;
  }
  const size_t size = std::max(block_floats_, padded);
  auto* data = static_cast<float*>(::operator new[](size * sizeof(float), std::align_val_t(64)));
  blocks_.push_back(Block{std::unique_ptr<float[], AlignedDelete>(data), size});
  current_ = blocks_.size() - 1;
  used_ = padded;
  return blocks_.back().data.get();
}

}  // namespace dsv3
