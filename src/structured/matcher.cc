#include "structured/matcher.h"

#include <algorithm>
#include <cstring>

namespace dsv3::structured {

namespace {

// The bottom of every stack: before the document's value, then after it.
constexpr uint32_t kRootNode = 0xffffffffu;
enum RootState : uint8_t { kRootBefore, kRootDone };

enum ObjectState : uint8_t {
  kObjOpen,          // expects '{'
  kObjKeyOrClose,    // after '{'
  kObjInKey,         // a key is being read (child frame)
  kObjColon,         // after a key
  kObjValueStart,    // after ':'
  kObjInValue,       // a value is being read (child frame)
  kObjCommaOrClose,  // after a value
  kObjKey,           // after ','
};
constexpr uint32_t kExtraProperty = 0xffffffffu;  // Frame::value while reading an extra key

enum ArrayState : uint8_t { kArrOpen, kArrFirst, kArrInValue, kArrCommaOrClose, kArrItem };

enum StringState : uint8_t {
  kStrOpen,          // expects '"'
  kStrChars,         // inside
  kStrEscape,        // after '\'
  kStrHex,           // \uXXXX: `pending` digits read, `value` their number
  kStrUtf8,          // `pending` continuation bytes to come; `value` = lo | hi << 8 of the next
  kStrLowBackslash,  // after a high surrogate: expects '\'
  kStrLowU,          // expects 'u'
  kStrLowHex,        // the low surrogate's digits
};

enum NumberState : uint8_t {
  kNumStart, kNumMinus, kNumZero, kNumInt, kNumDot, kNumFrac, kNumExp, kNumExpSign, kNumExpDigits
};

bool number_can_end(uint8_t state) {
  return state == kNumZero || state == kNumInt || state == kNumFrac || state == kNumExpDigits;
}
bool is_ws(uint8_t b) { return b == ' ' || b == '\n' || b == '\t' || b == '\r'; }
bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }
int hex_value(uint8_t b) {
  if (b >= '0' && b <= '9') return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}

uint32_t hash_code_point(uint32_t h, uint32_t cp) {
  char buf[4];
  size_t n = 0;
  if (cp < 0x80) {
    buf[n++] = char(cp);
  } else if (cp < 0x800) {
    buf[n++] = char(0xc0 | (cp >> 6));
    buf[n++] = char(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    buf[n++] = char(0xe0 | (cp >> 12));
    buf[n++] = char(0x80 | ((cp >> 6) & 0x3f));
    buf[n++] = char(0x80 | (cp & 0x3f));
  } else {
    buf[n++] = char(0xf0 | (cp >> 18));
    buf[n++] = char(0x80 | ((cp >> 12) & 0x3f));
    buf[n++] = char(0x80 | ((cp >> 6) & 0x3f));
    buf[n++] = char(0x80 | (cp & 0x3f));
  }
  return name_hash(std::string_view(buf, n), h);
}

enum class StrResult { kRefuse, kMore, kDone };

// One byte of a string. Code points are counted only where the schema bounds the length, and
// the name hashed only for extra keys, so that other strings' states repeat (the mask cache).
StrResult string_byte(const Node& n, Frame& f, uint8_t b) {
  const bool counted = n.min_length > 0 || n.max_length != kUnbounded;
  const bool hashed = !n.excluded_hashes.empty();
  auto new_char = [&] {
    if (!counted) return true;
    if (f.count >= n.max_length) return false;
    ++f.count;
    return true;
  };
  switch (f.state) {
    case kStrOpen:
      if (b != '"') return StrResult::kRefuse;
      f.state = kStrChars;
      return StrResult::kMore;
    case kStrChars:
      if (b == '"') {
        if (f.count < n.min_length) return StrResult::kRefuse;
        if (hashed && std::find(n.excluded_hashes.begin(), n.excluded_hashes.end(), f.hash) !=
                          n.excluded_hashes.end()) {
          return StrResult::kRefuse;  // an extra key may not repeat a property's name
        }
        return StrResult::kDone;
      }
      if (b == '\\') {
        if (!new_char()) return StrResult::kRefuse;
        f.state = kStrEscape;
        return StrResult::kMore;
      }
      if (b < 0x20) return StrResult::kRefuse;  // control characters must be escaped
      if (b < 0x80) {
        if (!new_char()) return StrResult::kRefuse;
        if (hashed) f.hash = name_hash(std::string_view(reinterpret_cast<const char*>(&b), 1), f.hash);
        return StrResult::kMore;
      }
      {  // the lead byte of a UTF-8 sequence: what the next byte may be (RFC 3629 table 3-7)
        uint32_t lo = 0x80, hi = 0xbf, more = 0;
        if (b >= 0xc2 && b <= 0xdf) {
          more = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
          more = 2;
          if (b == 0xe0) lo = 0xa0;
          if (b == 0xed) hi = 0x9f;  // no UTF-16 surrogates
        } else if (b >= 0xf0 && b <= 0xf4) {
          more = 3;
          if (b == 0xf0) lo = 0x90;
          if (b == 0xf4) hi = 0x8f;
        } else {
          return StrResult::kRefuse;
        }
        if (!new_char()) return StrResult::kRefuse;
        if (hashed) f.hash = name_hash(std::string_view(reinterpret_cast<const char*>(&b), 1), f.hash);
        f.state = kStrUtf8;
        f.pending = uint16_t(more);
        f.value = lo | hi << 8;
        return StrResult::kMore;
      }
    case kStrUtf8:
      if (b < (f.value & 0xff) || b > (f.value >> 8)) return StrResult::kRefuse;
      if (hashed) f.hash = name_hash(std::string_view(reinterpret_cast<const char*>(&b), 1), f.hash);
      f.value = 0x80 | 0xbf << 8;
      if (--f.pending == 0) {
        f.state = kStrChars;
        f.value = 0;
      }
      return StrResult::kMore;
    case kStrEscape: {
      static constexpr std::string_view kSimple = "\"\\/bfnrt";
      static constexpr std::string_view kDecoded = "\"\\/\b\f\n\r\t";
      if (b == 'u') {
        f.state = kStrHex;
        f.pending = 0;
        f.value = 0;
        return StrResult::kMore;
      }
      const size_t i = kSimple.find(char(b));
      if (i == std::string_view::npos) return StrResult::kRefuse;
      if (hashed) f.hash = name_hash(kDecoded.substr(i, 1), f.hash);
      f.state = kStrChars;
      return StrResult::kMore;
    }
    case kStrHex:
    case kStrLowHex: {
      const int d = hex_value(b);
      if (d < 0) return StrResult::kRefuse;
      // Only the low 16 bits take digits: a high surrogate may wait above them.
      f.value = (f.value & 0xffff0000u) | ((f.value & 0xffffu) * 16 + uint32_t(d));
      if (++f.pending < 4) return StrResult::kMore;
      const uint32_t unit = f.value & 0xffff;
      if (f.state == kStrHex) {
        if (unit >= 0xdc00 && unit <= 0xdfff) return StrResult::kRefuse;  // a lone low surrogate
        if (unit >= 0xd800 && unit <= 0xdbff) {  // a high surrogate: its pair must follow
          f.state = kStrLowBackslash;
          f.value = unit;
          return StrResult::kMore;
        }
        if (hashed) f.hash = hash_code_point(f.hash, unit);
      } else {
        if (unit < 0xdc00 || unit > 0xdfff) return StrResult::kRefuse;
        const uint32_t high = f.value >> 16;
        if (hashed) f.hash = hash_code_point(f.hash, 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00));
      }
      f.state = kStrChars;
      f.pending = 0;
      f.value = 0;
      return StrResult::kMore;
    }
    case kStrLowBackslash:
      if (b != '\\') return StrResult::kRefuse;
      f.state = kStrLowU;
      return StrResult::kMore;
    case kStrLowU:
      if (b != 'u') return StrResult::kRefuse;
      f.state = kStrLowHex;
      f.pending = 0;
      f.value <<= 16;  // the high surrogate moves up; the low one's digits come below it
      return StrResult::kMore;
  }
  return StrResult::kRefuse;
}

enum class NumResult { kRefuse, kMore, kEnded };

// One byte of a number; kEnded: the number ended before `b` (which belongs to the parent).
NumResult number_byte(bool integer, int max_bytes, Frame& f, uint8_t b) {
  auto to = [&](uint8_t state) {
    if (int(f.count) >= max_bytes) return NumResult::kRefuse;
    ++f.count;
    f.state = state;
    return NumResult::kMore;
  };
  const bool fraction_ok = !integer;
  switch (f.state) {
    case kNumStart:
      if (b == '-') return to(kNumMinus);
      [[fallthrough]];
    case kNumMinus:
      if (b == '0') return to(kNumZero);
      if (b >= '1' && b <= '9') return to(kNumInt);
      return NumResult::kRefuse;
    case kNumZero:
    case kNumInt:
      if (is_digit(b)) return f.state == kNumZero ? NumResult::kRefuse : to(kNumInt);
      if (b == '.' && fraction_ok) return to(kNumDot);
      if ((b == 'e' || b == 'E') && fraction_ok) return to(kNumExp);
      return NumResult::kEnded;
    case kNumDot:
      return is_digit(b) ? to(kNumFrac) : NumResult::kRefuse;
    case kNumFrac:
      if (is_digit(b)) return to(kNumFrac);
      if (b == 'e' || b == 'E') return to(kNumExp);
      return NumResult::kEnded;
    case kNumExp:
      if (b == '+' || b == '-') return to(kNumExpSign);
      [[fallthrough]];
    case kNumExpSign:
      return is_digit(b) ? to(kNumExpDigits) : NumResult::kRefuse;
    case kNumExpDigits:
      return is_digit(b) ? to(kNumExpDigits) : NumResult::kEnded;
  }
  return NumResult::kRefuse;
}

}  // namespace

std::string MatchState::key() const {
  std::string k;
  for (const Stack& s : stacks) {
    const uint32_t n = uint32_t(s.size());
    k.append(reinterpret_cast<const char*>(&n), sizeof n);
    k.append(reinterpret_cast<const char*>(s.data()), s.size() * sizeof(Frame));
  }
  return k;
}

Matcher::Matcher(const Grammar& grammar) : g_(grammar) {
  initial_.stacks.push_back(Stack{Frame{.node = kRootNode, .state = kRootBefore}});
}

void Matcher::step(const MatchState& from, uint8_t byte, MatchState& to) const {
  to.stacks.clear();
  for (const Stack& s : from.stacks) feed(s, byte, to.stacks);
  // Readings that have become the same are one.
  for (size_t i = 1; i < to.stacks.size();) {
    bool dup = false;
    for (size_t j = 0; j < i && !dup; ++j) dup = to.stacks[j] == to.stacks[i];
    if (dup) {
      to.stacks.erase(to.stacks.begin() + ptrdiff_t(i));
    } else {
      ++i;
    }
  }
}

bool Matcher::in_plain_string(const MatchState& state) const {
  if (state.stacks.size() != 1) return false;
  const Frame& f = state.stacks[0].back();
  if (f.node == kRootNode || f.state == kStrOpen) return false;
  const Node& n = g_.nodes[f.node];
  return n.kind == NodeKind::kString && n.min_length == 0 && n.max_length == kUnbounded &&
         n.excluded_hashes.empty();
}

bool Matcher::closes_string(const MatchState& state, uint8_t b) const {
  if (b != '"' || state.stacks.size() != 1) return false;
  const Frame& f = state.stacks[0].back();
  return f.node != kRootNode && f.state == kStrChars && g_.nodes[f.node].kind == NodeKind::kString;
}

std::string Matcher::string_key(const MatchState& state) const {
  const Frame& f = state.stacks[0].back();
  const Frame key{.state = f.state, .pending = f.pending, .value = f.value};
  return std::string(reinterpret_cast<const char*>(&key), sizeof key);
}

bool Matcher::keeps(const MatchState& state, uint8_t b) const {
  if (state.stacks.size() != 1 || b < 0x20 || b >= 0x80 || b == '"' || b == '\\') return false;
  const Frame& f = state.stacks[0].back();
  if (f.node == kRootNode || f.state != kStrChars) return false;
  const Node& n = g_.nodes[f.node];
  return n.kind == NodeKind::kString && n.min_length == 0 && n.max_length == kUnbounded &&
         n.excluded_hashes.empty();
}

bool Matcher::complete(const MatchState& state) const {
  for (const Stack& s : state.stacks) {
    if (s.size() == 1 && s[0].state == kRootDone) return true;
    if (s.size() == 2 && s[0].state == kRootBefore) {
      const NodeKind k = g_.nodes[s[1].node].kind;
      if ((k == NodeKind::kNumber || k == NodeKind::kInteger) && number_can_end(s[1].state)) return true;
    }
  }
  return false;
}

// A finished child: its parent moves on.
void Matcher::child_done(Stack& s) const {
  Frame& p = s.back();
  if (p.node == kRootNode) {
    p.state = kRootDone;
    return;
  }
  const NodeKind k = g_.nodes[p.node].kind;
  if (k == NodeKind::kObject) {
    p.state = p.state == kObjInKey ? kObjColon : kObjCommaOrClose;
  } else if (k == NodeKind::kArray) {
    p.state = kArrCommaOrClose;
    ++p.count;
  }
  p.ws = 0;
}

bool Matcher::whitespace(Frame& f, uint8_t b) const {
  if (!is_ws(b) || f.ws >= g_.limits.max_whitespace) return false;
  ++f.ws;
  return true;
}

void Matcher::feed(Stack s, uint8_t b, std::vector<Stack>& out) const {
  for (;;) {
    Frame& f = s.back();
    if (f.node == kRootNode) {
      if (f.state == kRootBefore && s.size() == 1) push_value(std::move(s), g_.root, b, out);
      return;
    }
    const Node& n = g_.nodes[f.node];
    switch (n.kind) {
      case NodeKind::kLiteral:
        if (f.count >= n.literal.size() || uint8_t(n.literal[f.count]) != b) return;
        if (++f.count == n.literal.size()) {
          s.pop_back();
          child_done(s);
        }
        out.push_back(std::move(s));
        return;
      case NodeKind::kString: {
        const StrResult r = string_byte(n, f, b);
        if (r == StrResult::kRefuse) return;
        if (r == StrResult::kDone) {
          s.pop_back();
          child_done(s);
        }
        out.push_back(std::move(s));
        return;
      }
      case NodeKind::kNumber:
      case NodeKind::kInteger: {
        const NumResult r =
            number_byte(n.kind == NodeKind::kInteger, g_.limits.max_number_bytes, f, b);
        if (r == NumResult::kRefuse) return;
        if (r == NumResult::kMore) {
          out.push_back(std::move(s));
          return;
        }
        s.pop_back();  // the number ended before b: b is the parent's
        child_done(s);
        continue;
      }
      case NodeKind::kObject:
        object_byte(std::move(s), b, out);
        return;
      case NodeKind::kArray:
        array_byte(std::move(s), b, out);
        return;
      case NodeKind::kAnyOf:
        return;  // never on a stack: push_value resolves it
    }
    return;
  }
}

// A value of `node` begins with byte b.
void Matcher::push_value(Stack s, uint32_t node, uint8_t b, std::vector<Stack>& out) const {
  const Node& n = g_.nodes[node];
  if (n.kind == NodeKind::kAnyOf) {
    for (size_t i = 0; i < n.alternatives.size(); ++i) {
      if (i + 1 == n.alternatives.size()) {
        push_value(std::move(s), n.alternatives[i], b, out);
      } else {
        push_value(s, n.alternatives[i], b, out);
      }
    }
    return;
  }
  const bool container = n.kind == NodeKind::kObject || n.kind == NodeKind::kArray;
  if (container) {
    int depth = 0;
    for (const Frame& f : s) {
      if (f.node != kRootNode) {
        const NodeKind k = g_.nodes[f.node].kind;
        depth += k == NodeKind::kObject || k == NodeKind::kArray;
      }
    }
    if (depth >= g_.limits.max_depth) return;  // bounds recursive schemas
  }
  s.push_back(Frame{.node = node});
  feed(std::move(s), b, out);
}

// The keys that may come next: the properties from the next one up to the first required one
// (schema order), and an extra key where the schema allows them. `s` has just read '"'.
void Matcher::start_keys(const Stack& s, std::vector<Stack>& out) const {
  const Frame& f = s.back();
  const Node& n = g_.nodes[f.node];
  // Each reading: the stack below, the object now reading a key, the key's frame.
  auto spawn = [&](uint32_t property, uint32_t next_property, const Frame& key) {
    Stack alt(s.begin(), s.end() - 1);  // the stack below the object
    Frame parent = f;
    parent.state = kObjInKey;
    parent.value = property;
    parent.count = next_property;
    parent.ws = 0;
    alt.push_back(parent);
    alt.push_back(key);
    out.push_back(std::move(alt));
  };
  for (size_t k = f.count; k < n.properties.size(); ++k) {
    spawn(uint32_t(k), uint32_t(k + 1), Frame{.node = n.properties[k].key, .count = 1});  // '"' read
    if (n.properties[k].required) break;
  }
  if (n.extra_key >= 0) {
    spawn(kExtraProperty, f.count,
          Frame{.node = uint32_t(n.extra_key), .state = kStrChars, .hash = 2166136261u});
  }
}

void Matcher::object_byte(Stack s, uint8_t b, std::vector<Stack>& out) const {
  Frame& f = s.back();
  const Node& n = g_.nodes[f.node];
  auto closable = [&] {
    for (size_t k = f.count; k < n.properties.size(); ++k) {
      if (n.properties[k].required) return false;
    }
    return true;
  };
  auto close = [&] {
    s.pop_back();
    child_done(s);
    out.push_back(std::move(s));
  };
  switch (f.state) {
    case kObjOpen:
      if (b != '{') return;
      f.state = kObjKeyOrClose;
      out.push_back(std::move(s));
      return;
    case kObjKeyOrClose:
    case kObjKey:
      if (whitespace(f, b)) {
        out.push_back(std::move(s));
      } else if (b == '}' && f.state == kObjKeyOrClose && closable()) {
        close();
      } else if (b == '"') {
        start_keys(s, out);
      }
      return;
    case kObjColon:
      if (whitespace(f, b)) {
        out.push_back(std::move(s));
      } else if (b == ':') {
        f.state = kObjValueStart;
        f.ws = 0;
        out.push_back(std::move(s));
      }
      return;
    case kObjValueStart: {
      if (whitespace(f, b)) {
        out.push_back(std::move(s));
        return;
      }
      const uint32_t value =
          f.value == kExtraProperty ? uint32_t(n.extra_value) : n.properties[f.value].value;
      f.state = kObjInValue;
      f.ws = 0;
      push_value(std::move(s), value, b, out);
      return;
    }
    case kObjCommaOrClose:
      if (whitespace(f, b)) {
        out.push_back(std::move(s));
      } else if (b == ',' && (f.count < n.properties.size() || n.extra_key >= 0)) {
        f.state = kObjKey;
        f.ws = 0;
        out.push_back(std::move(s));
      } else if (b == '}' && closable()) {
        close();
      }
      return;
    default:
      return;  // kObjInKey / kObjInValue: a child frame is on top
  }
}

void Matcher::array_byte(Stack s, uint8_t b, std::vector<Stack>& out) const {
  Frame& f = s.back();
  const Node& n = g_.nodes[f.node];
  auto close = [&] {
    s.pop_back();
    child_done(s);
    out.push_back(std::move(s));
  };
  switch (f.state) {
    case kArrOpen:
      if (b != '[') return;
      f.state = kArrFirst;
      out.push_back(std::move(s));
      return;
    case kArrFirst:
    case kArrItem:
      if (whitespace(f, b)) {
        out.push_back(std::move(s));
      } else if (b == ']' && f.state == kArrFirst && n.min_items == 0) {
        close();
      } else if (b != ']' && f.count < n.max_items) {
        f.state = kArrInValue;
        f.ws = 0;
        push_value(std::move(s), n.items, b, out);
      }
      return;
    case kArrCommaOrClose:
      if (whitespace(f, b)) {
        out.push_back(std::move(s));
      } else if (b == ',' && f.count < n.max_items) {
        f.state = kArrItem;
        f.ws = 0;
        out.push_back(std::move(s));
      } else if (b == ']' && f.count >= n.min_items) {
        close();
      }
      return;
    default:
      return;
  }
}

bool MatchCursor::advance(std::string_view bytes) {
  MatchState cur = state_;
  for (char c : bytes) {
    m_->step(cur, uint8_t(c), scratch_);
    if (scratch_.stacks.empty()) return false;
    std::swap(cur, scratch_);
  }
  state_ = std::move(cur);
  return true;
}

}  // namespace dsv3::structured
