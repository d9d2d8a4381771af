// The parsed form of a template: statements (text, output, if, for, set, macro, ...) holding
// expression trees. Built by the parser, walked by the evaluator, never modified after parsing.
#pragma once

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "template/lexer.h"
#include "template/value.h"

namespace dsv3::jinja {

enum class ExprKind {
  kLiteral,    // literal
  kName,       // name
  kList,       // args: items
  kTuple,      // args: items
  kDict,       // args: key0, value0, key1, value1, ...
  kUnary,      // name: "-" or "+"; args: operand
  kBinary,     // name: operator ("+", "//", "~", ...); args: left, right
  kAnd,        // args: left, right
  kOr,         // args: left, right
  kNot,        // args: operand
  kCompare,    // args: operands; ops: operators between them (Python chains a < b < c)
  kCondition,  // args: value_if_true, condition, value_if_false (may be null)
  kAttribute,  // args: object; name: attribute (obj.name)
  kItem,       // args: object, key (obj[key])
  kSlice,      // args: object, start, stop, step (each may be null)
  kCall,       // args: callee, positional arguments; keywords
  kFilter,     // args: input (null inside {% filter %} / {% set %} blocks), arguments; name
  kTest,       // args: input, arguments; name; negated for "is not"
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Keyword {
  std::string name;
  ExprPtr value;
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  Location loc;
  Value literal;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<Keyword> keywords;
  std::vector<std::string> ops;
  bool negated = false;
};

struct Stmt;
using Body = std::vector<Stmt>;

// Left side of `for ... in` and `set ... =`: one name, several names to unpack, or
// `ns.attribute` to assign on a namespace.
struct AssignTarget {
  std::vector<std::string> names;
  std::string attribute;  // non-empty for ns.attribute
  bool unpack = false;    // true for "a, b" even with one name ("a,")
};

struct TextStmt {
  std::string text;
};
struct OutputStmt {
  ExprPtr value;
};
struct IfBranch {
  ExprPtr condition;
  Body body;
};
struct IfStmt {
  std::vector<IfBranch> branches;
  Body else_body;
};
struct ForStmt {
  AssignTarget target;
  ExprPtr iterable;
  ExprPtr filter;  // `for x in xs if cond`; may be null
  Body body;
  Body else_body;  // runs when nothing was iterated
};
struct SetStmt {
  AssignTarget target;
  ExprPtr value;
};
// {% set x | filter %}...{% endset %}: captures the rendered body.
struct SetBlockStmt {
  AssignTarget target;
  ExprPtr filter;  // kFilter chain whose innermost input is null; may be null
  Body body;
};
struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};
struct MacroStmt {
  std::string name;
  std::vector<MacroParam> params;
  Body body;
};
struct LoopControlStmt {
  bool is_break = false;
};
struct FilterBlockStmt {
  ExprPtr filter;  // kFilter chain whose innermost input is null
  Body body;
};
struct WithStmt {
  std::vector<std::pair<std::string, ExprPtr>> assignments;
  Body body;
};
// transformers' {% generation %} marks assistant text for masks; it renders its body.
struct GenerationStmt {
  Body body;
};

struct Stmt {
  Location loc;
  std::variant<TextStmt, OutputStmt, IfStmt, ForStmt, SetStmt, SetBlockStmt, MacroStmt,
               LoopControlStmt, FilterBlockStmt, WithStmt, GenerationStmt>
      node;
};

struct Template {
  Body body;
};

}  // namespace dsv3::jinja
