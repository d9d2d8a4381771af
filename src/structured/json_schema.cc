// JSON Schema -> Grammar. The subset OpenAI's strict structured outputs use, plus a little
// more: type (and type lists), properties, required, additionalProperties, enum, const, items,
// minItems / maxItems, minLength / maxLength, anyOf, oneOf (as anyOf), $ref to $defs or
// definitions. Every other keyword that constrains values is refused by name, so a schema is
// never silently weakened; annotations (title, description, ...) are ignored.
#include <map>
#include <set>

#include "structured/grammar.h"

namespace dsv3::structured {

using json = nlohmann::ordered_json;

uint32_t name_hash(std::string_view bytes, uint32_t h) {
  for (unsigned char c : bytes) h = (h ^ c) * 16777619u;
  return h;
}

namespace {

const std::set<std::string>& annotation_keywords() {
  static const std::set<std::string> k = {"title",    "description", "$schema",  "$id",
                                          "$comment", "default",     "examples", "deprecated",
                                          "readOnly", "writeOnly",   "$defs",    "definitions",
                                          "strict",   "name"};
  return k;
}

const std::set<std::string>& value_keywords() {
  static const std::set<std::string> k = {
      "type",     "properties", "required",  "additionalProperties", "enum",
      "const",    "items",      "minItems",  "maxItems",             "minLength",
      "maxLength", "anyOf",     "oneOf",     "$ref"};
  return k;
}

class SchemaCompiler {
 public:
  SchemaCompiler(const json& root, const GrammarLimits& limits) : root_(root) {
    grammar_.limits = limits;
  }

  Result<Grammar> run() {
    const GrammarLimits& l = grammar_.limits;
    if (l.max_depth < 1 || l.max_depth > 30 || l.max_whitespace < 0 || l.max_whitespace > 255 ||
        l.max_number_bytes < 1) {
      return Err("grammar limits out of range: max_depth ", l.max_depth, " (1..30), max_whitespace ",
                 l.max_whitespace, " (0..255), max_number_bytes ", l.max_number_bytes, " (>= 1)");
    }
    DSV3_ASSIGN_OR_RETURN(grammar_.root, compile(root_, ""));
    return std::move(grammar_);
  }

 private:
  uint32_t add(Node n) {
    grammar_.nodes.push_back(std::move(n));
    return uint32_t(grammar_.nodes.size() - 1);
  }
  uint32_t literal(std::string bytes) {
    auto it = literals_.find(bytes);
    if (it != literals_.end()) return it->second;
    const uint32_t id = add(Node{.kind = NodeKind::kLiteral, .literal = bytes});
    literals_.emplace(std::move(bytes), id);
    return id;
  }
  static Error bad(const std::string& path, const std::string& what) {
    return Err("json schema at '", path.empty() ? "#" : "#" + path, "': ", what);
  }

  uint32_t any_value();
  Result<uint32_t> compile(const json& s, const std::string& path);
  Result<uint32_t> compile_ref(const json& s, const std::string& path);
  Result<uint32_t> compile_type(const json& s, const std::string& type, const std::string& path);
  Result<uint32_t> compile_object(const json& s, const std::string& path);
  Result<uint32_t> compile_array(const json& s, const std::string& path);
  Result<uint32_t> compile_string(const json& s, const std::string& path);
  Result<uint32_t> compile_anyof(const json& list, const std::string& key, const std::string& path);
  Status read_count(const json& s, const char* key, uint32_t fallback, const std::string& path,
                    uint32_t& out);

  const json& root_;
  Grammar grammar_;
  std::map<std::string, uint32_t> literals_;
  std::map<std::string, uint32_t> refs_;  // "#/$defs/X" -> its node (set before compiling X)
  int64_t any_ = -1;
};

// Any JSON value: object (any keys), array (any items), string, number, true, false, null.
uint32_t SchemaCompiler::any_value() {
  if (any_ >= 0) return uint32_t(any_);
  const uint32_t any = add(Node{.kind = NodeKind::kAnyOf});
  any_ = any;
  const uint32_t key = add(Node{.kind = NodeKind::kString});
  const uint32_t object = add(Node{.kind = NodeKind::kObject, .extra_key = key, .extra_value = any});
  const uint32_t array = add(Node{.kind = NodeKind::kArray, .items = any});
  const uint32_t string = add(Node{.kind = NodeKind::kString});
  const uint32_t number = add(Node{.kind = NodeKind::kNumber});
  std::vector<uint32_t> alternatives = {object, array, string, number, literal("true"),
                                        literal("false"), literal("null")};
  grammar_.nodes[any].alternatives = std::move(alternatives);  // (literal() may grow nodes)
  return any;
}

Result<uint32_t> SchemaCompiler::compile(const json& s, const std::string& path) {
  if (s.is_boolean()) {
    if (s.get<bool>()) return any_value();
    return bad(path, "the schema 'false' accepts nothing");
  }
  if (!s.is_object()) return bad(path, "a schema must be an object or a boolean, got " + s.dump());
  for (const auto& [key, value] : s.items()) {
    if (!value_keywords().count(key) && !annotation_keywords().count(key)) {
      return bad(path, "\"" + key + "\" is not supported");
    }
  }
  if (s.contains("$ref")) return compile_ref(s, path);
  if (s.contains("const")) return literal(s["const"].dump());
  if (s.contains("enum")) {
    const json& e = s["enum"];
    if (!e.is_array() || e.empty()) return bad(path + "/enum", "\"enum\" must be a non-empty array");
    Node n{.kind = NodeKind::kAnyOf};
    std::set<std::string> seen;
    for (const json& v : e) {
      if (seen.insert(v.dump()).second) n.alternatives.push_back(literal(v.dump()));
    }
    return add(std::move(n));
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    if (s.contains(key)) return compile_anyof(s[key], key, path);
  }
  if (s.contains("type")) {
    const json& t = s["type"];
    if (t.is_string()) return compile_type(s, t.get<std::string>(), path);
    if (!t.is_array() || t.empty()) {
      return bad(path + "/type", "\"type\" must be a type name or a non-empty array of them");
    }
    Node n{.kind = NodeKind::kAnyOf};
    for (const json& one : t) {
      if (!one.is_string()) return bad(path + "/type", "\"type\" lists " + one.dump());
      DSV3_ASSIGN_OR_RETURN(uint32_t alt, compile_type(s, one.get<std::string>(), path));
      n.alternatives.push_back(alt);
    }
    return add(std::move(n));
  }
  // No type: what the keywords describe, else any value.
  if (s.contains("properties") || s.contains("required") || s.contains("additionalProperties")) {
    return compile_object(s, path);
  }
  if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) {
    return compile_array(s, path);
  }
  if (s.contains("minLength") || s.contains("maxLength")) return compile_string(s, path);
  return any_value();
}

Result<uint32_t> SchemaCompiler::compile_ref(const json& s, const std::string& path) {
  const json& ref = s["$ref"];
  if (!ref.is_string()) return bad(path + "/$ref", "\"$ref\" must be a string");
  const std::string name = ref.get<std::string>();
  for (const auto& [key, value] : s.items()) {
    if (key != "$ref" && value_keywords().count(key)) {
      return bad(path, "\"" + key + "\" beside \"$ref\" is not supported");
    }
  }
  if (auto it = refs_.find(name); it != refs_.end()) return it->second;
  std::string pointer;
  for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
    if (name.rfind(prefix, 0) == 0) pointer = name.substr(1);
  }
  if (pointer.empty() || pointer.find('/', pointer.find('/', 1) + 1) != std::string::npos) {
    return bad(path + "/$ref", "\"$ref\": \"" + name +
                                   "\" is not supported (only \"#/$defs/NAME\" and "
                                   "\"#/definitions/NAME\")");
  }
  const json::json_pointer ptr(pointer);
  if (!root_.contains(ptr)) return bad(path + "/$ref", "\"$ref\": \"" + name + "\" is not defined");
  // The node exists before its schema is compiled, so a recursive reference finds it.
  const uint32_t id = add(Node{.kind = NodeKind::kAnyOf});
  refs_[name] = id;
  DSV3_ASSIGN_OR_RETURN(uint32_t target, compile(root_[ptr], pointer));
  grammar_.nodes[id].alternatives = {target};
  return id;
}

Result<uint32_t> SchemaCompiler::compile_anyof(const json& list, const std::string& key,
                                               const std::string& path) {
  if (!list.is_array() || list.empty()) {
    return bad(path + "/" + key, "\"" + key + "\" must be a non-empty array of schemas");
  }
  Node n{.kind = NodeKind::kAnyOf};
  for (size_t i = 0; i < list.size(); ++i) {
    DSV3_ASSIGN_OR_RETURN(uint32_t alt, compile(list[i], path + "/" + key + "/" + std::to_string(i)));
    n.alternatives.push_back(alt);
  }
  return add(std::move(n));
}

Result<uint32_t> SchemaCompiler::compile_type(const json& s, const std::string& type,
                                              const std::string& path) {
  if (type == "object") return compile_object(s, path);
  if (type == "array") return compile_array(s, path);
  if (type == "string") return compile_string(s, path);
  if (type == "number") return add(Node{.kind = NodeKind::kNumber});
  if (type == "integer") return add(Node{.kind = NodeKind::kInteger});
  if (type == "boolean") {
    return add(Node{.kind = NodeKind::kAnyOf, .alternatives = {literal("true"), literal("false")}});
  }
  if (type == "null") return literal("null");
  return bad(path + "/type", "unknown type \"" + type +
                                 "\" (expected object, array, string, number, integer, boolean "
                                 "or null)");
}

Status SchemaCompiler::read_count(const json& s, const char* key, uint32_t fallback,
                                  const std::string& path, uint32_t& out) {
  out = fallback;
  if (!s.contains(key)) return OkStatus();
  const json& v = s[key];
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 1000000) {
    return bad(path + "/" + key, std::string("\"") + key + "\" must be an integer in 0..1000000, got " +
                                     v.dump());
  }
  out = uint32_t(v.get<int64_t>());
  return OkStatus();
}

Result<uint32_t> SchemaCompiler::compile_object(const json& s, const std::string& path) {
  Node n{.kind = NodeKind::kObject};
  std::set<std::string> required;
  if (s.contains("required")) {
    const json& r = s["required"];
    if (!r.is_array()) return bad(path + "/required", "\"required\" must be an array of names");
    for (const json& name : r) {
      if (!name.is_string()) return bad(path + "/required", "\"required\" lists " + name.dump());
      required.insert(name.get<std::string>());
    }
  }
  if (s.contains("properties")) {
    const json& props = s["properties"];
    if (!props.is_object()) return bad(path + "/properties", "\"properties\" must be an object");
    for (const auto& [name, schema] : props.items()) {
      DSV3_ASSIGN_OR_RETURN(uint32_t value, compile(schema, path + "/properties/" + name));
      n.properties.push_back(Property{.name = name,
                                      .key = literal(json(name).dump()),
                                      .value = value,
                                      .required = required.count(name) > 0});
      n.excluded_hashes.push_back(name_hash(name));
    }
  }
  for (const std::string& name : required) {
    bool found = false;
    for (const Property& p : n.properties) found = found || p.name == name;
    if (!found) {
      return bad(path + "/required", "\"required\" names \"" + name +
                                         "\", which is not in \"properties\" (not supported)");
    }
  }
  const json extra = s.value("additionalProperties", json(true));
  if (!(extra.is_boolean() && !extra.get<bool>())) {
    DSV3_ASSIGN_OR_RETURN(uint32_t value, compile(extra, path + "/additionalProperties"));
    n.extra_value = value;
    n.extra_key = add(Node{.kind = NodeKind::kString, .excluded_hashes = n.excluded_hashes});
  }
  n.excluded_hashes.clear();
  return add(std::move(n));
}

Result<uint32_t> SchemaCompiler::compile_array(const json& s, const std::string& path) {
  Node n{.kind = NodeKind::kArray};
  DSV3_TRY(read_count(s, "minItems", 0, path, n.min_items));
  DSV3_TRY(read_count(s, "maxItems", kUnbounded, path, n.max_items));
  if (n.min_items > n.max_items) return bad(path, "\"minItems\" is larger than \"maxItems\"");
  if (s.contains("items")) {
    if (s["items"].is_array()) return bad(path + "/items", "\"items\" as an array (tuples) is not supported");
    DSV3_ASSIGN_OR_RETURN(n.items, compile(s["items"], path + "/items"));
  } else {
    n.items = any_value();
  }
  return add(std::move(n));
}

Result<uint32_t> SchemaCompiler::compile_string(const json& s, const std::string& path) {
  Node n{.kind = NodeKind::kString};
  DSV3_TRY(read_count(s, "minLength", 0, path, n.min_length));
  DSV3_TRY(read_count(s, "maxLength", kUnbounded, path, n.max_length));
  if (n.min_length > n.max_length) return bad(path, "\"minLength\" is larger than \"maxLength\"");
  return add(std::move(n));
}

}  // namespace

Grammar json_object_grammar(const GrammarLimits& limits) {
  json schema = {{"type", "object"}};
  Result<Grammar> g = compile_json_schema(schema, limits);
  DSV3_CHECK(g.ok(), "the json_object grammar: %s", g.error().message.c_str());
  return std::move(g).value();
}

Result<Grammar> compile_json_schema(const json& schema, const GrammarLimits& limits) {
  return SchemaCompiler(schema, limits).run();
}

}  // namespace dsv3::structured
