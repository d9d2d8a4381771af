// Python methods templates call on values: str (startswith, strip, split, replace, format, ...),
// dict (get, items, keys, values) and list (index, count). Methods that would modify a list or
// dict (append, pop, update, ...) exist but fail when called, as in transformers'
// ImmutableSandboxedEnvironment.
#pragma once

#include <optional>
#include <string>

#include "template/value.h"

namespace dsv3::jinja {

// The method `name` of `obj`, bound to it as a callable, or nullopt if there is none.
std::optional<Value> find_method(const Value& obj, const std::string& name);

// str.format(*args, **kwargs) for {} / {0} / {name} fields without format specs.
Result<Value> python_format(const std::string& fmt, const CallArgs& args);

}  // namespace dsv3::jinja
