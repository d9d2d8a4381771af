// Walks the AST against variable scopes and writes the output. Statements are executed in
// execute.cc, expressions evaluated in evaluate.cc, global functions live in globals.cc.
//
// Scoping follows Jinja2: `if` shares its enclosing scope; each iteration of a `for` loop,
// each macro call and each `with` block gets a fresh child scope, so `{% set %}` inside a loop
// does not outlive the iteration. State that must carry across iterations goes through a
// namespace() object, which is shared by reference.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "template/ast.h"
#include "template/options.h"
#include "template/value.h"
#include "util/result.h"

namespace dsv3::jinja {

class Scope {
 public:
  explicit Scope(std::shared_ptr<Scope> parent = nullptr) : parent_(std::move(parent)) {}

  // Looks the name up here, then in the enclosing scopes.
  const Value* find(std::string_view name) const;
  void set(const std::string& name, Value value) { vars_[name] = std::move(value); }

 private:
  std::shared_ptr<Scope> parent_;
  std::map<std::string, Value, std::less<>> vars_;
};
using ScopePtr = std::shared_ptr<Scope>;

// Defines the global functions every template sees: range, namespace, dict,
// raise_exception (transformers) and strftime_now (transformers).
void add_globals(Scope& scope);

class Evaluator {
 public:
  explicit Evaluator(const RenderLimits& limits = {}) : limits_(limits) {}
  Result<std::string> render(const Template& tmpl, const ScopePtr& scope);

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  // --- statements (execute.cc) ---
  Result<Flow> exec_body(const Body& body, const ScopePtr& scope, std::string& out);
  Result<Flow> exec(const Stmt& stmt, const ScopePtr& scope, std::string& out);
  Result<Flow> exec_if(const IfStmt& s, const ScopePtr& scope, std::string& out);
  Result<Flow> exec_for(const ForStmt& s, Location loc, const ScopePtr& scope, std::string& out);
  Status exec_set(const SetStmt& s, Location loc, const ScopePtr& scope);
  Status exec_set_block(const SetBlockStmt& s, Location loc, const ScopePtr& scope);
  Status exec_filter_block(const FilterBlockStmt& s, const ScopePtr& scope, std::string& out);
  Result<Flow> exec_with(const WithStmt& s, const ScopePtr& scope, std::string& out);
  void define_macro(const MacroStmt& s, const ScopePtr& scope);
  Result<Value> call_macro(const MacroStmt& macro, const std::weak_ptr<Scope>& defined_in,
                           const CallArgs& args);
  Status assign(const AssignTarget& target, Value value, Location loc, const ScopePtr& scope);
  Result<std::vector<Value>> loop_items(const ForStmt& s, Location loc, const ScopePtr& scope);

  // --- the work budget (see RenderLimits) ---
  Status spend_step(Location loc);
  Status check_output(const std::string& out, Location loc) const;

  // --- expressions (evaluate.cc) ---
  // eval() counts a step, bounds recursion, the nesting of the value and the size of strings;
  // eval_node() does the work.
  Result<Value> eval(const Expr& e, const ScopePtr& scope);
  Result<Value> eval_node(const Expr& e, const ScopePtr& scope);
  Result<Value> eval_compare(const Expr& e, const ScopePtr& scope);
  Result<Value> eval_condition(const Expr& e, const ScopePtr& scope);
  Result<Value> eval_dict(const Expr& e, const ScopePtr& scope);
  Result<Value> eval_slice(const Expr& e, const ScopePtr& scope);
  Result<Value> eval_call(const Expr& e, const ScopePtr& scope);
  // Applies a filter; `input` replaces a null input expression ({% filter %}, {% set %} blocks).
  Result<Value> eval_filter(const Expr& e, const ScopePtr& scope, const Value* input);
  Result<Value> eval_test(const Expr& e, const ScopePtr& scope);
  Result<CallArgs> eval_args(const Expr& e, const ScopePtr& scope);

  const RenderLimits limits_;
  int64_t steps_ = 0;
  int eval_depth_ = 0;
  int call_depth_ = 0;  // macro recursion guard
};

}  // namespace dsv3::jinja
