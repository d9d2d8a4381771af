#include "template/value.h"

#include <algorithm>

#include "template/py_text.h"

namespace dsv3::jinja {

namespace {

int deepest(const std::vector<Value>& items) {
  int d = 0;
  for (const Value& v : items) d = std::max(d, v.nesting());
  return d;
}

int deepest(const Dict& dict) {
  int d = 0;
  for (const auto& [k, v] : dict.entries) d = std::max({d, k.nesting(), v.nesting()});
  return d;
}

}  // namespace

Value Value::list(std::vector<Value> items) {
  const int depth = 1 + deepest(items);
  return Value(std::make_shared<const List>(List{std::move(items), false, depth}));
}

Value Value::tuple(std::vector<Value> items) {
  const int depth = 1 + deepest(items);
  return Value(std::make_shared<const List>(List{std::move(items), true, depth}));
}

Value Value::dict(Dict dict) {
  dict.depth = 1 + deepest(dict);
  return Value(std::make_shared<const Dict>(std::move(dict)));
}

Value Value::name_space(Dict attributes) {
  attributes.depth = 1 + deepest(attributes);
  const int depth = attributes.depth;
  return Value(std::make_shared<Namespace>(Namespace{std::move(attributes), depth}));
}

int Value::nesting() const {
  switch (kind()) {
    case Kind::kList:
      return as_list().depth;
    case Kind::kDict:
      return as_dict().depth;
    case Kind::kNamespace:
      return as_namespace().depth;
    default:
      return 0;
  }
}

Value Value::callable(std::string name, std::function<Result<Value>(const CallArgs&)> call) {
  return Value(std::make_shared<const Callable>(Callable{std::move(name), std::move(call)}));
}

int64_t Value::as_int() const { return is_bool() ? (as_bool() ? 1 : 0) : std::get<int64_t>(v_); }

double Value::as_float() const {
  return is_float() ? std::get<double>(v_) : static_cast<double>(as_int());
}

const Value* Dict::find(const Value& key) const {
  for (const auto& [k, v] : entries) {
    if (equals(k, key)) return &v;
  }
  return nullptr;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k.is_string() && k.as_string() == key) return &v;
  }
  return nullptr;
}

void Dict::set(Value key, Value value) {
  for (auto& [k, v] : entries) {
    if (equals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return v.as_bool();
    case Value::Kind::kInt:
      return v.as_int() != 0;
    case Value::Kind::kFloat:
      return v.as_float() != 0.0;
    case Value::Kind::kString:
      return !v.as_string().empty();
    case Value::Kind::kList:
      return !v.as_list().items.empty();
    case Value::Kind::kDict:
      return !v.as_dict().entries.empty();
    case Value::Kind::kNamespace:
    case Value::Kind::kCallable:
      return true;
  }
  return false;
}

namespace {

// Printing recurses through containers; a namespace can hold itself, so cap the depth.
constexpr int kMaxPrintDepth = 64;

std::string repr_at(const Value& v, int depth);

std::string repr_dict_body(const Dict& d, int depth) {
  std::string out = "{";
  for (size_t i = 0; i < d.entries.size(); ++i) {
    if (i > 0) out += ", ";
    out += repr_at(d.entries[i].first, depth + 1) + ": " + repr_at(d.entries[i].second, depth + 1);
  }
  return out + "}";
}

std::string repr_list(const List& l, int depth) {
  std::string out = l.is_tuple ? "(" : "[";
  for (size_t i = 0; i < l.items.size(); ++i) {
    if (i > 0) out += ", ";
    out += repr_at(l.items[i], depth + 1);
  }
  if (l.is_tuple && l.items.size() == 1) out += ",";
  return out + (l.is_tuple ? ")" : "]");
}

std::string str_at(const Value& v, int depth) {
  if (depth > kMaxPrintDepth) return "...";
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "";
    case Value::Kind::kNone:
      return "None";
    case Value::Kind::kBool:
      return v.as_bool() ? "True" : "False";
    case Value::Kind::kInt:
      return std::to_string(v.as_int());
    case Value::Kind::kFloat:
      return python_float_repr(v.as_float());
    case Value::Kind::kString:
      return v.as_string();
    case Value::Kind::kList:
      return repr_list(v.as_list(), depth);
    case Value::Kind::kDict:
      return repr_dict_body(v.as_dict(), depth);
    case Value::Kind::kNamespace:
      return "<Namespace " + repr_dict_body(v.as_namespace().attributes, depth) + ">";
    case Value::Kind::kCallable:
      return "<function " + v.as_callable().name + ">";
  }
  return "";
}

std::string repr_at(const Value& v, int depth) {
  if (v.is_string()) return python_string_repr(v.as_string());
  return str_at(v, depth);
}

bool dict_equals(const Dict& a, const Dict& b) {
  // Python dict equality ignores order.
  if (a.entries.size() != b.entries.size()) return false;
  for (const auto& [k, v] : a.entries) {
    const Value* other = b.find(k);
    if (other == nullptr || !equals(v, *other)) return false;
  }
  return true;
}

}  // namespace

std::string to_str(const Value& v) { return str_at(v, 0); }

std::string repr(const Value& v) { return repr_at(v, 0); }

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      return a.as_string() == b.as_string();
    case Value::Kind::kList: {
      const List& x = a.as_list();
      const List& y = b.as_list();
      if (x.is_tuple != y.is_tuple || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!equals(x.items[i], y.items[i])) return false;
      }
      return true;
    }
    case Value::Kind::kDict:
      return dict_equals(a.as_dict(), b.as_dict());
    case Value::Kind::kNamespace:
      return &a.as_namespace() == &b.as_namespace();
    case Value::Kind::kCallable:
      return &a.as_callable() == &b.as_callable();
    default:
      return false;  // numbers handled above
  }
}

std::string type_name(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "Undefined";
    case Value::Kind::kNone:
      return "NoneType";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kFloat:
      return "float";
    case Value::Kind::kString:
      return "str";
    case Value::Kind::kList:
      return v.as_list().is_tuple ? "tuple" : "list";
    case Value::Kind::kDict:
      return "dict";
    case Value::Kind::kNamespace:
      return "Namespace";
    case Value::Kind::kCallable:
      return "function";
  }
  return "object";
}

Error undefined_error(const Value& v) {
  const std::string& hint = v.undefined_hint();
  return Err(hint.empty() ? std::string("value is undefined") : hint);
}

}  // namespace dsv3::jinja
