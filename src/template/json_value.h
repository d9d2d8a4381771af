// Conversions between JSON and template values: the render context comes in as JSON, and
// the tojson filter writes JSON exactly as Python's json.dumps does (transformers' tojson).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "template/value.h"
#include "util/result.h"

namespace dsv3::jinja {

// null -> None, objects -> dicts in the JSON object's key order, unsigned -> int.
Value from_json(const nlohmann::ordered_json& json);

struct JsonDumpOptions {
  bool ensure_ascii = false;  // transformers' default, unlike Python's
  // None: one line with ", " and ": "; otherwise newlines, indented by this string per level.
  std::optional<std::string> indent;
  std::string item_separator = ", ";  // Python switches to "," when indent is set
  std::string key_separator = ": ";
  bool sort_keys = false;
};

// json.dumps(value, ...). Fails for Undefined, namespaces and callables, like Python's
// "Object of type ... is not JSON serializable".
Result<std::string> dump_json(const Value& value, const JsonDumpOptions& options);

}  // namespace dsv3::jinja
