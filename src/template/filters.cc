// Filters follow jinja2/filters.py (3.1) argument for argument, including its quirks:
// "4.7"|int is 4, first of an empty list is Undefined, sort ignores case unless told not to.
#include "template/filters.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <utility>

#include "template/args.h"
#include "template/json_value.h"
#include "template/methods.h"
#include "template/operators.h"
#include "template/py_text.h"

namespace dsv3::jinja {

namespace {

using FilterTable = std::map<std::string, FilterFn, std::less<>>;

// Jinja2's make_attrgetter: "a.b.0" looks up a, then b, then index 0.
Result<Value> get_path(const Value& item, const Value& attribute) {
  if (!attribute.is_string()) return get_item(item, attribute);
  Value current = item;
  const std::string& path = attribute.as_string();
  for (const std::string& part : python_split(path, ".", -1, false)) {
    const bool is_index = !part.empty() && std::all_of(part.begin(), part.end(),
                                                       [](char c) { return c >= '0' && c <= '9'; });
    DSV3_ASSIGN_OR_RETURN(current, get_item(current, is_index ? Value::integer(std::stoll(part))
                                                              : Value::string(part)));
  }
  return current;
}

// Sort / unique / min / max key: the attribute if given, lower-cased strings unless case-sensitive.
Result<Value> sort_key(const Value& item, const Value& attribute, bool case_sensitive) {
  Value key = item;
  if (!attribute.is_undefined() && !attribute.is_none()) {
    DSV3_ASSIGN_OR_RETURN(key, get_path(item, attribute));
  }
  if (!case_sensitive && key.is_string()) return Value::string(ascii_lower(key.as_string()));
  return key;
}

// jinja2's do_title: capitalise each chunk between runs of whitespace and -({[< (unlike
// str.title, "it's" stays "It's").
std::string jinja_title(std::string_view s) {
  std::string out(s);
  bool word_start = true;
  for (char& c : out) {
    const bool separator = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || c == ' ' ||
                           (c >= '\t' && c <= '\r');
    if (separator) {
      word_start = true;
    } else if (word_start) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
      word_start = false;
    } else if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c + 32);
    }
  }
  return out;
}

Result<Value> items_filter_list(const Value& input) {
  DSV3_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  return Value::list(std::move(items));
}

Result<Value> filter_length(const Value& input, const CallArgs& call) {
  DSV3_TRY(BoundArgs::bind("filter 'length'", call, {}));
  DSV3_ASSIGN_OR_RETURN(int64_t n, length(input));
  return Value::integer(n);
}

Result<Value> filter_string(const Value& input, const CallArgs& call) {
  DSV3_TRY(BoundArgs::bind("filter 'string'", call, {}));
  return Value::string(to_str(input));
}

Result<Value> filter_safe(const Value& input, const CallArgs& call) {
  DSV3_TRY(BoundArgs::bind("filter 'safe'", call, {}));
  return input;  // there is no autoescaping, so marking text safe changes nothing
}

template <std::string (*Fn)(std::string_view)>
Result<Value> text_filter(const Value& input, const CallArgs& call) {
  DSV3_TRY(BoundArgs::bind("text filter", call, {}));
  return Value::string(Fn(to_str(input)));
}

Result<Value> filter_trim(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind("filter 'trim'", call, {"chars"}));
  const std::string s = to_str(input);
  if (args.given(0) && !args[0].is_none()) {
    DSV3_ASSIGN_OR_RETURN(std::string chars, string_arg(args, 0, "", "filter 'trim'"));
    return Value::string(std::string(strip_chars(s, chars, true, true)));
  }
  return Value::string(std::string(strip_space(s, true, true)));
}

Result<Value> filter_tojson(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                        BoundArgs::bind("filter 'tojson'", call,
                                        {"ensure_ascii", "indent", "separators", "sort_keys"}));
  JsonDumpOptions options;
  options.ensure_ascii = bool_arg(args, 0, false);
  if (args.given(1) && !args[1].is_none()) {
    if (args[1].is_integral()) {
      options.indent =
          std::string(static_cast<size_t>(std::max<int64_t>(args[1].as_int(), 0)), ' ');
    } else if (args[1].is_string()) {
      options.indent = args[1].as_string();
    } else {
      return Err("filter 'tojson': indent must be an int or a string, got ", type_name(args[1]));
    }
    options.item_separator = ",";  // json.dumps drops the space after ',' when indenting
  }
  if (args.given(2) && !args[2].is_none()) {
    const Value& sep = args[2];
    if (!sep.is_list() || sep.as_list().items.size() != 2 || !sep.as_list().items[0].is_string() ||
        !sep.as_list().items[1].is_string()) {
      return Err("filter 'tojson': separators must be a pair of strings");
    }
    options.item_separator = sep.as_list().items[0].as_string();
    options.key_separator = sep.as_list().items[1].as_string();
  }
  options.sort_keys = bool_arg(args, 3, false);
  DSV3_ASSIGN_OR_RETURN(std::string text, dump_json(input, options));
  return Value::string(std::move(text));
}

Result<Value> filter_first_last(const Value& input, const CallArgs& call, bool first) {
  DSV3_TRY(BoundArgs::bind(first ? "filter 'first'" : "filter 'last'", call, {}));
  DSV3_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  if (items.empty())
    return Value::undefined(first ? "No first item, sequence was empty."
                                  : "No last item, sequence was empty.");
  return first ? items.front() : items.back();
}

Result<Value> filter_join(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind("filter 'join'", call, {"d", "attribute"}));
  DSV3_ASSIGN_OR_RETURN(std::string sep, string_arg(args, 0, "", "filter 'join'"));
  DSV3_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    Value item = items[i];
    if (args.given(1) && !args[1].is_none()) {
      DSV3_ASSIGN_OR_RETURN(item, get_path(item, args[1]));
    }
    if (i > 0) out += sep;
    out += to_str(item);
  }
  return Value::string(std::move(out));
}

Result<Value> filter_default(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                        BoundArgs::bind("filter 'default'", call, {"default_value", "boolean"}));
  const bool use_default = input.is_undefined() || (bool_arg(args, 1, false) && !truthy(input));
  if (!use_default) return input;
  return args.given(0) ? args[0] : Value::string("");
}

Result<Value> filter_replace(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                        BoundArgs::bind("filter 'replace'", call, {"old", "new", "count"}));
  std::optional<Value> method = find_method(Value::string(to_str(input)), "replace");
  CallArgs forwarded;
  forwarded.positional = {Value::string(to_str(args[0])), Value::string(to_str(args[1]))};
  if (args.given(2) && !args[2].is_none()) forwarded.positional.push_back(args[2]);
  return method->as_callable().call(forwarded);
}

// Python's int(text, base): optional sign, base prefix, single underscores between digits.
std::optional<int64_t> parse_python_int(std::string_view text, int base) {
  std::string s(strip_space(text, true, true));
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.erase(0, 1);
  }
  if (s.size() > 2 && s[0] == '0') {
    const char p = static_cast<char>(s[1] | 0x20);
    const int prefixed = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefixed != 0 && (base == prefixed || base == 0)) {
      base = prefixed;
      s.erase(0, 2);
    }
  }
  if (base == 0) base = 10;
  if (s.empty() || s.front() == '_' || s.back() == '_' || s.find("__") != std::string::npos)
    return std::nullopt;
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, base);
  if (errno != 0 || end != s.c_str() + s.size() || s[0] == '+' || s[0] == '-' || s[0] == ' ')
    return std::nullopt;
  return negative ? -v : v;
}

// Python's float(text): decimal or exponent form, inf, nan; no hex.
std::optional<double> parse_python_float(std::string_view text) {
  std::string s(strip_space(text, true, true));
  if (s.empty() || s.find_first_of("xX") != std::string::npos) return std::nullopt;
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

Result<Value> filter_int(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind("filter 'int'", call, {"default", "base"}));
  DSV3_ASSIGN_OR_RETURN(int64_t base, int_arg(args, 1, 10, "filter 'int' base"));
  const Value fallback = args.given(0) ? args[0] : Value::integer(0);
  if (input.is_integral()) return Value::integer(input.as_int());
  if (input.is_float()) {
    if (!std::isfinite(input.as_float())) return fallback;
    return Value::integer(static_cast<int64_t>(input.as_float()));
  }
  if (!input.is_string()) return fallback;
  if (auto v = parse_python_int(input.as_string(), static_cast<int>(base)))
    return Value::integer(*v);
  // Jinja2's quirk: "42.23"|int is 42, via float.
  if (auto f = parse_python_float(input.as_string()); f && std::isfinite(*f)) {
    return Value::integer(static_cast<int64_t>(*f));
  }
  return fallback;
}

Result<Value> filter_float(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind("filter 'float'", call, {"default"}));
  const Value fallback = args.given(0) ? args[0] : Value::number(0.0);
  if (input.is_number()) return Value::number(input.as_float());
  if (input.is_string()) {
    if (auto f = parse_python_float(input.as_string())) return Value::number(*f);
  }
  return fallback;
}

Result<Value> filter_list(const Value& input, const CallArgs& call) {
  DSV3_TRY(BoundArgs::bind("filter 'list'", call, {}));
  return items_filter_list(input);
}

Result<Value> filter_items(const Value& input, const CallArgs& call) {
  DSV3_TRY(BoundArgs::bind("filter 'items'", call, {}));
  if (input.is_undefined()) return Value::list({});
  if (!input.is_dict()) return Err("filter 'items' expects a mapping, got ", type_name(input));
  std::vector<Value> out;
  for (const auto& [k, v] : input.as_dict().entries) out.push_back(Value::tuple({k, v}));
  return Value::list(std::move(out));
}

// select / reject / selectattr / rejectattr share this: keep items whose (attribute's) test
// result equals `keep`. With no test name, the test is truthiness.
Result<Value> select_items(const Value& input, const CallArgs& call, bool by_attribute, bool keep) {
  const size_t first_test_arg = by_attribute ? 2 : 1;
  if (by_attribute && call.positional.empty())
    return Err("selectattr/rejectattr need an attribute name");
  const Value test_name =
      call.positional.size() >= first_test_arg ? call.positional[first_test_arg - 1] : Value();
  PredicateFn test = nullptr;
  if (!test_name.is_undefined()) {
    if (!test_name.is_string())
      return Err("the test name must be a string, got ", type_name(test_name));
    test = find_predicate(test_name.as_string());
    if (test == nullptr) return Err("no test named '", test_name.as_string(), "'");
  }
  CallArgs test_args;
  for (size_t i = first_test_arg; i < call.positional.size(); ++i)
    test_args.positional.push_back(call.positional[i]);
  test_args.keyword = call.keyword;
  DSV3_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  std::vector<Value> out;
  for (const Value& item : items) {
    Value subject = item;
    if (by_attribute) {
      DSV3_ASSIGN_OR_RETURN(subject, get_path(item, call.positional[0]));
    }
    bool passed = truthy(subject);
    if (test != nullptr) {
      DSV3_ASSIGN_OR_RETURN(passed, test(subject, test_args));
    }
    if (passed == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Result<Value> filter_map(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  std::vector<Value> out;
  if (call.positional.empty()) {  // map(attribute='x', default=...)
    DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                          BoundArgs::bind("filter 'map'", call, {"attribute", "default"}));
    if (!args.given(0)) return Err("filter 'map' needs a filter name or attribute=");
    for (const Value& item : items) {
      DSV3_ASSIGN_OR_RETURN(Value v, get_path(item, args[0]));
      out.push_back(v.is_undefined() && args.given(1) ? args[1] : v);
    }
    return Value::list(std::move(out));
  }
  if (!call.positional[0].is_string()) return Err("filter 'map' expects a filter name");
  FilterFn filter = find_filter(call.positional[0].as_string());
  if (filter == nullptr) return Err("no filter named '", call.positional[0].as_string(), "'");
  CallArgs rest{std::vector<Value>(call.positional.begin() + 1, call.positional.end()),
                call.keyword};
  for (const Value& item : items) {
    DSV3_ASSIGN_OR_RETURN(Value v, filter(item, rest));
    out.push_back(std::move(v));
  }
  return Value::list(std::move(out));
}

Result<std::vector<Value>> sorted(std::vector<Value> items, const Value& attribute,
                                  bool case_sensitive, bool reverse) {
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& item : items) {
    DSV3_ASSIGN_OR_RETURN(Value key, sort_key(item, attribute, case_sensitive));
    keyed.emplace_back(std::move(key), std::move(item));
  }
  std::optional<Error> failure;
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    Result<bool> lt = reverse ? less_than(b.first, a.first) : less_than(a.first, b.first);
    if (!lt.ok() && !failure) failure = lt.error();
    return lt.ok() && *lt;
  });
  if (failure) return *failure;
  std::vector<Value> out;
  for (auto& [key, item] : keyed) out.push_back(std::move(item));
  return out;
}

Result<Value> filter_sort(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(
      BoundArgs args,
      BoundArgs::bind("filter 'sort'", call, {"reverse", "case_sensitive", "attribute"}));
  DSV3_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  DSV3_ASSIGN_OR_RETURN(
      items, sorted(std::move(items), args[2], bool_arg(args, 1, false), bool_arg(args, 0, false)));
  return Value::list(std::move(items));
}

Result<Value> filter_dictsort(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind("filter 'dictsort'", call,
                                                        {"case_sensitive", "by", "reverse"}));
  if (!input.is_dict()) return Err("filter 'dictsort' expects a mapping, got ", type_name(input));
  DSV3_ASSIGN_OR_RETURN(std::string by, string_arg(args, 1, "key", "filter 'dictsort'"));
  if (by != "key" && by != "value") return Err("filter 'dictsort': by must be 'key' or 'value'");
  std::vector<Value> pairs;
  for (const auto& [k, v] : input.as_dict().entries) pairs.push_back(Value::tuple({k, v}));
  DSV3_ASSIGN_OR_RETURN(pairs, sorted(std::move(pairs), Value::integer(by == "key" ? 0 : 1),
                                      bool_arg(args, 0, false), bool_arg(args, 2, false)));
  return Value::list(std::move(pairs));
}

Result<Value> filter_unique(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                        BoundArgs::bind("filter 'unique'", call, {"case_sensitive", "attribute"}));
  DSV3_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  std::vector<Value> seen, out;
  for (const Value& item : items) {
    DSV3_ASSIGN_OR_RETURN(Value key, sort_key(item, args[1], bool_arg(args, 0, false)));
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); }))
      continue;
    seen.push_back(key);
    out.push_back(item);
  }
  return Value::list(std::move(out));
}

Result<Value> filter_min_max(const Value& input, const CallArgs& call, bool want_max) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind(want_max ? "filter 'max'" : "filter 'min'",
                                                        call, {"case_sensitive", "attribute"}));
  DSV3_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  if (items.empty())
    return Value::undefined(want_max ? "No aggregated item, sequence was empty."
                                     : "No aggregated item, sequence was empty.");
  DSV3_ASSIGN_OR_RETURN(items, sorted(std::move(items), args[1], bool_arg(args, 0, false), false));
  return want_max ? items.back() : items.front();
}

Result<Value> filter_sum(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                        BoundArgs::bind("filter 'sum'", call, {"attribute", "start"}));
  DSV3_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  Value total = args.given(1) ? args[1] : Value::integer(0);
  for (const Value& item : items) {
    Value v = item;
    if (args.given(0) && !args[0].is_none()) {
      DSV3_ASSIGN_OR_RETURN(v, get_path(item, args[0]));
    }
    DSV3_ASSIGN_OR_RETURN(total, binary_op("+", total, v));
  }
  return total;
}

Result<Value> filter_reverse(const Value& input, const CallArgs& call) {
  DSV3_TRY(BoundArgs::bind("filter 'reverse'", call, {}));
  DSV3_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  std::reverse(items.begin(), items.end());
  if (!input.is_string()) return Value::list(std::move(items));
  std::string out;
  for (const Value& c : items) out += c.as_string();
  return Value::string(std::move(out));
}

Result<Value> filter_abs(const Value& input, const CallArgs& call) {
  DSV3_TRY(BoundArgs::bind("filter 'abs'", call, {}));
  if (input.is_float()) return Value::number(std::fabs(input.as_float()));
  if (input.is_integral()) return Value::integer(std::llabs(input.as_int()));
  return Err("bad operand type for abs(): '", type_name(input), "'");
}

Result<Value> filter_round(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                        BoundArgs::bind("filter 'round'", call, {"precision", "method"}));
  DSV3_ASSIGN_OR_RETURN(int64_t precision, int_arg(args, 0, 0, "filter 'round' precision"));
  DSV3_ASSIGN_OR_RETURN(std::string method, string_arg(args, 1, "common", "filter 'round' method"));
  if (!input.is_number()) return Err("filter 'round' expects a number, got ", type_name(input));
  if (input.is_integral() && method == "common") return Value::integer(input.as_int());
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = input.as_float();
  if (method == "floor") return Value::number(std::floor(x * scale) / scale);
  if (method == "ceil") return Value::number(std::ceil(x * scale) / scale);
  if (method != "common") return Err("filter 'round': method must be 'common', 'ceil' or 'floor'");
  // Python's round() rounds the exact binary value, ties to even; printf does the same.
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(std::clamp<int64_t>(precision, 0, 300)),
                x);
  return Value::number(std::strtod(buf, nullptr));
}

// jinja2's do_indent: indents every line but the first (unless first=True), skipping blank
// lines unless blank=True.
Result<Value> filter_indent(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                        BoundArgs::bind("filter 'indent'", call, {"width", "first", "blank"}));
  std::string pad = "    ";
  if (args.given(0)) {
    if (args[0].is_string()) {
      pad = args[0].as_string();
    } else {
      DSV3_ASSIGN_OR_RETURN(int64_t width, int_arg(args, 0, 4, "filter 'indent' width"));
      pad = std::string(static_cast<size_t>(std::max<int64_t>(width, 0)), ' ');
    }
  }
  std::vector<std::string> lines;
  const std::string s = to_str(input) + "\n";
  for (size_t start = 0, nl; (nl = s.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(s.substr(start, nl - start));
  }
  std::string out = lines.empty() ? "" : lines[0];
  for (size_t i = 1; i < lines.size(); ++i) {
    out += "\n";
    if (bool_arg(args, 2, false) || !lines[i].empty()) out += pad;
    out += lines[i];
  }
  if (bool_arg(args, 1, false)) out = pad + out;
  return Value::string(std::move(out));
}

Result<Value> filter_escape(const Value& input, const CallArgs& call) {
  DSV3_TRY(BoundArgs::bind("filter 'escape'", call, {}));
  std::string out;
  for (char c : to_str(input)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return Value::string(std::move(out));
}

Result<Value> filter_wordcount(const Value& input, const CallArgs& call) {
  DSV3_TRY(BoundArgs::bind("filter 'wordcount'", call, {}));
  int64_t words = 0;
  bool in_word = false;
  for (char c : to_str(input)) {
    const bool word_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '_' ||
                           (static_cast<unsigned char>(c) >= 0x80);
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return Value::integer(words);
}

Result<Value> filter_format(const Value& input, const CallArgs& call) {
  if (!call.keyword.empty()) return Err("filter 'format' with keyword arguments is not supported");
  return binary_op("%", Value::string(to_str(input)), Value::tuple(call.positional));
}

Result<Value> filter_attr(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind("filter 'attr'", call, {"name"}));
  DSV3_ASSIGN_OR_RETURN(std::string name, string_arg(args, 0, "", "filter 'attr'"));
  // Python getattr only: methods and namespace attributes, never dict keys.
  if (std::optional<Value> method = find_method(input, name)) return *method;
  if (input.is_namespace()) {
    if (const Value* v = input.as_namespace().attributes.find(name)) return *v;
  }
  return Value::undefined("'" + type_name(input) + " object' has no attribute '" + name + "'");
}

Result<Value> filter_batch(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args,
                        BoundArgs::bind("filter 'batch'", call, {"linecount", "fill_with"}));
  DSV3_ASSIGN_OR_RETURN(int64_t size, int_arg(args, 0, 1, "filter 'batch' linecount"));
  if (size <= 0) return Err("filter 'batch': linecount must be positive");
  DSV3_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  std::vector<Value> out, batch;
  for (const Value& item : items) {
    batch.push_back(item);
    if (static_cast<int64_t>(batch.size()) == size)
      out.push_back(Value::list(std::exchange(batch, {})));
  }
  if (!batch.empty()) {
    while (args.given(1) && static_cast<int64_t>(batch.size()) < size) batch.push_back(args[1]);
    out.push_back(Value::list(std::move(batch)));
  }
  return Value::list(std::move(out));
}

Result<Value> filter_center(const Value& input, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind("filter 'center'", call, {"width"}));
  DSV3_ASSIGN_OR_RETURN(int64_t width, int_arg(args, 0, 80, "filter 'center' width"));
  const std::string s = to_str(input);
  const int64_t n = static_cast<int64_t>(utf8_length(s));
  if (width <= n) return Value::string(s);
  // Python's str.center puts the odd extra space on the left when the string length is odd.
  const int64_t total = width - n;
  const int64_t left = total / 2 + (total & width & 1);
  return Value::string(std::string(static_cast<size_t>(left), ' ') + s +
                       std::string(static_cast<size_t>(total - left), ' '));
}

const FilterTable& filters() {
  static const FilterTable table = {
      {"abs", filter_abs},
      {"attr", filter_attr},
      {"batch", filter_batch},
      {"capitalize", text_filter<capitalize>},
      {"center", filter_center},
      {"count", filter_length},
      {"d", filter_default},
      {"default", filter_default},
      {"dictsort", filter_dictsort},
      {"e", filter_escape},
      {"escape", filter_escape},
      {"first", [](const Value& v, const CallArgs& a) { return filter_first_last(v, a, true); }},
      {"float", filter_float},
      {"format", filter_format},
      {"indent", filter_indent},
      {"int", filter_int},
      {"items", filter_items},
      {"join", filter_join},
      {"last", [](const Value& v, const CallArgs& a) { return filter_first_last(v, a, false); }},
      {"length", filter_length},
      {"list", filter_list},
      {"lower", text_filter<ascii_lower>},
      {"map", filter_map},
      {"max", [](const Value& v, const CallArgs& a) { return filter_min_max(v, a, true); }},
      {"min", [](const Value& v, const CallArgs& a) { return filter_min_max(v, a, false); }},
      {"reject",
       [](const Value& v, const CallArgs& a) { return select_items(v, a, false, false); }},
      {"rejectattr",
       [](const Value& v, const CallArgs& a) { return select_items(v, a, true, false); }},
      {"replace", filter_replace},
      {"reverse", filter_reverse},
      {"round", filter_round},
      {"safe", filter_safe},
      {"select", [](const Value& v, const CallArgs& a) { return select_items(v, a, false, true); }},
      {"selectattr",
       [](const Value& v, const CallArgs& a) { return select_items(v, a, true, true); }},
      {"sort", filter_sort},
      {"string", filter_string},
      {"sum", filter_sum},
      {"title", text_filter<jinja_title>},
      {"tojson", filter_tojson},
      {"trim", filter_trim},
      {"unique", filter_unique},
      {"upper", text_filter<ascii_upper>},
      {"wordcount", filter_wordcount},
  };
  return table;
}

}  // namespace

FilterFn find_filter(std::string_view name) {
  auto it = filters().find(name);
  return it == filters().end() ? nullptr : it->second;
}

}  // namespace dsv3::jinja
