// Values a chat template computes with: the Python objects Jinja2 sees (None, bool, int, float,
// str, list, tuple, dict) plus Jinja's Undefined, namespace() objects and callables.
//
// Lists, tuples and dicts are immutable once built and shared by pointer, as in transformers'
// ImmutableSandboxedEnvironment where templates cannot modify them. Namespaces are the one
// mutable object (`{% set ns.attr = ... %}`), shared so a change is seen by every holder.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "util/result.h"

namespace dsv3::jinja {

class Value;

struct List {
  std::vector<Value> items;
  bool is_tuple = false;  // only changes how it prints: (1, 2) instead of [1, 2]
  int depth = 1;          // nesting (see Value::nesting), set by Value::list / Value::tuple
};

// A Python dict: insertion-ordered, keys compared with Python's == (so 1 == 1.0 == True).
// Lookup is linear; chat-template dicts (messages, tool schemas) have few keys.
struct Dict {
  std::vector<std::pair<Value, Value>> entries;
  int depth = 1;  // nesting (see Value::nesting), set by Value::dict / Value::name_space

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  // Replaces the value of an existing key in place (keeping its position) or appends.
  void set(Value key, Value value);
};

struct Namespace {
  Dict attributes;
  // Nesting when created, raised by every attribute assignment (a namespace held elsewhere
  // and assigned to afterwards leaves its holders' figures behind; see the evaluator).
  int depth = 1;
};

// Arguments of a call as written: f(a, b, key=c).
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

struct Callable {
  std::string name;
  std::function<Result<Value>(const CallArgs&)> call;
};

// Jinja2's Undefined. The hint is Jinja's own wording of why ("'foo' is undefined",
// "'dict object' has no attribute 'x'"), reported when an operation needs a real value.
struct Undefined {
  std::string hint;
};

class Value {
 public:
  enum class Kind {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kNamespace,
    kCallable
  };

  Value() : v_(Undefined{}) {}
  static Value undefined(std::string hint) { return Value(Undefined{std::move(hint)}); }
  static Value none() { return Value(nullptr); }
  static Value boolean(bool b) { return Value(b); }
  static Value integer(int64_t i) { return Value(i); }
  static Value number(double d) { return Value(d); }
  static Value string(std::string s) {
    return Value(std::make_shared<const std::string>(std::move(s)));
  }
  static Value list(std::vector<Value> items);
  static Value tuple(std::vector<Value> items);
  static Value dict(Dict dict);
  static Value name_space(Dict attributes);
  static Value callable(std::string name, std::function<Result<Value>(const CallArgs&)> call);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_float() const { return kind() == Kind::kFloat; }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_list() const { return kind() == Kind::kList; }  // lists and tuples
  bool is_dict() const { return kind() == Kind::kDict; }
  bool is_namespace() const { return kind() == Kind::kNamespace; }
  bool is_callable() const { return kind() == Kind::kCallable; }
  // Python's numbers.Number: bool counts, as True + 1 == 2 in Python.
  bool is_number() const { return is_bool() || is_int() || is_float(); }
  // An int in arithmetic: int or bool.
  bool is_integral() const { return is_bool() || is_int(); }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const;   // int or bool
  double as_float() const;  // any number
  const std::string& as_string() const { return *std::get<kStringIndex>(v_); }
  const List& as_list() const { return *std::get<kListIndex>(v_); }
  const Dict& as_dict() const { return *std::get<kDictIndex>(v_); }
  Namespace& as_namespace() const { return *std::get<kNamespaceIndex>(v_); }
  const Callable& as_callable() const { return *std::get<kCallableIndex>(v_); }
  const std::string& undefined_hint() const { return std::get<Undefined>(v_).hint; }
  // How deeply containers nest inside this value: 0 for scalars, 1 for [] or [1], 2 for [[1]].
  // Printing, comparing and destroying a value recurse through it, so the evaluator keeps
  // this bounded; it is kept up to date as containers are built, at no walking cost.
  int nesting() const;

 private:
  static constexpr size_t kStringIndex = 5;
  static constexpr size_t kListIndex = 6;
  static constexpr size_t kDictIndex = 7;
  static constexpr size_t kNamespaceIndex = 8;
  static constexpr size_t kCallableIndex = 9;

  template <typename T>
  explicit Value(T v) : v_(std::move(v)) {}

  // Order matches Kind.
  std::variant<Undefined, std::nullptr_t, bool, int64_t, double, std::shared_ptr<const std::string>,
               std::shared_ptr<const List>, std::shared_ptr<const Dict>, std::shared_ptr<Namespace>,
               std::shared_ptr<const Callable>>
      v_;
};

// Python's bool(x); Undefined is falsy.
bool truthy(const Value& v);
// Python's str(x), which is what {{ x }} prints; Undefined prints as "".
std::string to_str(const Value& v);
// Python's repr(x), used for strings inside printed lists and dicts.
std::string repr(const Value& v);
// Python's x == y.
bool equals(const Value& a, const Value& b);
// Python's type name, for error messages: 'str', 'int', 'dict', 'NoneType', ...
std::string type_name(const Value& v);
// Error for an operation that needs a real value but got Undefined.
Error undefined_error(const Value& v);

}  // namespace dsv3::jinja
