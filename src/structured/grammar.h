// The language a constrained generation must stay inside: JSON values described by a graph of
// nodes compiled from a JSON Schema (or "any JSON object" for response_format json_object).
// Nodes refer to each other by index, so recursive $ref needs no special form; the matcher
// bounds how deep values nest instead.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/result.h"

namespace dsv3::structured {

inline constexpr uint32_t kUnbounded = std::numeric_limits<uint32_t>::max();

enum class NodeKind : uint8_t {
  kAnyOf,    // one of `alternatives` (type lists, enum, anyOf / oneOf, "any value")
  kLiteral,  // exactly the bytes of `literal` (true, false, null, const / enum values, keys)
  kString,   // a JSON string of min_length..max_length code points
  kNumber,   // a JSON number
  kInteger,  // -?(0|[1-9][0-9]*)
  kObject,   // properties in schema order, then maybe extra keys
  kArray,    // [items, ...] with min_items..max_items elements
};

struct Property {
  std::string name;
  uint32_t key = 0;    // a kLiteral node: the quoted key, `"name"`
  uint32_t value = 0;  // the value's node
  bool required = false;
};

struct Node {
  NodeKind kind = NodeKind::kAnyOf;
  std::vector<uint32_t> alternatives;                // kAnyOf
  std::string literal;                               // kLiteral
  uint32_t min_length = 0, max_length = kUnbounded;  // kString, in code points
  std::vector<uint32_t> excluded_hashes;  // kString used as an extra key: names it may not take
  std::vector<Property> properties;       // kObject
  int64_t extra_key = -1, extra_value = -1;  // kObject: nodes of extra keys and values; -1: none
  uint32_t items = 0, min_items = 0, max_items = kUnbounded;  // kArray
};

struct GrammarLimits {
  int max_depth = 24;       // deepest nesting of objects and arrays (bounds recursive $ref)
  int max_whitespace = 1;   // longest whitespace run wherever JSON allows whitespace
  int max_number_bytes = 32;  // longest number literal (keeps a model from looping on digits)
};

struct Grammar {
  std::vector<Node> nodes;
  uint32_t root = 0;
  GrammarLimits limits;
};

// FNV-1a over bytes: how extra keys are told apart from the schema's property names.
uint32_t name_hash(std::string_view bytes, uint32_t h = 2166136261u);

// response_format {"type": "json_object"}: any JSON object.
Grammar json_object_grammar(const GrammarLimits& limits = {});
// response_format {"type": "json_schema"}: the schema's language (properties in the order the
// schema lists them, hence ordered_json), or an error naming the
// unsupported keyword or bad value and where it is (a JSON pointer into the schema).
Result<Grammar> compile_json_schema(const nlohmann::ordered_json& schema, const GrammarLimits& limits = {});

}  // namespace dsv3::structured
