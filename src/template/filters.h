// Jinja2's builtin filters (`x | name(args)`) and tests (`x is name(args)`, called predicates
// here so they are not confused with unit tests). `tojson` is transformers' version: Python's
// json.dumps with ensure_ascii=False, indent, separators and sort_keys.
#pragma once

#include <string_view>

#include "template/value.h"
#include "util/result.h"

namespace dsv3::jinja {

using FilterFn = Result<Value> (*)(const Value& input, const CallArgs& args);
using PredicateFn = Result<bool> (*)(const Value& input, const CallArgs& args);

// nullptr when there is no such filter / test.
FilterFn find_filter(std::string_view name);
PredicateFn find_predicate(std::string_view name);

}  // namespace dsv3::jinja
