// Global functions: Jinja2's range/namespace/dict, and the two transformers adds for chat
// templates, raise_exception and strftime_now.
#include <ctime>

#include "template/args.h"
#include "template/evaluator.h"

namespace dsv3::jinja {

namespace {

// Jinja2's sandbox refuses larger ranges (MAX_RANGE), so a template cannot allocate without bound.
constexpr int64_t kMaxRange = 100000;

Result<Value> range_fn(const CallArgs& call) {
  if (!call.keyword.empty()) return Err("range() takes no keyword arguments");
  const auto& a = call.positional;
  if (a.empty() || a.size() > 3) return Err("range expected 1 to 3 arguments, got ", a.size());
  for (const Value& v : a) {
    if (!v.is_integral())
      return Err("'", type_name(v), "' object cannot be interpreted as an integer");
  }
  const int64_t start = a.size() == 1 ? 0 : a[0].as_int();
  const int64_t stop = a.size() == 1 ? a[0].as_int() : a[1].as_int();
  const int64_t step = a.size() == 3 ? a[2].as_int() : 1;
  if (step == 0) return Err("range() arg 3 must not be zero");
  const int64_t count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                                 : (start > stop ? (start - stop - step - 1) / -step : 0);
  if (count > kMaxRange) {
    return Err("Range too big. The sandbox blocks ranges larger than MAX_RANGE (", kMaxRange, ").");
  }
  std::vector<Value> out;
  for (int64_t i = 0, v = start; i < count; ++i, v += step) out.push_back(Value::integer(v));
  return Value::list(std::move(out));
}

// Keyword arguments, after those of an optional leading dict: namespace(d, a=1), dict(a=1).
Result<Dict> dict_from_call(std::string_view what, const CallArgs& call) {
  Dict d;
  if (call.positional.size() > 1) return Err(what, " takes at most one positional argument");
  if (call.positional.size() == 1) {
    if (!call.positional[0].is_dict()) return Err(what, " expects a dict as positional argument");
    d = call.positional[0].as_dict();
  }
  for (const auto& [name, value] : call.keyword) d.set(Value::string(name), value);
  return d;
}

Result<Value> raise_exception_fn(const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind("raise_exception", call, {"message"}));
  return Err("raise_exception: ", to_str(args[0]));
}

Result<Value> strftime_now_fn(const CallArgs& call) {
  DSV3_ASSIGN_OR_RETURN(BoundArgs args, BoundArgs::bind("strftime_now", call, {"format"}));
  DSV3_ASSIGN_OR_RETURN(std::string format, string_arg(args, 0, "", "strftime_now"));
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);  // transformers uses datetime.now(): local time
  char buf[256];
  const size_t n = std::strftime(buf, sizeof(buf), format.c_str(), &local);
  if (n == 0 && !format.empty())
    return Err("strftime_now: format '", format, "' gives an empty or too long result");
  return Value::string(std::string(buf, n));
}

}  // namespace

void add_globals(Scope& scope) {
  scope.set("range", Value::callable("range", range_fn));
  scope.set("namespace", Value::callable("namespace", [](const CallArgs& call) -> Result<Value> {
              DSV3_ASSIGN_OR_RETURN(Dict d, dict_from_call("namespace()", call));
              return Value::name_space(std::move(d));
            }));
  scope.set("dict", Value::callable("dict", [](const CallArgs& call) -> Result<Value> {
              DSV3_ASSIGN_OR_RETURN(Dict d, dict_from_call("dict()", call));
              return Value::dict(std::move(d));
            }));
  scope.set("raise_exception", Value::callable("raise_exception", raise_exception_fn));
  scope.set("strftime_now", Value::callable("strftime_now", strftime_now_fn));
}

}  // namespace dsv3::jinja
