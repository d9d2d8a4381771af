// The BPE model on raw bytes: a piece starts as one symbol per byte (the byte-level
// alphabet's token ids) and adjacent symbols are merged, lowest merge rank first and
// leftmost first among equal ranks, until no listed merge applies (HF tokenizers
// models/bpe/word.rs merge_all).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dsv3 {

// Merge rules keyed on the pair of token ids, in an open-addressing table (a std::
// unordered_map costs a pointer chase per probe, and BPE probes once per adjacent pair).
class MergeTable {
 public:
  struct Entry {
    uint64_t key;
    int32_t rank;
    int32_t merged;
  };

  explicit MergeTable(size_t expected_entries = 0);
  // A later rule for the same pair replaces the earlier one, as in HF's HashMap collect.
  void insert(int32_t left, int32_t right, int32_t rank, int32_t merged);
  // The rule for (left, right), or nullptr.
  const Entry* find(int32_t left, int32_t right) const;
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t key_of(int32_t left, int32_t right) {
    return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  }
  size_t slot_of(uint64_t key) const {
    return size_t((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  void grow();

  std::vector<Entry> slots_;
  int shift_ = 64;
  size_t size_ = 0;
};

// Applies merges to `symbols` in place. Two algorithms with one result: `scan` looks for
// the best pair by a linear scan (fast for the short pieces of real text), `heap` keeps a
// priority queue over a linked list (O(n log n), for long pieces).
void bpe_merge_scan(const MergeTable& merges, std::vector<int32_t>& symbols);
void bpe_merge_heap(const MergeTable& merges, std::vector<int32_t>& symbols);

class BpeModel {
 public:
  // `byte_ids[b]`: the id of the byte-level token for byte b (all 256 must exist).
  // `whole_pieces`: with ignore_merges, pieces found here (raw bytes) are one token.
  BpeModel(std::array<int32_t, 256> byte_ids, MergeTable merges,
           std::unordered_map<std::string, int32_t> whole_pieces);
  BpeModel(BpeModel&&) noexcept;
  BpeModel& operator=(BpeModel&&) noexcept;
  ~BpeModel();

  // Appends the token ids of one pre-tokenized piece (raw bytes, not empty).
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;

 private:
  struct Cache;

  void merge(std::string_view piece, std::vector<int32_t>& symbols) const;

  std::array<int32_t, 256> byte_ids_;
  MergeTable merges_;
  std::unordered_map<std::string, int32_t> whole_pieces_;
  // piece -> ids for recently seen short pieces; thread-safe, bounded.
  std::unique_ptr<Cache> cache_;
};

}  // namespace dsv3
