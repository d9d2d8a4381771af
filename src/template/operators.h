// Python semantics of the operators a template can apply: arithmetic, comparison,
// membership, attribute and item access, slicing, iteration and len(). Errors carry Python's
// wording but no template location; the evaluator adds that.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "template/value.h"
#include "util/result.h"

namespace dsv3::jinja {

// op is "-" or "+".
Result<Value> unary_op(std::string_view op, const Value& v);
// op is one of + - * / // % ** ~
Result<Value> binary_op(std::string_view op, const Value& a, const Value& b);
// op is one of == != < <= > >= in, not in
Result<bool> compare_op(std::string_view op, const Value& a, const Value& b);
// Python's a < b for numbers, strings and lists.
Result<bool> less_than(const Value& a, const Value& b);
// Python's `item in container`.
Result<bool> contains(const Value& container, const Value& item);

// obj.name: a dict's methods win over its keys, as in Jinja2's getattr.
Result<Value> get_attribute(const Value& obj, const std::string& name);
// obj[key]: a dict's keys win over its methods. Missing keys and indexes give Undefined.
Result<Value> get_item(const Value& obj, const Value& key);
// obj[start:stop:step]; Undefined or None bounds are omitted ones.
Result<Value> slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

// The items `for` visits: list items, dict keys, string characters; Undefined is empty.
Result<std::vector<Value>> iterate(const Value& v);
// len(v); Undefined has length 0 as in Jinja2.
Result<int64_t> length(const Value& v);

}  // namespace dsv3::jinja
