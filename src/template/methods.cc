#include "template/methods.h"

#include <algorithm>
#include <map>

#include "template/args.h"
#include "template/operators.h"
#include "template/py_text.h"

namespace dsv3::jinja {

namespace {

using Method = Result<Value> (*)(const Value& self, const CallArgs& args);
using MethodTable = std::map<std::string, Method, std::less<>>;

std::string method_name(const Value& self, std::string_view name) {
  return "method '" + type_name(self) + "." + std::string(name) + "'";
}

// Code point index of a byte offset (str.find reports code points, not bytes).
int64_t code_point_index(const std::string& s, size_t byte_offset) {
  return static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, byte_offset)));
}

Result<Value> string_list(std::vector<std::string> parts) {
  std::vector<Value> items;
  for (std::string& p : parts) items.push_back(Value::string(std::move(p)));
  return Value::list(std::move(items));
}

// startswith / endswith accept one string or a tuple of them.
Result<Value> affix_test(const Value& self, const CallArgs& call, bool at_start) {
  DSV3_ASSIGN_OR_RETURN(
      BoundArgs args,
      BoundArgs::bind(method_name(self, at_start ? "startswith" : "endswith"), call, {"affix"}));
  std::vector<Value> options;
  if (args[0].is_list()) {
    options = args[0].as_list().items;
  } else {
    options.push_back(args[0]);
  }
  const std::string& s = self.as_string();
  for (const Value& o : options) {
    if (!o.is_string())
      return Err("startswith/endswith argument must be str or a tuple of str, not ", type_name(o));
    const std::string& a = o.as_string();
    const bool hit =
        a.size() <= s.size() && (at_start ? s.compare(0, a.size(), a) == 0
                                          : s.compare(s.size() - a.size(), a.size(), a) == 0);
    if (hit) return Value::boolean(true);
  }
  return Value::boolean(false);
}

Result<Value> strip_method(const Value& self, const CallArgs& call, bool left, bool right) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                        BoundArgs::bind(method_name(self, "strip"), call, {"chars"}));
  if (args.given(0) && !args[0].is_none()) {
    if (!args[0].is_string()) return Err("strip arg must be None or str");
    return Value::string(
        std::string(strip_chars(self.as_string(), args[0].as_string(), left, right)));
  }
  return Value::string(std::string(strip_space(self.as_string(), left, right)));
}

Result<Value> split_method(const Value& self, const CallArgs& call, bool from_right) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                        BoundArgs::bind(method_name(self, from_right ? "rsplit" : "split"), call,
                                        {"sep", "maxsplit"}));
  DSV3_ASSIGN_OR_RETURN(int64_t maxsplit, int_arg(args, 1, -1, "split maxsplit"));
  std::string sep;
  if (args.given(0) && !args[0].is_none()) {
    if (!args[0].is_string()) return Err("must be str or None, not ", type_name(args[0]));
    sep = args[0].as_string();
    if (sep.empty()) return Err("empty separator");
  }
  return string_list(python_split(self.as_string(), sep, maxsplit, from_right));
}

Result<Value> replace_method(const Value& self, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(
      BoundArgs args, BoundArgs::bind(method_name(self, "replace"), call, {"old", "new", "count"}));
  if (!args[0].is_string() || !args[1].is_string()) return Err("replace() arguments must be str");
  DSV3_ASSIGN_OR_RETURN(int64_t count, int_arg(args, 2, -1, "replace count"));
  const std::string& s = self.as_string();
  const std::string& old_text = args[0].as_string();
  const std::string& new_text = args[1].as_string();
  std::string out;
  if (old_text.empty()) {  // Python inserts `new` around every character
    std::vector<size_t> offsets = utf8_offsets(s);
    for (size_t i = 0; i < offsets.size(); ++i) {
      if (count < 0 || static_cast<int64_t>(i) < count) out += new_text;
      if (i + 1 < offsets.size()) out += s.substr(offsets[i], offsets[i + 1] - offsets[i]);
    }
    return Value::string(std::move(out));
  }
  size_t start = 0;
  for (int64_t done = 0; count < 0 || done < count; ++done) {
    const size_t hit = s.find(old_text, start);
    if (hit == std::string::npos) break;
    out += s.substr(start, hit - start) + new_text;
    start = hit + old_text.size();
  }
  out += s.substr(start);
  return Value::string(std::move(out));
}

Result<Value> find_method_impl(const Value& self, const CallArgs& call, bool reverse,
                               bool must_exist) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind(method_name(self, "find"), call, {"sub"}));
  if (!args[0].is_string()) return Err("find() argument must be str, not ", type_name(args[0]));
  const std::string& s = self.as_string();
  const size_t hit = reverse ? s.rfind(args[0].as_string()) : s.find(args[0].as_string());
  if (hit == std::string::npos) {
    if (must_exist) return Err("substring not found");
    return Value::integer(-1);
  }
  return Value::integer(code_point_index(s, hit));
}

Result<Value> count_method(const Value& self, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind(method_name(self, "count"), call, {"x"}));
  int64_t n = 0;
  if (self.is_string()) {
    if (!args[0].is_string()) return Err("must be str, not ", type_name(args[0]));
    const std::string& s = self.as_string();
    const std::string& sub = args[0].as_string();
    if (sub.empty()) return Value::integer(static_cast<int64_t>(utf8_length(s)) + 1);
    for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
    return Value::integer(n);
  }
  for (const Value& v : self.as_list().items) n += equals(v, args[0]) ? 1 : 0;
  return Value::integer(n);
}

Result<Value> join_method(const Value& self, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                        BoundArgs::bind(method_name(self, "join"), call, {"iterable"}));
  DSV3_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(args[0]));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string()) {
      return Err("sequence item ", i, ": expected str instance, ", type_name(items[i]), " found");
    }
    if (i > 0) out += self.as_string();
    out += items[i].as_string();
  }
  return Value::string(std::move(out));
}

// str.isdigit() and friends over code points; non-ASCII letters count as letters.
template <typename Pred>
Result<Value> char_class(const Value& self, const CallArgs& call, Pred pred) {
  DSV3_TRY(BoundArgs::bind(method_name(self, "is..."), call, {}));
  const std::string& s = self.as_string();
  if (s.empty()) return Value::boolean(false);
  for (size_t pos = 0; pos < s.size();) {
    if (!pred(next_code_point(s, &pos))) return Value::boolean(false);
  }
  return Value::boolean(true);
}

bool is_digit_cp(uint32_t c) { return c >= '0' && c <= '9'; }
bool is_alpha_cp(uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= 0x80 && !is_python_space(c));
}

Result<Value> case_check(const Value& self, const CallArgs& call, bool upper) {
  DSV3_TRY(BoundArgs::bind(method_name(self, upper ? "isupper" : "islower"), call, {}));
  bool cased = false;
  for (char c : self.as_string()) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      cased = true;
      if (upper != (c >= 'A' && c <= 'Z')) return Value::boolean(false);
    }
  }
  return Value::boolean(cased);
}

Result<Value> splitlines_method(const Value& self, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                        BoundArgs::bind(method_name(self, "splitlines"), call, {"keepends"}));
  const bool keep = bool_arg(args, 0, false);
  const std::string& s = self.as_string();
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\n' && s[i] != '\r') continue;
    const size_t end = i;
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
    lines.push_back(s.substr(start, (keep ? i + 1 : end) - start));
    start = i + 1;
  }
  if (start < s.size()) lines.push_back(s.substr(start));
  return string_list(std::move(lines));
}

Result<Value> affix_remove(const Value& self, const CallArgs& call, bool prefix) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                        BoundArgs::bind(method_name(self, prefix ? "removeprefix" : "removesuffix"),
                                        call, {"affix"}));
  if (!args[0].is_string()) return Err("removeprefix/removesuffix argument must be str");
  const std::string& s = self.as_string();
  const std::string& a = args[0].as_string();
  if (a.size() > s.size()) return self;
  if (prefix && s.compare(0, a.size(), a) == 0) return Value::string(s.substr(a.size()));
  if (!prefix && s.compare(s.size() - a.size(), a.size(), a) == 0)
    return Value::string(s.substr(0, s.size() - a.size()));
  return self;
}

Result<Value> no_arg_string(const Value& self, const CallArgs& call,
                            std::string (*fn)(std::string_view)) {
  DSV3_TRY(BoundArgs::bind(method_name(self, "method"), call, {}));
  return Value::string(fn(self.as_string()));
}

const MethodTable& string_methods() {
  static const MethodTable table = {
      {"startswith", [](const Value& s, const CallArgs& a) { return affix_test(s, a, true); }},
      {"endswith", [](const Value& s, const CallArgs& a) { return affix_test(s, a, false); }},
      {"strip", [](const Value& s, const CallArgs& a) { return strip_method(s, a, true, true); }},
      {"lstrip", [](const Value& s, const CallArgs& a) { return strip_method(s, a, true, false); }},
      {"rstrip", [](const Value& s, const CallArgs& a) { return strip_method(s, a, false, true); }},
      {"split", [](const Value& s, const CallArgs& a) { return split_method(s, a, false); }},
      {"rsplit", [](const Value& s, const CallArgs& a) { return split_method(s, a, true); }},
      {"replace", replace_method},
      {"find",
       [](const Value& s, const CallArgs& a) { return find_method_impl(s, a, false, false); }},
      {"rfind",
       [](const Value& s, const CallArgs& a) { return find_method_impl(s, a, true, false); }},
      {"index",
       [](const Value& s, const CallArgs& a) { return find_method_impl(s, a, false, true); }},
      {"rindex",
       [](const Value& s, const CallArgs& a) { return find_method_impl(s, a, true, true); }},
      {"count", count_method},
      {"join", join_method},
      {"upper", [](const Value& s, const CallArgs& a) { return no_arg_string(s, a, ascii_upper); }},
      {"lower", [](const Value& s, const CallArgs& a) { return no_arg_string(s, a, ascii_lower); }},
      {"title",
       [](const Value& s, const CallArgs& a) { return no_arg_string(s, a, python_title); }},
      {"capitalize",
       [](const Value& s, const CallArgs& a) { return no_arg_string(s, a, capitalize); }},
      {"format", [](const Value& s, const CallArgs& a) { return python_format(s.as_string(), a); }},
      {"splitlines", splitlines_method},
      {"removeprefix", [](const Value& s, const CallArgs& a) { return affix_remove(s, a, true); }},
      {"removesuffix", [](const Value& s, const CallArgs& a) { return affix_remove(s, a, false); }},
      {"isdigit", [](const Value& s, const CallArgs& a) { return char_class(s, a, is_digit_cp); }},
      {"isalpha", [](const Value& s, const CallArgs& a) { return char_class(s, a, is_alpha_cp); }},
      {"isalnum",
       [](const Value& s, const CallArgs& a) {
         return char_class(s, a, [](uint32_t c) { return is_alpha_cp(c) || is_digit_cp(c); });
       }},
      {"isspace",
       [](const Value& s, const CallArgs& a) { return char_class(s, a, is_python_space); }},
      {"isupper", [](const Value& s, const CallArgs& a) { return case_check(s, a, true); }},
      {"islower", [](const Value& s, const CallArgs& a) { return case_check(s, a, false); }},
  };
  return table;
}

Result<Value> dict_get(const Value& self, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                        BoundArgs::bind(method_name(self, "get"), call, {"key", "default"}));
  if (const Value* v = self.as_dict().find(args[0])) return *v;
  return args.given(1) ? args[1] : Value::none();
}

Result<Value> dict_view(const Value& self, const CallArgs& call, int which) {
  DSV3_TRY(BoundArgs::bind(method_name(self, which == 0   ? "keys"
                                             : which == 1 ? "values"
                                                          : "items"),
                           call, {}));
  std::vector<Value> out;
  for (const auto& [k, v] : self.as_dict().entries) {
    out.push_back(which == 0 ? k : which == 1 ? v : Value::tuple({k, v}));
  }
  return Value::list(std::move(out));
}

const MethodTable& dict_methods() {
  static const MethodTable table = {
      {"get", dict_get},
      {"keys", [](const Value& s, const CallArgs& a) { return dict_view(s, a, 0); }},
      {"values", [](const Value& s, const CallArgs& a) { return dict_view(s, a, 1); }},
      {"items", [](const Value& s, const CallArgs& a) { return dict_view(s, a, 2); }},
      {"copy", [](const Value& s, const CallArgs&) -> Result<Value> { return s; }},
  };
  return table;
}

Result<Value> list_index(const Value& self, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind(method_name(self, "index"), call, {"x"}));
  const auto& items = self.as_list().items;
  for (size_t i = 0; i < items.size(); ++i) {
    if (equals(items[i], args[0])) return Value::integer(static_cast<int64_t>(i));
  }
  return Err(repr(args[0]), " is not in list");
}

const MethodTable& list_methods() {
  static const MethodTable table = {{"index", list_index}, {"count", count_method}};
  return table;
}

bool is_mutating(const Value& obj, std::string_view name) {
  static const std::vector<std::string_view> list_ops = {"append", "extend",  "insert", "pop",
                                                         "remove", "reverse", "sort",   "clear"};
  static const std::vector<std::string_view> dict_ops = {"pop", "popitem", "setdefault", "update",
                                                         "clear"};
  const auto& ops = obj.is_list() ? list_ops : dict_ops;
  return (obj.is_list() || obj.is_dict()) && std::find(ops.begin(), ops.end(), name) != ops.end();
}

}  // namespace

std::optional<Value> find_method(const Value& obj, const std::string& name) {
  if (is_mutating(obj, name)) {
    std::string message = "access to attribute '" + name + "' of '" + type_name(obj) +
                          "' object is unsafe (templates cannot modify lists or dicts)";
    return Value::callable(name,
                           [message](const CallArgs&) -> Result<Value> { return Err(message); });
  }
  const MethodTable* table = obj.is_string() ? &string_methods()
                             : obj.is_dict() ? &dict_methods()
                             : obj.is_list() ? &list_methods()
                                             : nullptr;
  if (table == nullptr) return std::nullopt;
  auto it = table->find(name);
  if (it == table->end()) return std::nullopt;
  Method method = it->second;
  return Value::callable(name, [obj, method](const CallArgs& args) { return method(obj, args); });
}

namespace {

// The value for one replacement field name: "" (next positional), "0", or a keyword.
Result<Value> format_field(const std::string& field, const CallArgs& args, size_t* next_auto) {
  if (field.empty()) {
    if (*next_auto >= args.positional.size())
      return Err("Replacement index ", *next_auto, " out of range");
    return args.positional[(*next_auto)++];
  }
  if (std::all_of(field.begin(), field.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    const size_t i = std::stoul(field);
    if (i >= args.positional.size()) return Err("Replacement index ", i, " out of range");
    return args.positional[i];
  }
  for (const auto& [name, value] : args.keyword) {
    if (name == field) return value;
  }
  return Err("format field '", field, "' was not given");
}

}  // namespace

Result<Value> python_format(const std::string& fmt, const CallArgs& args) {
  std::string out;
  size_t next_auto = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if ((c == '{' || c == '}') && i + 1 < fmt.size() && fmt[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c == '}') return Err("Single '}' encountered in format string");
    if (c != '{') {
      out += c;
      continue;
    }
    const size_t close = fmt.find('}', i);
    if (close == std::string::npos) return Err("Single '{' encountered in format string");
    const std::string field = fmt.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!.[") != std::string::npos) {
      return Err("str.format field '{", field,
                 "}' uses a format spec or attribute, which is not supported");
    }
    DSV3_ASSIGN_OR_RETURN(Value v, format_field(field, args, &next_auto));
    out += to_str(v);
    i = close;
  }
  return Value::string(std::move(out));
}

}  // namespace dsv3::jinja
