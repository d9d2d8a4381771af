// Piece counting and the BPE merge loop; the files are written in tokenizer_train.cc.
#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <thread>

#include "tokenizer/deepseek_format.h"
#include "tokenizer/utf8.h"
#include "util/check.h"
#include "util/thread_pool.h"

namespace dsv3 {

// ---------------------------------------------------------------------------------------
// Counting

namespace {

// A chunk may start at `pos` when the byte before it is '\n' and it is printable ASCII
// other than space. No piece of the DeepSeek-V3 pre-tokenizer crosses such a point: every
// alternative that can hold '\n' ends with it unless more whitespace follows, letters and
// digits start a new piece after '\n', and no added token holds '\n'. Counting chunks apart
// then gives exactly the counts of the whole text.
bool is_chunk_start(std::string_view text, size_t pos) {
  return pos > 0 && pos < text.size() && text[pos - 1] == '\n' && text[pos] > ' ' &&
         text[pos] < 0x7F;
}

void cut_into_chunks(std::string_view text, size_t chunk_bytes,
                     std::vector<std::string_view>& out) {
  size_t start = 0;
  while (text.size() - start > chunk_bytes) {
    size_t nl = text.find('\n', start + chunk_bytes);
    while (nl != std::string_view::npos && !is_chunk_start(text, nl + 1)) {
      nl = text.find('\n', nl + 1);
    }
    if (nl == std::string_view::npos) break;
    out.push_back(text.substr(start, nl + 1 - start));
    start = nl + 1;
  }
  if (start < text.size()) out.push_back(text.substr(start));
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return std::max(1, int(std::thread::hardware_concurrency()));
}

}  // namespace

Result<PieceCounter> PieceCounter::deepseek_v3() {
  DSV3_ASSIGN_OR_RETURN(PreTokenizer pre, PreTokenizer::from_json(deepseek_v3::pre_tokenizer_json(),
                                                                  "DeepSeek-V3 pre_tokenizer"));
  AddedTokens added;
  int32_t id = 0;
  for (const auto& list : {deepseek_v3::leading_tokens(), deepseek_v3::trailing_tokens()}) {
    for (const deepseek_v3::AddedTokenSpec& t : list) {
      added.add(AddedToken{id++, std::string(t.content), t.special, t.normalized});
    }
  }
  return PieceCounter(std::move(pre), std::move(added));
}

PieceCounter::PieceCounter(PreTokenizer pre_tokenizer, AddedTokens added)
    : pre_tokenizer_(std::move(pre_tokenizer)), added_(std::move(added)) {}

void PieceCounter::count_chunk(std::string_view chunk,
                               std::unordered_map<std::string_view, int64_t>& out) const {
  std::vector<TextSegment> segments;
  added_.split(chunk, segments);
  PreTokenizer::Scratch scratch(pre_tokenizer_);
  std::vector<std::string_view> pieces;
  for (const TextSegment& segment : segments) {
    if (segment.added_id >= 0) continue;
    pieces.clear();
    pre_tokenizer_.split(segment.text, scratch, pieces);
    for (std::string_view piece : pieces) ++out[piece];
  }
}

void PieceCounter::add_texts(std::span<const std::string_view> texts, int num_threads,
                             size_t chunk_bytes) {
  // The regexes need valid UTF-8; repaired copies live until the counts are merged.
  std::vector<std::string> repaired;
  std::vector<std::string_view> chunks;
  for (std::string_view text : texts) {
    if (utf8_first_invalid(text).has_value()) {
      repaired.push_back(utf8_lossy(text));
      text = repaired.back();
    }
    cut_into_chunks(text, std::max<size_t>(chunk_bytes, 1), chunks);
  }
  std::vector<std::unordered_map<std::string_view, int64_t>> partial(chunks.size());
  ThreadPool pool(int(
      std::min<size_t>(size_t(resolve_threads(num_threads)), std::max<size_t>(chunks.size(), 1))));
  pool.run(int64_t(chunks.size()),
           [&](int64_t i) { count_chunk(chunks[size_t(i)], partial[size_t(i)]); });
  for (const auto& counts : partial) {
    for (const auto& [piece, n] : counts) {
      num_pieces_ += n;
      const auto it = counts_.find(piece);
      if (it == counts_.end()) {
        counts_.emplace(std::string(piece), n);
      } else {
        it->second += n;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Merging

namespace {

using PairKey = uint64_t;

PairKey pair_key(int32_t left, int32_t right) {
  return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
}
int32_t left_of(PairKey key) { return int32_t(key >> 32); }
int32_t right_of(PairKey key) { return int32_t(key & 0xFFFFFFFFu); }

struct Word {
  std::vector<int32_t> symbols;  // token ids, left to right
  int64_t count;                 // occurrences of the piece in the text
};

// The state of training: the words as token sequences, how often each adjacent pair
// occurs (weighted by word counts), which words hold each pair, and a heap of pairs.
class MergeLoop {
 public:
  explicit MergeLoop(const PieceCounts& counts);
  BpeVocabulary run(const BpeTrainOptions& options);

 private:
  struct Candidate {
    int64_t count;
    PairKey pair;
  };

  // Whether `a` is merged before `b`: more occurrences first, then the smaller
  // (left bytes, right bytes).
  bool before(const Candidate& a, const Candidate& b) const;
  void push(PairKey pair, int64_t count);
  // The pair to merge next, or false when there is none. Heap entries are not updated
  // when a count changes: an entry whose count is stale is put back with the current
  // count (a pair whose count grew was pushed again when it grew).
  bool pop_best(Candidate& best);
  void note_word(PairKey pair, uint32_t word);
  // Replaces every (left, right) by `merged` in the words that hold the pair and updates
  // the pair counts and word lists for what changed.
  void merge(PairKey pair, int32_t merged);

  std::vector<std::string> tokens_;  // raw bytes by id
  std::unordered_map<std::string, int32_t> id_of_bytes_;
  std::vector<Word> words_;
  std::unordered_map<PairKey, int64_t> pair_count_;
  // Words that held the pair at some point (some may have lost it since).
  std::unordered_map<PairKey, std::vector<uint32_t>> words_of_pair_;
  std::vector<Candidate> heap_;
  std::vector<uint32_t> visited_;  // by word: the last merge that updated it
  uint32_t merge_number_ = 0;
  std::unordered_map<PairKey, int64_t> change_;  // per merge: pair -> change of its count
};

MergeLoop::MergeLoop(const PieceCounts& counts) {
  tokens_.reserve(256);
  for (int b = 0; b < 256; ++b) {
    tokens_.emplace_back(1, char(b));
    id_of_bytes_.emplace(tokens_.back(), b);
  }
  // Sorted so that every list below is built in the same order on every run.
  std::vector<std::pair<std::string_view, int64_t>> sorted;
  sorted.reserve(counts.size());
  for (const auto& [piece, n] : counts) {
    if (piece.size() >= 2) sorted.emplace_back(piece, n);
  }
  std::sort(sorted.begin(), sorted.end());
  words_.reserve(sorted.size());
  for (const auto& [piece, n] : sorted) {
    Word w{std::vector<int32_t>(piece.size()), n};
    for (size_t i = 0; i < piece.size(); ++i) w.symbols[i] = uint8_t(piece[i]);
    const uint32_t index = uint32_t(words_.size());
    for (size_t i = 0; i + 1 < w.symbols.size(); ++i) {
      const PairKey key = pair_key(w.symbols[i], w.symbols[i + 1]);
      pair_count_[key] += n;
      note_word(key, index);
    }
    words_.push_back(std::move(w));
  }
  visited_.assign(words_.size(), 0);
  heap_.reserve(pair_count_.size());
  for (const auto& [key, n] : pair_count_) push(key, n);
}

bool MergeLoop::before(const Candidate& a, const Candidate& b) const {
  if (a.count != b.count) return a.count > b.count;
  if (a.pair == b.pair) return false;
  const std::string& al = tokens_[size_t(left_of(a.pair))];
  const std::string& bl = tokens_[size_t(left_of(b.pair))];
  if (al != bl) return al < bl;
  return tokens_[size_t(right_of(a.pair))] < tokens_[size_t(right_of(b.pair))];
}

void MergeLoop::push(PairKey pair, int64_t count) {
  heap_.push_back({count, pair});
  // std heaps put the largest first; "largest" here is the pair merged first.
  std::push_heap(heap_.begin(), heap_.end(),
                 [this](const Candidate& x, const Candidate& y) { return before(y, x); });
}

bool MergeLoop::pop_best(Candidate& best) {
  const auto later = [this](const Candidate& x, const Candidate& y) { return before(y, x); };
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    const Candidate top = heap_.back();
    heap_.pop_back();
    const auto it = pair_count_.find(top.pair);
    const int64_t current = it == pair_count_.end() ? 0 : it->second;
    if (current == top.count) {
      best = top;
      return true;
    }
    if (current > 0 && current < top.count) push(top.pair, current);
  }
  return false;
}

void MergeLoop::note_word(PairKey pair, uint32_t word) {
  std::vector<uint32_t>& words = words_of_pair_[pair];
  if (words.empty() || words.back() != word) words.push_back(word);
}

void MergeLoop::merge(PairKey pair, int32_t merged) {
  const auto found = words_of_pair_.find(pair);
  if (found == words_of_pair_.end()) return;
  const std::vector<uint32_t> words = std::move(found->second);
  words_of_pair_.erase(found);
  const int32_t left = left_of(pair), right = right_of(pair);
  ++merge_number_;
  change_.clear();
  for (uint32_t index : words) {
    if (visited_[index] == merge_number_) continue;
    visited_[index] = merge_number_;
    Word& word = words_[index];
    std::vector<int32_t>& s = word.symbols;
    bool holds = false;
    for (size_t i = 0; i + 1 < s.size() && !holds; ++i) holds = s[i] == left && s[i + 1] == right;
    if (!holds) continue;
    // The word's pairs before and after; pairs that stay cancel out in change_.
    for (size_t i = 0; i + 1 < s.size(); ++i) change_[pair_key(s[i], s[i + 1])] -= word.count;
    size_t out = 0;
    for (size_t i = 0; i < s.size();) {
      if (i + 1 < s.size() && s[i] == left && s[i + 1] == right) {
        s[out++] = merged;
        i += 2;
      } else {
        s[out++] = s[i++];
      }
    }
    s.resize(out);
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      const PairKey key = pair_key(s[i], s[i + 1]);
      change_[key] += word.count;
      // Only pairs with the new token are new to this word.
      if (s[i] == merged || s[i + 1] == merged) note_word(key, index);
    }
  }
  for (const auto& [key, delta] : change_) {
    if (delta == 0) continue;
    int64_t& count = pair_count_[key];
    count += delta;
    DSV3_CHECK(count >= 0, "pair count went negative");
    if (delta > 0) push(key, count);
    if (count == 0) pair_count_.erase(key);
  }
  DSV3_CHECK(pair_count_.count(pair) == 0, "a merged pair is left in some word");
}

BpeVocabulary MergeLoop::run(const BpeTrainOptions& options) {
  BpeVocabulary vocab;
  const int64_t min_frequency = std::max<int64_t>(options.min_frequency, 1);
  int64_t learned = 0;
  Candidate best;
  while (learned < options.max_new_tokens && pop_best(best) && best.count >= min_frequency) {
    const int32_t left = left_of(best.pair), right = right_of(best.pair);
    std::string bytes = tokens_[size_t(left)] + tokens_[size_t(right)];
    int32_t merged;
    if (const auto it = id_of_bytes_.find(bytes); it != id_of_bytes_.end()) {
      merged = it->second;
    } else {
      merged = int32_t(tokens_.size());
      id_of_bytes_.emplace(bytes, merged);
      tokens_.push_back(std::move(bytes));
      ++learned;
    }
    vocab.merges.push_back({left, right, merged, best.count});
    merge(best.pair, merged);
  }
  vocab.tokens = std::move(tokens_);
  return vocab;
}

}  // namespace

BpeVocabulary train_bpe(const PieceCounts& piece_counts, const BpeTrainOptions& options) {
  MergeLoop loop(piece_counts);
  return loop.run(options);
}

}  // namespace dsv3
