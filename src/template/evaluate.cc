// Expression evaluation. Operations that fail get the location of the expression that
// failed; errors from sub-expressions already carry their own location and pass through.
#include "template/evaluator.h"
#include "template/filters.h"
#include "template/operators.h"

namespace dsv3::jinja {

namespace {

Error located(Location loc, const Error& e) { return Err(at(loc), e.message); }

template <typename T>
Result<T> locate(Location loc, Result<T> r) {
  if (!r.ok()) return located(loc, r.error());
  return r;
}

bool is_hashable(const Value& v) {
  if (v.is_dict() || v.is_namespace()) return false;
  if (!v.is_list()) return true;
  if (!v.as_list().is_tuple) return false;
  for (const Value& item : v.as_list().items) {
    if (!is_hashable(item)) return false;
  }
  return true;
}

}  // namespace

Result<Value> Evaluator::eval(const Expr& e, const ScopePtr& scope) {
  DSV3_TRY(spend_step(e.loc));
  if (eval_depth_ >= limits_.max_eval_depth) {
    return Err(at(e.loc), "evaluation is nested more than ", limits_.max_eval_depth,
               " levels deep (expressions inside macro calls); the limit is ",
               limits_.max_eval_depth);
  }
  ++eval_depth_;
  Result<Value> v = eval_node(e, scope);
  --eval_depth_;
  if (!v.ok()) return v;
  if (v->nesting() > limits_.max_value_depth) {
    return Err(at(e.loc), "value nested more than ", limits_.max_value_depth,
               " levels deep (lists or dicts inside each other); the limit is ",
               limits_.max_value_depth);
  }
  if (v->is_string() && v->as_string().size() > limits_.max_output_bytes) {
    return Err(at(e.loc), "string of ", v->as_string().size(), " bytes, more than the limit of ",
               limits_.max_output_bytes, " bytes");
  }
  return v;
}

Result<Value> Evaluator::eval_node(const Expr& e, const ScopePtr& scope) {
  switch (e.kind) {
    case ExprKind::kLiteral:
      return e.literal;
    case ExprKind::kName: {
      if (const Value* v = scope->find(e.name)) return *v;
      return Value::undefined("'" + e.name + "' is undefined");
    }
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      for (const ExprPtr& item : e.args) {
        DSV3_ASSIGN_OR_RETURN(Value v, eval(*item, scope));
        items.push_back(std::move(v));
      }
      return e.kind == ExprKind::kList ? Value::list(std::move(items))
                                       : Value::tuple(std::move(items));
    }
    case ExprKind::kDict:
      return eval_dict(e, scope);
    case ExprKind::kUnary: {
      DSV3_ASSIGN_OR_RETURN(Value v, eval(*e.args[0], scope));
      return locate(e.loc, unary_op(e.name, v));
    }
    case ExprKind::kBinary: {
      DSV3_ASSIGN_OR_RETURN(Value a, eval(*e.args[0], scope));
      DSV3_ASSIGN_OR_RETURN(Value b, eval(*e.args[1], scope));
      return locate(e.loc, binary_op(e.name, a, b));
    }
    case ExprKind::kAnd:
    case ExprKind::kOr: {
      // Python returns the deciding operand itself, not a bool.
      DSV3_ASSIGN_OR_RETURN(Value a, eval(*e.args[0], scope));
      if (truthy(a) == (e.kind == ExprKind::kOr)) return a;
      return eval(*e.args[1], scope);
    }
    case ExprKind::kNot: {
      DSV3_ASSIGN_OR_RETURN(Value v, eval(*e.args[0], scope));
      return Value::boolean(!truthy(v));
    }
    case ExprKind::kCompare:
      return eval_compare(e, scope);
    case ExprKind::kCondition:
      return eval_condition(e, scope);
    case ExprKind::kAttribute: {
      DSV3_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0], scope));
      return locate(e.loc, get_attribute(obj, e.name));
    }
    case ExprKind::kItem: {
      DSV3_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0], scope));
      DSV3_ASSIGN_OR_RETURN(Value key, eval(*e.args[1], scope));
      return locate(e.loc, get_item(obj, key));
    }
    case ExprKind::kSlice:
      return eval_slice(e, scope);
    case ExprKind::kCall:
      return eval_call(e, scope);
    case ExprKind::kFilter:
      return eval_filter(e, scope, nullptr);
    case ExprKind::kTest:
      return eval_test(e, scope);
  }
  return Err(at(e.loc), "unknown expression");
}

Result<Value> Evaluator::eval_compare(const Expr& e, const ScopePtr& scope) {
  DSV3_ASSIGN_OR_RETURN(Value left, eval(*e.args[0], scope));
  for (size_t i = 0; i < e.ops.size(); ++i) {
    DSV3_ASSIGN_OR_RETURN(Value right, eval(*e.args[i + 1], scope));
    DSV3_ASSIGN_OR_RETURN(bool holds,
                          locate(e.args[i + 1]->loc, compare_op(e.ops[i], left, right)));
    if (!holds) return Value::boolean(false);  // a < b < c stops at the first false link
    left = std::move(right);
  }
  return Value::boolean(true);
}

Result<Value> Evaluator::eval_condition(const Expr& e, const ScopePtr& scope) {
  DSV3_ASSIGN_OR_RETURN(Value condition, eval(*e.args[1], scope));
  if (truthy(condition)) return eval(*e.args[0], scope);
  if (e.args[2]) return eval(*e.args[2], scope);
  return Value::undefined("the inline if-expression on line " + std::to_string(e.loc.line) +
                          " evaluated to false and no else section was defined.");
}

Result<Value> Evaluator::eval_dict(const Expr& e, const ScopePtr& scope) {
  Dict dict;
  for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
    DSV3_ASSIGN_OR_RETURN(Value key, eval(*e.args[i], scope));
    if (!is_hashable(key))
      return Err(at(e.args[i]->loc), "unhashable type: '", type_name(key), "'");
    DSV3_ASSIGN_OR_RETURN(Value value, eval(*e.args[i + 1], scope));
    dict.set(std::move(key), std::move(value));
  }
  return Value::dict(std::move(dict));
}

Result<Value> Evaluator::eval_slice(const Expr& e, const ScopePtr& scope) {
  DSV3_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0], scope));
  Value bounds[3];
  for (int i = 0; i < 3; ++i) {
    if (e.args[1 + i]) {
      DSV3_ASSIGN_OR_RETURN(bounds[i], eval(*e.args[1 + i], scope));
    }
  }
  return locate(e.loc, slice(obj, bounds[0], bounds[1], bounds[2]));
}

// Positional and keyword arguments of a call, filter or test: args[1..] and keywords.
Result<CallArgs> Evaluator::eval_args(const Expr& e, const ScopePtr& scope) {
  CallArgs args;
  for (size_t i = 1; i < e.args.size(); ++i) {
    DSV3_ASSIGN_OR_RETURN(Value v, eval(*e.args[i], scope));
    args.positional.push_back(std::move(v));
  }
  for (const Keyword& k : e.keywords) {
    DSV3_ASSIGN_OR_RETURN(Value v, eval(*k.value, scope));
    args.keyword.emplace_back(k.name, std::move(v));
  }
  return args;
}

Result<Value> Evaluator::eval_call(const Expr& e, const ScopePtr& scope) {
  DSV3_ASSIGN_OR_RETURN(Value callee, eval(*e.args[0], scope));
  if (callee.is_undefined()) return located(e.loc, undefined_error(callee));
  if (!callee.is_callable())
    return Err(at(e.loc), "'", type_name(callee), "' object is not callable");
  DSV3_ASSIGN_OR_RETURN(CallArgs args, eval_args(e, scope));
  return locate(e.loc, callee.as_callable().call(args));
}

Result<Value> Evaluator::eval_filter(const Expr& e, const ScopePtr& scope, const Value* input) {
  Value subject;
  if (e.args[0]) {
    // Chained filters ({% filter a|b %}) pass the block text down to the innermost one.
    DSV3_ASSIGN_OR_RETURN(subject, e.args[0]->kind == ExprKind::kFilter
                                       ? eval_filter(*e.args[0], scope, input)
                                       : eval(*e.args[0], scope));
  } else if (input != nullptr) {
    subject = *input;
  }
  FilterFn filter = find_filter(e.name);
  if (filter == nullptr) return Err(at(e.loc), "no filter named '", e.name, "'");
  DSV3_ASSIGN_OR_RETURN(CallArgs args, eval_args(e, scope));
  auto result = filter(subject, args);
  if (!result.ok()) return Err(at(e.loc), "filter '", e.name, "': ", result.error().message);
  return result;
}

Result<Value> Evaluator::eval_test(const Expr& e, const ScopePtr& scope) {
  DSV3_ASSIGN_OR_RETURN(Value subject, eval(*e.args[0], scope));
  PredicateFn test = find_predicate(e.name);
  if (test == nullptr) return Err(at(e.loc), "no test named '", e.name, "'");
  DSV3_ASSIGN_OR_RETURN(CallArgs args, eval_args(e, scope));
  auto result = test(subject, args);
  if (!result.ok()) return Err(at(e.loc), "test '", e.name, "': ", result.error().message);
  return Value::boolean(*result != e.negated);
}

}  // namespace dsv3::jinja
