#include "structured/schema_validator.h"

#include <cmath>

namespace dsv3::structured {

using json = nlohmann::ordered_json;

namespace {

// Code points of a UTF-8 string (what minLength / maxLength count).
size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

bool has_type(const json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "number") return v.is_number();
  if (type == "integer") {
    return v.is_number_integer() ||
           (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  }
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  return false;
}

class Validator {
 public:
  explicit Validator(const json& root) : root_(root) {}

  std::string check(const json& v, const json& s, const std::string& at) const {
    if (s.is_boolean()) return s.get<bool>() ? "" : at + ": the schema is false";
    if (s.contains("$ref")) {
      const std::string ref = s["$ref"].get<std::string>();
      return check(v, root_[json::json_pointer(ref.substr(1))], at);
    }
    if (s.contains("const") && v != s["const"]) return at + ": not the const " + s["const"].dump();
    if (s.contains("enum")) {
      bool found = false;
      for (const json& e : s["enum"]) found = found || v == e;
      if (!found) return at + ": " + v.dump() + " is not in the enum";
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      bool any = false;
      for (const json& alt : s[key]) any = any || check(v, alt, at).empty();
      if (!any) return at + ": matches none of " + key;
    }
    if (s.contains("type")) {
      const json& t = s["type"];
      bool ok = false;
      if (t.is_string()) {
        ok = has_type(v, t.get<std::string>());
      } else {
        for (const json& one : t) ok = ok || has_type(v, one.get<std::string>());
      }
      if (!ok) return at + ": " + v.dump() + " is not of type " + t.dump();
    }
    if (v.is_object()) return check_object(v, s, at);
    if (v.is_array()) return check_array(v, s, at);
    if (v.is_string()) {
      const size_t n = code_points(v.get<std::string>());
      if (s.contains("minLength") && n < s["minLength"].get<size_t>()) return at + ": too short";
      if (s.contains("maxLength") && n > s["maxLength"].get<size_t>()) return at + ": too long";
    }
    return "";
  }

 private:
  std::string check_object(const json& v, const json& s, const std::string& at) const {
    const json props = s.value("properties", json::object());
    for (const json& name : s.value("required", json::array())) {
      if (!v.contains(name.get<std::string>())) return at + ": lacks required " + name.dump();
    }
    for (const auto& [key, value] : v.items()) {
      const std::string here = at + "/" + key;
      if (props.contains(key)) {
        if (std::string e = check(value, props[key], here); !e.empty()) return e;
      } else if (s.contains("additionalProperties")) {
        if (std::string e = check(value, s["additionalProperties"], here); !e.empty()) return e;
      }
    }
    return "";
  }

  std::string check_array(const json& v, const json& s, const std::string& at) const {
    if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return at + ": too few items";
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return at + ": too many items";
    if (s.contains("items")) {
      for (size_t i = 0; i < v.size(); ++i) {
        if (std::string e = check(v[i], s["items"], at + "/" + std::to_string(i)); !e.empty()) return e;
      }
    }
    return "";
  }

  const json& root_;
};

}  // namespace

std::string schema_violation(const json& value, const json& schema) {
  return Validator(schema).check(value, schema, "");
}

}  // namespace dsv3::structured
