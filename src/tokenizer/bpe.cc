#include "tokenizer/bpe.h"

#include <algorithm>
#include <bit>
#include <climits>
#include <mutex>

#include "util/check.h"

namespace dsv3 {

MergeTable::MergeTable(size_t expected_entries) {
  size_t capacity = 16;
  while (capacity < expected_entries * 2) capacity *= 2;  // load factor <= 1/2
  slots_.assign(capacity, Entry{kEmpty, 0, 0});
  shift_ = 64 - std::countr_zero(capacity);
}

void MergeTable::grow() {
  std::vector<Entry> old = std::move(slots_);
  slots_.assign(old.size() * 2, Entry{kEmpty, 0, 0});
  --shift_;
  size_ = 0;
  for (const Entry& e : old) {
    if (e.key != kEmpty) {
      insert(int32_t(e.key >> 32), int32_t(uint32_t(e.key)), e.rank, e.merged);
    }
  }
}

void MergeTable::insert(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  DSV3_CHECK(left >= 0 && right >= 0);
  if ((size_ + 1) * 2 > slots_.size()) grow();
  const uint64_t key = key_of(left, right);
  const size_t mask = slots_.size() - 1;
  for (size_t i = slot_of(key);; i = (i + 1) & mask) {
    if (slots_[i].key == kEmpty) ++size_;
    if (slots_[i].key == kEmpty || slots_[i].key == key) {
      slots_[i] = Entry{key, rank, merged};
      return;
    }
  }
}

const MergeTable::Entry* MergeTable::find(int32_t left, int32_t right) const {
  const uint64_t key = key_of(left, right);
  const size_t mask = slots_.size() - 1;
  for (size_t i = slot_of(key);; i = (i + 1) & mask) {
    if (slots_[i].key == key) return &slots_[i];
    if (slots_[i].key == kEmpty) return nullptr;
  }
}

namespace {

int32_t pair_rank(const MergeTable& merges, int32_t left, int32_t right) {
  const MergeTable::Entry* e = merges.find(left, right);
  return e == nullptr ? INT32_MAX : e->rank;
}

}  // namespace

void bpe_merge_scan(const MergeTable& merges, std::vector<int32_t>& symbols) {
  if (symbols.size() < 2) return;
  // ranks[i] is the rank of the pair (symbols[i], symbols[i + 1]).
  std::vector<int32_t> ranks(symbols.size() - 1);
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    ranks[i] = pair_rank(merges, symbols[i], symbols[i + 1]);
  }
  while (!ranks.empty()) {
    const auto best_it = std::min_element(ranks.begin(), ranks.end());  // leftmost minimum
    if (*best_it == INT32_MAX) break;
    const size_t best = size_t(best_it - ranks.begin());
    symbols[best] = merges.find(symbols[best], symbols[best + 1])->merged;
    symbols.erase(symbols.begin() + ptrdiff_t(best) + 1);
    ranks.erase(ranks.begin() + ptrdiff_t(best));
    if (best > 0) ranks[best - 1] = pair_rank(merges, symbols[best - 1], symbols[best]);
    if (best < ranks.size()) ranks[best] = pair_rank(merges, symbols[best], symbols[best + 1]);
  }
}

namespace {

struct HeapSymbol {
  int32_t id;
  int32_t prev;  // -1 at the start
  int32_t next;  // -1 at the end
  bool alive;
};

// Ordered by (rank, pos) packed into one integer: a single compare per heap step.
struct Candidate {
  uint64_t order;  // rank << 32 | pos, pos = index of the left symbol
  int32_t merged;
  int32_t pos() const { return int32_t(uint32_t(order)); }
};

// std::push_heap keeps the greatest on top; "greater" here is the lowest (rank, pos).
bool lower_priority(const Candidate& a, const Candidate& b) { return a.order > b.order; }

}  // namespace

void bpe_merge_heap(const MergeTable& merges, std::vector<int32_t>& symbols) {
  const int32_t n = int32_t(symbols.size());
  std::vector<HeapSymbol> sym(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) sym[size_t(i)] = {symbols[size_t(i)], i - 1, i + 1, true};
  if (n > 0) sym[size_t(n - 1)].next = -1;
  std::vector<Candidate> heap;
  heap.reserve(size_t(n) * 2);
  auto candidate = [&](int32_t pos, Candidate& out) {
    if (pos < 0 || sym[size_t(pos)].next < 0) return false;
    const auto* e = merges.find(sym[size_t(pos)].id, sym[size_t(sym[size_t(pos)].next)].id);
    if (e == nullptr) return false;
    out = {(uint64_t(uint32_t(e->rank)) << 32) | uint32_t(pos), e->merged};
    return true;
  };
  auto push = [&](int32_t pos) {
    Candidate c;
    if (!candidate(pos, c)) return;
    heap.push_back(c);
    std::push_heap(heap.begin(), heap.end(), lower_priority);
  };
  for (int32_t i = 0; i + 1 < n; ++i) {
    if (Candidate c; candidate(i, c)) heap.push_back(c);
  }
  std::make_heap(heap.begin(), heap.end(), lower_priority);  // O(n), not n pushes
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), lower_priority);
    const Candidate top = heap.back();
    heap.pop_back();
    HeapSymbol& left = sym[size_t(top.pos())];
    if (!left.alive || left.next < 0) continue;
    HeapSymbol& right = sym[size_t(left.next)];
    // An entry is stale once either symbol has changed; the merged id then differs,
    // because symbols only grow (the same check as HF's word.rs).
    const auto* e = merges.find(left.id, right.id);
    if (e == nullptr || e->merged != top.merged) continue;
    left.id = top.merged;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) sym[size_t(right.next)].prev = top.pos();
    push(left.prev);
    push(top.pos());
  }
  symbols.clear();
  for (int32_t i = 0; i >= 0 && i < n; i = sym[size_t(i)].next) {
    symbols.push_back(sym[size_t(i)].id);
  }
}

// Transparent hashing lets the cache be probed with a string_view without a copy.
struct BpeModel::Cache {
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  static constexpr size_t kMaxEntries = size_t{1} << 16;
  // HF tokenizers caches words up to 256 characters; longer pieces are rare and unique.
  static constexpr size_t kMaxPieceBytes = 256;

  std::mutex mu;
  std::unordered_map<std::string, std::vector<int32_t>, Hash, std::equal_to<>> map;
};

BpeModel::BpeModel(std::array<int32_t, 256> byte_ids, MergeTable merges,
                   std::unordered_map<std::string, int32_t> whole_pieces)
    : byte_ids_(byte_ids),
      merges_(std::move(merges)),
      whole_pieces_(std::move(whole_pieces)),
      cache_(std::make_unique<Cache>()) {}
BpeModel::BpeModel(BpeModel&&) noexcept = default;
BpeModel& BpeModel::operator=(BpeModel&&) noexcept = default;
BpeModel::~BpeModel() = default;

// Pieces longer than this use the heap, whose cost grows as n log n instead of n^2.
constexpr size_t kScanMaxSymbols = 48;

void BpeModel::merge(std::string_view piece, std::vector<int32_t>& symbols) const {
  symbols.clear();
  for (char c : piece) symbols.push_back(byte_ids_[uint8_t(c)]);
  if (symbols.size() <= kScanMaxSymbols) {
    bpe_merge_scan(merges_, symbols);
  } else {
    bpe_merge_heap(merges_, symbols);
  }
}

void BpeModel::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  DSV3_CHECK(!piece.empty());
  if (piece.size() == 1) {
    out.push_back(byte_ids_[uint8_t(piece[0])]);
    return;
  }
  if (!whole_pieces_.empty()) {
    if (auto it = whole_pieces_.find(std::string(piece)); it != whole_pieces_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = piece.size() <= Cache::kMaxPieceBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    if (auto it = cache_->map.find(piece); it != cache_->map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> symbols;
  merge(piece, symbols);
  out.insert(out.end(), symbols.begin(), symbols.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    // Clearing when full keeps memory bounded and lets the cache follow a change of topic.
    if (cache_->map.size() >= Cache::kMaxEntries) cache_->map.clear();
    cache_->map.emplace(std::string(piece), std::move(symbols));
  }
}

}  // namespace dsv3
