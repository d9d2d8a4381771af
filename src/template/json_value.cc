#include "template/json_value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "template/py_text.h"

namespace dsv3::jinja {

Value from_json(const nlohmann::ordered_json& json) {
  using Type = nlohmann::ordered_json::value_t;
  switch (json.type()) {
    case Type::null:
    case Type::discarded:
      return Value::none();
    case Type::boolean:
      return Value::boolean(json.get<bool>());
    case Type::number_integer:
      return Value::integer(json.get<int64_t>());
    case Type::number_unsigned:
      return Value::integer(static_cast<int64_t>(json.get<uint64_t>()));
    case Type::number_float:
      return Value::number(json.get<double>());
    case Type::string:
      return Value::string(json.get<std::string>());
    case Type::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(from_json(item));
      return Value::list(std::move(items));
    }
    case Type::object: {
      Dict dict;
      dict.entries.reserve(json.size());
      for (const auto& [key, item] : json.items())
        dict.entries.emplace_back(Value::string(key), from_json(item));
      return Value::dict(std::move(dict));
    }
    case Type::binary:
      break;
  }
  return Value::none();
}

namespace {

void append_escaped(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (size_t pos = 0; pos < s.size();) {
    const uint32_t cp = next_code_point(s, &pos);
    char buf[16];
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (cp < 0x20 || (ensure_ascii && cp >= 0x7F)) {
      if (cp >= 0x10000) {  // UTF-16 surrogate pair, as json.dumps writes it
        const uint32_t v = cp - 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      }
      out += buf;
    } else {
      append_utf8(out, cp);
    }
  }
  out += '"';
}

std::string float_json(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return python_float_repr(d);
}

// json.dumps turns non-string keys into strings: 1 -> "1", True -> "true", None -> "null".
Result<std::string> key_text(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::kString:
      return key.as_string();
    case Value::Kind::kInt:
      return std::to_string(key.as_int());
    case Value::Kind::kBool:
      return std::string(key.as_bool() ? "true" : "false");
    case Value::Kind::kNone:
      return std::string("null");
    case Value::Kind::kFloat:
      return float_json(key.as_float());
    default:
      return Err("keys must be str, int, float, bool or None, not ", type_name(key));
  }
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonDumpOptions& options) : options_(options) {}

  Status write(const Value& v, int depth);
  std::string take() { return std::move(out_); }

 private:
  void newline(int depth) {
    if (!options_.indent) return;
    out_ += '\n';
    for (int i = 0; i < depth; ++i) out_ += *options_.indent;
  }
  Status write_list(const List& l, int depth);
  Status write_dict(const Dict& d, int depth);

  const JsonDumpOptions& options_;
  std::string out_;
};

Status JsonWriter::write_list(const List& l, int depth) {
  if (l.items.empty()) {
    out_ += "[]";
    return OkStatus();
  }
  out_ += '[';
  for (size_t i = 0; i < l.items.size(); ++i) {
    if (i > 0) out_ += options_.item_separator;
    newline(depth + 1);
    DSV3_TRY(write(l.items[i], depth + 1));
  }
  newline(depth);
  out_ += ']';
  return OkStatus();
}

Status JsonWriter::write_dict(const Dict& d, int depth) {
  if (d.entries.empty()) {
    out_ += "{}";
    return OkStatus();
  }
  std::vector<std::pair<std::string, const Value*>> entries;
  for (const auto& [k, v] : d.entries) {
    DSV3_ASSIGN_OR_RETURN(std::string key, key_text(k));
    entries.emplace_back(std::move(key), &v);
  }
  if (options_.sort_keys) {
    std::stable_sort(entries.begin(), entries.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  out_ += '{';
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out_ += options_.item_separator;
    newline(depth + 1);
    append_escaped(out_, entries[i].first, options_.ensure_ascii);
    out_ += options_.key_separator;
    DSV3_TRY(write(*entries[i].second, depth + 1));
  }
  newline(depth);
  out_ += '}';
  return OkStatus();
}

Status JsonWriter::write(const Value& v, int depth) {
  if (depth > 256) return Err("value is nested too deeply to convert to JSON");
  switch (v.kind()) {
    case Value::Kind::kNone:
      out_ += "null";
      break;
    case Value::Kind::kBool:
      out_ += v.as_bool() ? "true" : "false";
      break;
    case Value::Kind::kInt:
      out_ += std::to_string(v.as_int());
      break;
    case Value::Kind::kFloat:
      out_ += float_json(v.as_float());
      break;
    case Value::Kind::kString:
      append_escaped(out_, v.as_string(), options_.ensure_ascii);
      break;
    case Value::Kind::kList:
      return write_list(v.as_list(), depth);
    case Value::Kind::kDict:
      return write_dict(v.as_dict(), depth);
    default:
      return Err("Object of type ", type_name(v), " is not JSON serializable");
  }
  return OkStatus();
}

}  // namespace

Result<std::string> dump_json(const Value& value, const JsonDumpOptions& options) {
  JsonWriter writer(options);
  DSV3_TRY(writer.write(value, 0));
  return writer.take();
}

}  // namespace dsv3::jinja
