#include "template/operators.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>

#include "template/methods.h"
#include "template/py_text.h"

namespace dsv3::jinja {

namespace {

Error unsupported(std::string_view op, const Value& a, const Value& b) {
  return Err("unsupported operand type(s) for ", std::string(op), ": '", type_name(a), "' and '",
             type_name(b), "'");
}

Result<Value> checked_int(bool overflowed, int64_t value) {
  if (overflowed) return Err("integer overflow (values are limited to 64 bits)");
  return Value::integer(value);
}

Result<Value> repeat(const Value& seq, int64_t times) {
  const int64_t n = std::max<int64_t>(times, 0);
  if (seq.is_string()) {
    // RenderLimits' output cap (64 MB) by default: larger would fail at the evaluator anyway,
    // after allocating it.
    if (n > 0 && seq.as_string().size() * static_cast<uint64_t>(n) > (1u << 26)) {
      return Err("string repetition result is too large");
    }
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.as_string();
    return Value::string(std::move(out));
  }
  const List& l = seq.as_list();
  if (n > 0 && l.items.size() * static_cast<uint64_t>(n) > (1u << 24))
    return Err("list repetition result is too large");
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), l.items.begin(), l.items.end());
  return l.is_tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

Result<Value> add(const Value& a, const Value& b) {
  if (a.is_integral() && b.is_integral()) {
    int64_t r = 0;
    const bool overflowed = __builtin_add_overflow(a.as_int(), b.as_int(), &r);
    return checked_int(overflowed, r);
  }
  if (a.is_number() && b.is_number()) return Value::number(a.as_float() + b.as_float());
  if (a.is_string() && b.is_string()) return Value::string(a.as_string() + b.as_string());
  if (a.is_list() && b.is_list() && a.as_list().is_tuple == b.as_list().is_tuple) {
    std::vector<Value> items = a.as_list().items;
    items.insert(items.end(), b.as_list().items.begin(), b.as_list().items.end());
    return a.as_list().is_tuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
  }
  if (a.is_string()) return Err("can only concatenate str (not \"", type_name(b), "\") to str");
  return unsupported("+", a, b);
}

Result<Value> multiply(const Value& a, const Value& b) {
  if (a.is_integral() && b.is_integral()) {
    int64_t r = 0;
    const bool overflowed = __builtin_mul_overflow(a.as_int(), b.as_int(), &r);
    return checked_int(overflowed, r);
  }
  if (a.is_number() && b.is_number()) return Value::number(a.as_float() * b.as_float());
  if ((a.is_string() || a.is_list()) && b.is_integral()) return repeat(a, b.as_int());
  if (a.is_integral() && (b.is_string() || b.is_list())) return repeat(b, a.as_int());
  return unsupported("*", a, b);
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

Result<Value> divide(std::string_view op, const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number()) return unsupported(op, a, b);
  const bool ints = a.is_integral() && b.is_integral();
  if (op == "/") {
    if (b.as_float() == 0) return Err("division by zero");
    return Value::number(a.as_float() / b.as_float());
  }
  if (ints) {
    if (b.as_int() == 0) return Err("integer division or modulo by zero");
    if (b.as_int() == -1 && a.as_int() == INT64_MIN)
      return Err("integer overflow (values are limited to 64 bits)");
    const int64_t q = floor_div(a.as_int(), b.as_int());
    return Value::integer(op == "//" ? q : a.as_int() - q * b.as_int());
  }
  const double x = a.as_float(), y = b.as_float();
  if (y == 0) return Err("float division by zero");
  const double q = std::floor(x / y);
  if (op == "//") return Value::number(q);
  double r = std::fmod(x, y);
  if (r != 0 && ((r < 0) != (y < 0))) r += y;  // Python's modulo takes the divisor's sign
  return Value::number(r);
}

Result<Value> power(const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number()) return unsupported("**", a, b);
  if (a.is_integral() && b.is_integral() && b.as_int() >= 0) {
    const int64_t base = a.as_int(), exponent = b.as_int();
    if (base == 0 || base == 1) return Value::integer(exponent == 0 ? 1 : base);
    if (base == -1) return Value::integer(exponent % 2 == 0 ? 1 : -1);
    int64_t result = 1;  // |base| >= 2 overflows within 63 steps, so the loop is short
    for (int64_t e = exponent; e > 0; --e) {
      if (__builtin_mul_overflow(result, base, &result)) return checked_int(true, 0);
    }
    return Value::integer(result);
  }
  return Value::number(std::pow(a.as_float(), b.as_float()));
}

// Python's "%s" % args for the conversions templates use: %s %r %d %i %f %%.
Result<Value> percent_format(const std::string& fmt, const Value& args) {
  std::vector<Value> values;
  if (args.is_list() && args.as_list().is_tuple) {
    values = args.as_list().items;
  } else {
    values.push_back(args);
  }
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i == fmt.size()) return Err("incomplete format");
    const char conv = fmt[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (next >= values.size()) return Err("not enough arguments for format string");
    const Value& v = values[next++];
    if (conv == 's') {
      out += to_str(v);
    } else if (conv == 'r') {
      out += repr(v);
    } else if ((conv == 'd' || conv == 'i') && v.is_number()) {
      out += std::to_string(v.is_float() ? static_cast<int64_t>(v.as_float()) : v.as_int());
    } else if (conv == 'f' && v.is_number()) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%f", v.as_float());
      out += buf;
    } else {
      return Err("unsupported format conversion '%", std::string(1, conv), "' for ", type_name(v));
    }
  }
  if (next < values.size()) return Err("not all arguments converted during string formatting");
  return Value::string(std::move(out));
}

}  // namespace

Result<Value> unary_op(std::string_view op, const Value& v) {
  if (v.is_undefined()) return undefined_error(v);
  if (!v.is_number())
    return Err("bad operand type for unary ", std::string(op), ": '", type_name(v), "'");
  if (op == "+") return v.is_bool() ? Value::integer(v.as_int()) : v;
  if (v.is_float()) return Value::number(-v.as_float());
  if (v.as_int() == INT64_MIN) return checked_int(true, 0);
  return Value::integer(-v.as_int());
}

Result<Value> binary_op(std::string_view op, const Value& a, const Value& b) {
  if (op == "~") return Value::string(to_str(a) + to_str(b));  // Undefined prints as ""
  if (a.is_undefined()) return undefined_error(a);
  if (b.is_undefined()) return undefined_error(b);
  if (op == "+") return add(a, b);
  if (op == "-") {
    if (a.is_integral() && b.is_integral()) {
      int64_t r = 0;
      const bool overflowed = __builtin_sub_overflow(a.as_int(), b.as_int(), &r);
      return checked_int(overflowed, r);
    }
    if (a.is_number() && b.is_number()) return Value::number(a.as_float() - b.as_float());
    return unsupported("-", a, b);
  }
  if (op == "*") return multiply(a, b);
  if (op == "%" && a.is_string()) return percent_format(a.as_string(), b);
  if (op == "/" || op == "//" || op == "%") return divide(op, a, b);
  if (op == "**") return power(a, b);
  return Err("unknown operator '", std::string(op), "'");
}

Result<bool> less_than(const Value& a, const Value& b) {
  if (a.is_undefined()) return undefined_error(a);
  if (b.is_undefined()) return undefined_error(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.as_int() < b.as_int();
    return a.as_float() < b.as_float();
  }
  if (a.is_string() && b.is_string())
    return a.as_string() < b.as_string();  // UTF-8 order = code point order
  if (a.is_list() && b.is_list()) {
    const auto& x = a.as_list().items;
    const auto& y = b.as_list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equals(x[i], y[i])) continue;
      return less_than(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  return Err("'<' not supported between instances of '", type_name(a), "' and '", type_name(b),
             "'");
}

Result<bool> contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string()) {
      return Err("'in <string>' requires string as left operand, not ", type_name(item));
    }
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_dict()) return container.as_dict().find(item) != nullptr;
  if (container.is_namespace()) return Err("argument of type 'Namespace' is not iterable");
  DSV3_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(container));
  for (const Value& v : items) {
    if (equals(v, item)) return true;
  }
  return false;
}

Result<bool> compare_op(std::string_view op, const Value& a, const Value& b) {
  if (op == "==") return equals(a, b);
  if (op == "!=") return !equals(a, b);
  if (op == "in") return contains(b, a);
  if (op == "not in") {
    DSV3_ASSIGN_OR_RETURN(bool in, contains(b, a));
    return !in;
  }
  if (op == "<") return less_than(a, b);
  if (op == ">") return less_than(b, a);
  if ((a.is_number() && b.is_number()) || (a.is_string() && b.is_string()) ||
      (a.is_list() && b.is_list())) {
    DSV3_ASSIGN_OR_RETURN(bool lt, op == "<=" ? less_than(b, a) : less_than(a, b));
    return !lt;  // a <= b is !(b < a); a >= b is !(a < b)
  }
  if (a.is_undefined()) return undefined_error(a);
  if (b.is_undefined()) return undefined_error(b);
  return Err("'", std::string(op), "' not supported between instances of '", type_name(a),
             "' and '", type_name(b), "'");
}

namespace {

Value missing(const Value& obj, const std::string& what) {
  return Value::undefined("'" + type_name(obj) + " object' has no attribute " + what);
}

}  // namespace

Result<Value> get_attribute(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) return undefined_error(obj);
  if (std::optional<Value> method = find_method(obj, name)) return *method;
  if (obj.is_dict()) {
    if (const Value* v = obj.as_dict().find(name)) return *v;
  } else if (obj.is_namespace()) {
    if (const Value* v = obj.as_namespace().attributes.find(name)) return *v;
  }
  return missing(obj, "'" + name + "'");
}

Result<Value> get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return undefined_error(obj);
  if (obj.is_dict()) {
    if (const Value* v = obj.as_dict().find(key)) return *v;
  } else if (obj.is_list() && key.is_integral()) {
    const auto& items = obj.as_list().items;
    const int64_t n = static_cast<int64_t>(items.size());
    const int64_t i = key.as_int() < 0 ? key.as_int() + n : key.as_int();
    if (i >= 0 && i < n) return items[static_cast<size_t>(i)];
  } else if (obj.is_string() && key.is_integral()) {
    const std::string& s = obj.as_string();
    std::vector<size_t> offsets = utf8_offsets(s);
    const int64_t n = static_cast<int64_t>(offsets.size()) - 1;
    const int64_t i = key.as_int() < 0 ? key.as_int() + n : key.as_int();
    if (i >= 0 && i < n) {
      const size_t b = offsets[static_cast<size_t>(i)];
      return Value::string(s.substr(b, offsets[static_cast<size_t>(i) + 1] - b));
    }
  }
  // Jinja2 falls back to attribute lookup for string keys (ns['x'], d['items']).
  if (key.is_string()) return get_attribute(obj, key.as_string());
  return missing(obj, to_str(key));
}

namespace {

// Python's slice.indices(): clamps start/stop for the given length and step.
Result<std::vector<int64_t>> slice_indices(int64_t n, const Value& start, const Value& stop,
                                           const Value& step) {
  auto is_omitted = [](const Value& v) { return v.is_undefined() || v.is_none(); };
  for (const Value* v : {&start, &stop, &step}) {
    if (!is_omitted(*v) && !v->is_integral()) return Err("slice indices must be integers or None");
  }
  const int64_t s = is_omitted(step) ? 1 : step.as_int();
  if (s == 0) return Err("slice step cannot be zero");
  auto clamp = [&](const Value& v, int64_t fallback) {
    if (is_omitted(v)) return fallback;
    int64_t i = v.as_int();
    if (i < 0) i += n;
    if (s > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  const int64_t b = clamp(start, s > 0 ? 0 : n - 1);
  const int64_t e = clamp(stop, s > 0 ? n : -1);
  std::vector<int64_t> out;
  for (int64_t i = b; s > 0 ? i < e : i > e; i += s) out.push_back(i);
  return out;
}

}  // namespace

Result<Value> slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) return undefined_error(obj);
  if (obj.is_list()) {
    const auto& items = obj.as_list().items;
    DSV3_ASSIGN_OR_RETURN(std::vector<int64_t> idx,
                          slice_indices(static_cast<int64_t>(items.size()), start, stop, step));
    std::vector<Value> out;
    for (int64_t i : idx) out.push_back(items[static_cast<size_t>(i)]);
    return obj.as_list().is_tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
  }
  if (obj.is_string()) {
    const std::string& s = obj.as_string();
    std::vector<size_t> offsets = utf8_offsets(s);
    DSV3_ASSIGN_OR_RETURN(
        std::vector<int64_t> idx,
        slice_indices(static_cast<int64_t>(offsets.size()) - 1, start, stop, step));
    std::string out;
    for (int64_t i : idx) {
      const size_t b = offsets[static_cast<size_t>(i)];
      out += s.substr(b, offsets[static_cast<size_t>(i) + 1] - b);
    }
    return Value::string(std::move(out));
  }
  return Err("'", type_name(obj), "' object is not subscriptable");
}

Result<std::vector<Value>> iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return std::vector<Value>{};
    case Value::Kind::kList:
      return v.as_list().items;
    case Value::Kind::kDict: {
      std::vector<Value> keys;
      for (const auto& [k, unused] : v.as_dict().entries) keys.push_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      const std::string& s = v.as_string();
      std::vector<size_t> offsets = utf8_offsets(s);
      std::vector<Value> chars;
      for (size_t i = 0; i + 1 < offsets.size(); ++i) {
        chars.push_back(Value::string(s.substr(offsets[i], offsets[i + 1] - offsets[i])));
      }
      return chars;
    }
    default:
      return Err("'", type_name(v), "' object is not iterable");
  }
}

Result<int64_t> length(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return int64_t{0};
    case Value::Kind::kString:
      return static_cast<int64_t>(utf8_length(v.as_string()));
    case Value::Kind::kList:
      return static_cast<int64_t>(v.as_list().items.size());
    case Value::Kind::kDict:
      return static_cast<int64_t>(v.as_dict().entries.size());
    default:
      return Err("object of type '", type_name(v), "' has no len()");
  }
}

}  // namespace dsv3::jinja
