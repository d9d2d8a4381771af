// Statement execution: text, output, if, for, set, macro, filter, with, break/continue.
#include <algorithm>
#include <string>

#include "template/evaluator.h"
#include "template/operators.h"

namespace dsv3::jinja {

namespace {

constexpr int kMaxCallDepth = 100;

Error located(Location loc, const Error& e) { return Err(at(loc), e.message); }

// Jinja2's loop object for one iteration.
Value make_loop(const std::vector<Value>& items, size_t i) {
  const auto n = static_cast<int64_t>(items.size());
  const auto index0 = static_cast<int64_t>(i);
  Dict loop;
  loop.set(Value::string("index"), Value::integer(index0 + 1));
  loop.set(Value::string("index0"), Value::integer(index0));
  loop.set(Value::string("revindex"), Value::integer(n - index0));
  loop.set(Value::string("revindex0"), Value::integer(n - index0 - 1));
  loop.set(Value::string("first"), Value::boolean(i == 0));
  loop.set(Value::string("last"), Value::boolean(index0 == n - 1));
  loop.set(Value::string("length"), Value::integer(n));
  loop.set(Value::string("depth"), Value::integer(1));
  loop.set(Value::string("depth0"), Value::integer(0));
  if (i > 0) loop.set(Value::string("previtem"), items[i - 1]);
  if (index0 + 1 < n) loop.set(Value::string("nextitem"), items[i + 1]);
  loop.set(Value::string("cycle"),
           Value::callable("cycle", [index0](const CallArgs& args) -> Result<Value> {
             if (args.positional.empty()) return Err("loop.cycle() needs at least one value");
             return args.positional[static_cast<size_t>(index0) % args.positional.size()];
           }));
  return Value::dict(std::move(loop));
}

}  // namespace

const Value* Scope::find(std::string_view name) const {
  for (const Scope* s = this; s != nullptr; s = s->parent_.get()) {
    auto it = s->vars_.find(name);
    if (it != s->vars_.end()) return &it->second;
  }
  return nullptr;
}

Result<std::string> Evaluator::render(const Template& tmpl, const ScopePtr& scope) {
  std::string out;
  DSV3_TRY(exec_body(tmpl.body, scope, out));
  return out;
}

Result<Evaluator::Flow> Evaluator::exec_body(const Body& body, const ScopePtr& scope,
                                             std::string& out) {
  for (const Stmt& stmt : body) {
    DSV3_ASSIGN_OR_RETURN(Flow flow, exec(stmt, scope, out));
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Status Evaluator::spend_step(Location loc) {
  if (++steps_ > limits_.max_steps) {
    return Err(at(loc), "the template ran more than ", limits_.max_steps,
               " steps (statements, loop iterations and expressions); the limit is ",
               limits_.max_steps);
  }
  return OkStatus();
}

Status Evaluator::check_output(const std::string& out, Location loc) const {
  if (out.size() > limits_.max_output_bytes) {
    return Err(at(loc), "the template wrote more than the limit of ", limits_.max_output_bytes,
               " bytes");
  }
  return OkStatus();
}

Result<Evaluator::Flow> Evaluator::exec(const Stmt& stmt, const ScopePtr& scope, std::string& out) {
  DSV3_TRY(spend_step(stmt.loc));
  const auto& node = stmt.node;
  if (const auto* s = std::get_if<TextStmt>(&node)) {
    out += s->text;
    DSV3_TRY(check_output(out, stmt.loc));
  } else if (const auto* s = std::get_if<OutputStmt>(&node)) {
    DSV3_ASSIGN_OR_RETURN(Value v, eval(*s->value, scope));
    out += to_str(v);
    DSV3_TRY(check_output(out, stmt.loc));
  } else if (const auto* s = std::get_if<IfStmt>(&node)) {
    return exec_if(*s, scope, out);
  } else if (const auto* s = std::get_if<ForStmt>(&node)) {
    return exec_for(*s, stmt.loc, scope, out);
  } else if (const auto* s = std::get_if<SetStmt>(&node)) {
    DSV3_TRY(exec_set(*s, stmt.loc, scope));
  } else if (const auto* s = std::get_if<SetBlockStmt>(&node)) {
    DSV3_TRY(exec_set_block(*s, stmt.loc, scope));
  } else if (const auto* s = std::get_if<MacroStmt>(&node)) {
    define_macro(*s, scope);
  } else if (const auto* s = std::get_if<LoopControlStmt>(&node)) {
    return s->is_break ? Flow::kBreak : Flow::kContinue;
  } else if (const auto* s = std::get_if<FilterBlockStmt>(&node)) {
    DSV3_TRY(exec_filter_block(*s, scope, out));
  } else if (const auto* s = std::get_if<WithStmt>(&node)) {
    return exec_with(*s, scope, out);
  } else if (const auto* s = std::get_if<GenerationStmt>(&node)) {
    return exec_body(s->body, scope, out);
  }
  return Flow::kNormal;
}

Result<Evaluator::Flow> Evaluator::exec_if(const IfStmt& s, const ScopePtr& scope,
                                           std::string& out) {
  for (const IfBranch& branch : s.branches) {
    DSV3_ASSIGN_OR_RETURN(Value condition, eval(*branch.condition, scope));
    if (truthy(condition)) return exec_body(branch.body, scope, out);
  }
  return exec_body(s.else_body, scope, out);
}

// The iterated items, after the `if` filter of `for x in xs if cond` (which Jinja2 applies
// before computing loop.length and friends).
Result<std::vector<Value>> Evaluator::loop_items(const ForStmt& s, Location loc,
                                                 const ScopePtr& scope) {
  DSV3_ASSIGN_OR_RETURN(Value iterable, eval(*s.iterable, scope));
  auto items = iterate(iterable);
  if (!items.ok()) return located(s.iterable->loc, items.error());
  if (!s.filter) return std::move(items.value());
  std::vector<Value> kept;
  for (Value& item : items.value()) {
    auto item_scope = std::make_shared<Scope>(scope);
    DSV3_TRY(assign(s.target, item, loc, item_scope));
    DSV3_ASSIGN_OR_RETURN(Value keep, eval(*s.filter, item_scope));
    if (truthy(keep)) kept.push_back(std::move(item));
  }
  return kept;
}

Result<Evaluator::Flow> Evaluator::exec_for(const ForStmt& s, Location loc, const ScopePtr& scope,
                                            std::string& out) {
  DSV3_ASSIGN_OR_RETURN(std::vector<Value> items, loop_items(s, loc, scope));
  if (items.empty()) {
    DSV3_TRY(exec_body(s.else_body, std::make_shared<Scope>(scope), out));
    return Flow::kNormal;
  }
  for (size_t i = 0; i < items.size(); ++i) {
    DSV3_TRY(spend_step(loc));  // an empty body still costs its iterations
    auto iteration = std::make_shared<Scope>(scope);
    DSV3_TRY(assign(s.target, items[i], loc, iteration));
    iteration->set("loop", make_loop(items, i));
    DSV3_ASSIGN_OR_RETURN(Flow flow, exec_body(s.body, iteration, out));
    if (flow == Flow::kBreak) break;
  }
  return Flow::kNormal;  // break/continue never leave the loop they belong to
}

Status Evaluator::assign(const AssignTarget& target, Value value, Location loc,
                         const ScopePtr& scope) {
  if (!target.attribute.empty()) {
    const Value* ns = scope->find(target.names[0]);
    if (ns == nullptr || !ns->is_namespace()) {
      return Err(at(loc), "cannot assign attribute '", target.attribute, "' on '", target.names[0],
                 "': only namespace() objects can be modified, and it is ",
                 ns == nullptr ? std::string("undefined") : "a " + type_name(*ns));
    }
    Namespace& space = ns->as_namespace();
    // A namespace is the one value that outlives a loop iteration, so nesting grows here.
    const int depth = std::max(space.depth, 1 + value.nesting());
    if (depth > limits_.max_value_depth) {
      return Err(at(loc), "namespace '", target.names[0], "' would nest more than ",
                 limits_.max_value_depth, " levels deep; the limit is ", limits_.max_value_depth);
    }
    space.depth = depth;
    space.attributes.set(Value::string(target.attribute), std::move(value));
    return OkStatus();
  }
  if (!target.unpack) {
    scope->set(target.names[0], std::move(value));
    return OkStatus();
  }
  auto parts = iterate(value);
  if (!parts.ok()) return Err(at(loc), "cannot unpack: ", parts.error().message);
  if (parts->size() != target.names.size()) {
    return Err(at(loc), parts->size() < target.names.size() ? "not enough" : "too many",
               " values to unpack (expected ", target.names.size(), ", got ", parts->size(), ")");
  }
  for (size_t i = 0; i < target.names.size(); ++i)
    scope->set(target.names[i], std::move((*parts)[i]));
  return OkStatus();
}

Status Evaluator::exec_set(const SetStmt& s, Location loc, const ScopePtr& scope) {
  DSV3_ASSIGN_OR_RETURN(Value value, eval(*s.value, scope));
  return assign(s.target, std::move(value), loc, scope);
}

Status Evaluator::exec_set_block(const SetBlockStmt& s, Location loc, const ScopePtr& scope) {
  std::string captured;
  DSV3_TRY(exec_body(s.body, scope, captured));
  Value value = Value::string(std::move(captured));
  if (s.filter) {
    DSV3_ASSIGN_OR_RETURN(value, eval_filter(*s.filter, scope, &value));
  }
  return assign(s.target, std::move(value), loc, scope);
}

Status Evaluator::exec_filter_block(const FilterBlockStmt& s, const ScopePtr& scope,
                                    std::string& out) {
  std::string captured;
  DSV3_TRY(exec_body(s.body, scope, captured));
  const Value input = Value::string(std::move(captured));
  DSV3_ASSIGN_OR_RETURN(Value filtered, eval_filter(*s.filter, scope, &input));
  out += to_str(filtered);
  DSV3_TRY(check_output(out, s.filter->loc));
  return OkStatus();
}

Result<Evaluator::Flow> Evaluator::exec_with(const WithStmt& s, const ScopePtr& scope,
                                             std::string& out) {
  auto inner = std::make_shared<Scope>(scope);
  for (const auto& [name, expr] : s.assignments) {
    DSV3_ASSIGN_OR_RETURN(Value v, eval(*expr, scope));  // right sides see the outer scope
    inner->set(name, std::move(v));
  }
  return exec_body(s.body, inner, out);
}

// The macro holds its defining scope weakly: the scope holds the macro, and a strong
// reference back would leak both.
void Evaluator::define_macro(const MacroStmt& s, const ScopePtr& scope) {
  std::weak_ptr<Scope> defined_in = scope;
  scope->set(s.name, Value::callable(s.name, [this, &s, defined_in](const CallArgs& args) {
               return call_macro(s, defined_in, args);
             }));
}

Result<Value> Evaluator::call_macro(const MacroStmt& macro, const std::weak_ptr<Scope>& defined_in,
                                    const CallArgs& args) {
  ScopePtr parent = defined_in.lock();
  if (!parent)
    return Err("macro '", macro.name, "' is called after the scope it was defined in ended");
  if (call_depth_ >= kMaxCallDepth) return Err("macro '", macro.name, "' recursion is too deep");
  auto scope = std::make_shared<Scope>(parent);
  std::vector<bool> bound(macro.params.size(), false);
  std::vector<Value> varargs;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < macro.params.size()) {
      scope->set(macro.params[i].name, args.positional[i]);
      bound[i] = true;
    } else {
      varargs.push_back(args.positional[i]);
    }
  }
  Dict kwargs;
  for (const auto& [name, value] : args.keyword) {
    size_t i = 0;
    while (i < macro.params.size() && macro.params[i].name != name) ++i;
    if (i == macro.params.size()) {
      kwargs.set(Value::string(name), value);
      continue;
    }
    if (bound[i])
      return Err("macro '", macro.name, "' got multiple values for argument '", name, "'");
    scope->set(name, value);
    bound[i] = true;
  }
  scope->set("varargs", Value::tuple(std::move(varargs)));
  scope->set("kwargs", Value::dict(std::move(kwargs)));
  for (size_t i = 0; i < macro.params.size(); ++i) {
    if (bound[i]) continue;
    const MacroParam& p = macro.params[i];
    if (!p.default_value) {
      scope->set(p.name, Value::undefined("parameter '" + p.name + "' was not provided"));
      continue;
    }
    DSV3_ASSIGN_OR_RETURN(Value v,
                          eval(*p.default_value, scope));  // defaults may use earlier parameters
    scope->set(p.name, std::move(v));
  }
  std::string out;
  ++call_depth_;
  auto flow = exec_body(macro.body, scope, out);
  --call_depth_;
  if (!flow.ok()) return flow.error();
  return Value::string(std::move(out));
}

}  // namespace dsv3::jinja
