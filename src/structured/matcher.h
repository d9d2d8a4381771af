// A byte-level pushdown matcher over a Grammar: it accepts exactly the byte strings that are
// prefixes of a document of the grammar's language. Where the grammar allows several readings
// (anyOf, optional properties, keys that share a prefix) it follows all of them at once: the
// state is a set of stacks, and a byte keeps the stacks that accept it.
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "structured/grammar.h"
#include "util/check.h"

namespace dsv3::structured {

// One level of a stack: which node, where inside it. Plain bytes without padding, so a state
// is its own cache key.
struct Frame {
  uint32_t node = 0;
  uint8_t state = 0;     // position inside the node (an enum per node kind)
  uint8_t ws = 0;        // whitespace bytes in the current run
  uint16_t pending = 0;  // hex digits read, UTF-8 continuation bytes still expected, ...
  uint32_t count = 0;    // properties passed, items, code points, literal bytes, number bytes
  uint32_t value = 0;    // current property, \u code units, the next UTF-8 byte's range
  uint32_t hash = 0;     // an extra key's name so far (name_hash)
};
static_assert(sizeof(Frame) == 20, "Frame is hashed as bytes: no padding");
inline bool operator==(const Frame& a, const Frame& b) {
  return std::memcmp(&a, &b, sizeof(Frame)) == 0;
}

// A stack of frames with room for the deepest nesting the limits allow, held inline: the trie
// walk copies states at every byte, and a copy (of the used frames only) must not allocate.
class Stack {
 public:
  static constexpr size_t kCapacity = 64;  // > 2 frames per nesting level of max_depth
  Stack() = default;
  Stack(std::initializer_list<Frame> frames) {
    for (const Frame& f : frames) push_back(f);
  }
  Stack(const Frame* first, const Frame* last) : size_(uint32_t(last - first)) {
    std::memcpy(frames_, first, size_ * sizeof(Frame));
  }
  Stack(const Stack& o) : size_(o.size_) { std::memcpy(frames_, o.frames_, size_ * sizeof(Frame)); }
  Stack& operator=(const Stack& o) {
    size_ = o.size_;
    std::memmove(frames_, o.frames_, size_ * sizeof(Frame));
    return *this;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Frame& back() { return frames_[size_ - 1]; }
  const Frame& back() const { return frames_[size_ - 1]; }
  const Frame& operator[](size_t i) const { return frames_[i]; }
  void push_back(const Frame& f) {
    DSV3_CHECK(size_ < kCapacity, "matcher stack overflow (max_depth too large)");
    frames_[size_++] = f;
  }
  void pop_back() { --size_; }
  const Frame* begin() const { return frames_; }
  const Frame* end() const { return frames_ + size_; }
  const Frame* data() const { return frames_; }
  bool operator==(const Stack& o) const {
    return size_ == o.size_ && std::memcmp(frames_, o.frames_, size_ * sizeof(Frame)) == 0;
  }

 private:
  uint32_t size_ = 0;
  Frame frames_[kCapacity];
};

struct MatchState {
  std::vector<Stack> stacks;  // empty: nothing more can be accepted
  bool operator==(const MatchState&) const = default;
  // The bytes of every frame: the key of the token-mask cache.
  std::string key() const;
};

class Matcher {
 public:
  explicit Matcher(const Grammar& grammar);  // `grammar` must outlive the matcher

  const MatchState& initial() const { return initial_; }
  // The state after `byte`; empty when `byte` cannot continue `from`.
  void step(const MatchState& from, uint8_t byte, MatchState& to) const;
  // Whether `byte` leaves `state` exactly as it is (a plain character inside a string with no
  // length bounds): the trie walk then goes on from the same state without a copy. False when
  // unsure; step() is always right.
  bool keeps(const MatchState& state, uint8_t byte) const;
  // Whether `state` is one reading whose top is inside a string without length bounds or a
  // name check: such strings all accept the same bytes, so which tokens stay inside depends on
  // the string frame alone (`string_key`), not on what encloses it.
  bool in_plain_string(const MatchState& state) const;
  // Whether `byte` closes the string on top of `state` (an unescaped '"').
  bool closes_string(const MatchState& state, uint8_t byte) const;
  // The string frame's position as bytes (node and counters left out); in_plain_string only.
  std::string string_key(const MatchState& state) const;
  // Whether the bytes that led to `state` are a whole document.
  bool complete(const MatchState& state) const;

  const Grammar& grammar() const { return g_; }

 private:
  void feed(Stack s, uint8_t b, std::vector<Stack>& out) const;
  void push_value(Stack s, uint32_t node, uint8_t b, std::vector<Stack>& out) const;
  void object_byte(Stack s, uint8_t b, std::vector<Stack>& out) const;
  void array_byte(Stack s, uint8_t b, std::vector<Stack>& out) const;
  void start_keys(const Stack& s, std::vector<Stack>& out) const;
  bool whitespace(Frame& f, uint8_t b) const;
  void child_done(Stack& s) const;

  const Grammar& g_;
  MatchState initial_;
};

// Convenience over Matcher for tests and validation: follows one byte string.
class MatchCursor {
 public:
  explicit MatchCursor(const Matcher& m) : m_(&m), state_(m.initial()) {}
  bool advance(std::string_view bytes);  // false (and the state unchanged) if refused
  bool complete() const { return m_->complete(state_); }
  const MatchState& state() const { return state_; }

 private:
  const Matcher* m_;
  MatchState state_, scratch_;
};

}  // namespace dsv3::structured
