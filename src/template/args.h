// Binds a call's positional and keyword arguments to a builtin's named parameters, the way
// Python binds them, so filters and methods can be called as Jinja2 allows:
// join(', '), join(d=', '), tojson(indent=2), default('x', true).
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "template/value.h"
#include "util/result.h"

namespace dsv3::jinja {

class BoundArgs {
 public:
  // `callee` names the builtin in errors ("filter 'join'").
  static Result<BoundArgs> bind(std::string_view callee, const CallArgs& args,
                                std::initializer_list<std::string_view> params);

  // The argument for parameter i, or Undefined when it was not passed.
  const Value& operator[](size_t i) const { return values_[i]; }
  bool given(size_t i) const { return given_[i]; }

 private:
  std::vector<Value> values_;
  std::vector<bool> given_;
};

// Typed accessors with defaults; they fail with a message naming the callee and parameter.
Result<int64_t> int_arg(const BoundArgs& args, size_t i, int64_t fallback, std::string_view what);
Result<std::string> string_arg(const BoundArgs& args, size_t i, std::string fallback,
                               std::string_view what);
bool bool_arg(const BoundArgs& args, size_t i, bool fallback);

}  // namespace dsv3::jinja
