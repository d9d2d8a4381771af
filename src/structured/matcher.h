// A byte-level pushdown matcher over a Grammar: it accepts exactly the byte strings that are
// prefixes of a document of the grammar's language. Where the grammar allows several readings
// (anyOf, optional properties, keys that share a prefix) it follows all of them at once: the
// state is a set of stacks, and a byte keeps the stacks that accept it.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "structured/grammar.h"

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

using Stack = std::vector<Frame>;

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
