// Jinja2's builtin tests (jinja2/tests.py): `x is defined`, `x is none`, `x is string`, ...
#include <map>

#include "template/args.h"
#include "template/filters.h"
#include "template/operators.h"

namespace dsv3::jinja {

namespace {

using PredicateTable = std::map<std::string, PredicateFn, std::less<>>;

// A test of the value alone, taking no arguments.
template <bool (*Fn)(const Value&)>
Result<bool> unary(const Value& v, const CallArgs& call) {
  DSV3_TRY(BoundArgs::bind("test", call, {}));
  return Fn(v);
}

bool is_defined(const Value& v) { return !v.is_undefined(); }
bool is_undefined(const Value& v) { return v.is_undefined(); }
bool is_none(const Value& v) { return v.is_none(); }
bool is_boolean(const Value& v) { return v.is_bool(); }
bool is_true(const Value& v) { return v.is_bool() && v.as_bool(); }
bool is_false(const Value& v) { return v.is_bool() && !v.as_bool(); }
bool is_integer(const Value& v) { return v.is_int(); }  // True is not an integer here, as in Jinja2
bool is_float(const Value& v) { return v.is_float(); }
bool is_number(const Value& v) { return v.is_number(); }
bool is_string(const Value& v) { return v.is_string(); }
bool is_mapping(const Value& v) { return v.is_dict(); }
// Jinja2's Undefined supports iter(), len() and calling (which fails), so these hold for it.
bool is_iterable(const Value& v) {
  return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
}
bool is_callable(const Value& v) { return v.is_callable() || v.is_undefined(); }
bool is_escaped(const Value&) { return false; }  // no autoescaping, so nothing is Markup

bool is_lower(const Value& v) {
  const std::string s = to_str(v);
  bool cased = false;
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return false;
    cased = cased || (c >= 'a' && c <= 'z');
  }
  return cased;
}

bool is_upper(const Value& v) {
  const std::string s = to_str(v);
  bool cased = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') return false;
    cased = cased || (c >= 'A' && c <= 'Z');
  }
  return cased;
}

Result<bool> parity(const Value& v, const CallArgs& call, bool want_odd) {
  DSV3_TRY(BoundArgs::bind(want_odd ? "test 'odd'" : "test 'even'", call, {}));
  DSV3_ASSIGN_OR_RETURN(Value rem, binary_op("%", v, Value::integer(2)));
  return equals(rem, Value::integer(want_odd ? 1 : 0));
}

Result<bool> divisible_by(const Value& v, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind("test 'divisibleby'", call, {"num"}));
  DSV3_ASSIGN_OR_RETURN(Value rem, binary_op("%", v, args[0]));
  return equals(rem, Value::integer(0));
}

// A comparison test: `x is eq 3`, `x is gt 2`, `x is in [1, 2]`.
template <const char* Op>
Result<bool> comparison(const Value& v, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind("comparison test", call, {"other"}));
  return compare_op(Op, v, args[0]);
}

constexpr char kEq[] = "==";
constexpr char kNe[] = "!=";
constexpr char kLt[] = "<";
constexpr char kLe[] = "<=";
constexpr char kGt[] = ">";
constexpr char kGe[] = ">=";
constexpr char kIn[] = "in";

// Python's `is`: None/True/False are singletons; containers compare by identity.
Result<bool> same_as(const Value& v, const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind("test 'sameas'", call, {"other"}));
  const Value& o = args[0];
  if (v.kind() != o.kind()) return false;
  if (v.is_list()) return &v.as_list() == &o.as_list();
  if (v.is_dict()) return &v.as_dict() == &o.as_dict();
  return equals(v, o);
}

Result<bool> names_filter(const Value& v, const CallArgs& call) {
  DSV3_TRY(BoundArgs::bind("test 'filter'", call, {}));
  return v.is_string() && find_filter(v.as_string()) != nullptr;
}

Result<bool> names_test(const Value& v, const CallArgs& call) {
  DSV3_TRY(BoundArgs::bind("test 'test'", call, {}));
  return v.is_string() && find_predicate(v.as_string()) != nullptr;
}

const PredicateTable& predicates() {
  static const PredicateTable table = {
      {"!=", comparison<kNe>},
      {"<", comparison<kLt>},
      {"<=", comparison<kLe>},
      {"==", comparison<kEq>},
      {">", comparison<kGt>},
      {">=", comparison<kGe>},
      {"boolean", unary<is_boolean>},
      {"callable", unary<is_callable>},
      {"defined", unary<is_defined>},
      {"divisibleby", divisible_by},
      {"eq", comparison<kEq>},
      {"equalto", comparison<kEq>},
      {"escaped", unary<is_escaped>},
      {"even", [](const Value& v, const CallArgs& a) { return parity(v, a, false); }},
      {"false", unary<is_false>},
      {"filter", names_filter},
      {"float", unary<is_float>},
      {"ge", comparison<kGe>},
      {"greaterthan", comparison<kGt>},
      {"gt", comparison<kGt>},
      {"in", comparison<kIn>},
      {"integer", unary<is_integer>},
      {"iterable", unary<is_iterable>},
      {"le", comparison<kLe>},
      {"lessthan", comparison<kLt>},
      {"lower", unary<is_lower>},
      {"lt", comparison<kLt>},
      {"mapping", unary<is_mapping>},
      {"ne", comparison<kNe>},
      {"none", unary<is_none>},
      {"number", unary<is_number>},
      {"odd", [](const Value& v, const CallArgs& a) { return parity(v, a, true); }},
      {"sameas", same_as},
      {"sequence", unary<is_iterable>},
      {"string", unary<is_string>},
      {"test", names_test},
      {"true", unary<is_true>},
      {"undefined", unary<is_undefined>},
      {"upper", unary<is_upper>},
  };
  return table;
}

}  // namespace

PredicateFn find_predicate(std::string_view name) {
  auto it = predicates().find(name);
  return it == predicates().end() ? nullptr : it->second;
}

}  // namespace dsv3::jinja
