// Scratch memory for activations: a bump allocator over blocks that are kept and reused,
// so a steady decode loop allocates nothing. Pointers stay valid until released by a Mark.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

namespace dsv3 {

class Arena {
 public:
  explicit Arena(size_t block_floats = size_t(1) << 20) : block_floats_(block_floats) {}

  // n floats, 64-byte aligned, uninitialised.
  float* floats(size_t n);
  int32_t* ints(size_t n) { return reinterpret_cast<int32_t*>(floats(n)); }

  // Everything allocated after a Mark is released when the Mark goes out of scope.
  class Mark {
   public:
    explicit Mark(Arena& a) : arena_(a), block_(a.current_), used_(a.used_) {}
    ~Mark() {
      arena_.current_ = block_;
      arena_.used_ = used_;
    }
    Mark(const Mark&) = delete;
    Mark& operator=(const Mark&) = delete;

   private:
    Arena& arena_;
    size_t block_, used_;
  };

 private:
  struct AlignedDelete {
    void operator()(float* p) const { ::operator delete[](p, std::align_val_t(64)); }
  };
  struct Block {
    std::unique_ptr<float[], AlignedDelete> data;
    size_t size;
  };
  size_t block_floats_;
  std::vector<Block> blocks_;
  size_t current_ = 0;  // index of the block being filled
  size_t used_ = 0;     // floats used in it
};

}  // namespace dsv3
