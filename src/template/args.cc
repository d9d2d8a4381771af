#include "template/args.h"

namespace dsv3::jinja {

Result<BoundArgs> BoundArgs::bind(std::string_view callee, const CallArgs& args,
                                  std::initializer_list<std::string_view> params) {
  BoundArgs bound;
  bound.values_.resize(params.size());
  bound.given_.resize(params.size(), false);
  if (args.positional.size() > params.size()) {
    return Err(std::string(callee), " takes at most ", params.size(), " argument(s) (",
               args.positional.size(), " given)");
  }
  for (size_t i = 0; i < args.positional.size(); ++i) {
    bound.values_[i] = args.positional[i];
    bound.given_[i] = true;
  }
  for (const auto& [name, value] : args.keyword) {
    size_t i = 0;
    for (std::string_view p : params) {
      if (p == name) break;
      ++i;
    }
    if (i == params.size()) {
      return Err(std::string(callee), " got an unexpected keyword argument '", name, "'");
    }
    if (bound.given_[i]) {
      return Err(std::string(callee), " got multiple values for argument '", name, "'");
    }
    bound.values_[i] = value;
    bound.given_[i] = true;
  }
  return bound;
}

Result<int64_t> int_arg(const BoundArgs& args, size_t i, int64_t fallback, std::string_view what) {
  if (!args.given(i) || args[i].is_none()) return fallback;
  if (!args[i].is_integral()) {
    return Err(std::string(what), " expects an integer, got ", type_name(args[i]));
  }
  return args[i].as_int();
}

Result<std::string> string_arg(const BoundArgs& args, size_t i, std::string fallback,
                               std::string_view what) {
  if (!args.given(i) || args[i].is_none()) return fallback;
  if (!args[i].is_string())
    return Err(std::string(what), " expects a string, got ", type_name(args[i]));
  return args[i].as_string();
}

bool bool_arg(const BoundArgs& args, size_t i, bool fallback) {
  return args.given(i) ? truthy(args[i]) : fallback;
}

}  // namespace dsv3::jinja
