// Expression grammar, loosest binding first (as jinja2/parser.py):
//   condition: or ['if' or ['else' condition]]
//   or: and ('or' and)*          and: not ('and' not)*       not: 'not' not | compare
//   compare: math1 (('=='|'!='|'<'|'<='|'>'|'>='|'in'|'not in') math1)*
//   math1: concat (('+'|'-') concat)*     concat: math2 ('~' math2)*
//   math2: pow (('*'|'/'|'//'|'%') pow)*  pow: unary ('**' unary)*
//   unary: ('-'|'+') unary | primary postfix* (filter | test | call)*
#include <string>

#include "template/parser.h"

namespace dsv3::jinja {

namespace {

ExprPtr make_expr(ExprKind kind, Location loc) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->loc = loc;
  return e;
}

ExprPtr make_binary(ExprKind kind, std::string op, ExprPtr left, ExprPtr right) {
  ExprPtr e = make_expr(kind, left->loc);
  e->name = std::move(op);
  e->args.push_back(std::move(left));
  e->args.push_back(std::move(right));
  return e;
}

}  // namespace

// Tokens that end an expression list: closing brackets, tag ends, and the keywords that
// continue a statement.
bool Parser::at_expression_end() const {
  const Token& t = peek();
  if (t.kind == TokenKind::kVariableEnd || t.kind == TokenKind::kBlockEnd ||
      t.kind == TokenKind::kEnd) {
    return true;
  }
  return at_op(")") || at_op("]") || at_op("}") || at_op("=") || at_name("in") || at_name("if") ||
         at_name("recursive");
}

Result<ExprPtr> Parser::parse_tuple(bool with_condition, bool explicit_parentheses) {
  const Location loc = peek().loc;
  std::vector<ExprPtr> items;
  bool saw_comma = false;
  while (true) {
    if (!items.empty()) {
      if (!accept_op(",")) break;
      saw_comma = true;
    }
    if (at_expression_end()) {
      if (items.empty() && !explicit_parentheses) return fail(peek(), "an expression");
      break;
    }
    DSV3_ASSIGN_OR_RETURN(ExprPtr item, parse_expression(with_condition));
    items.push_back(std::move(item));
  }
  if (!saw_comma && items.size() == 1) return std::move(items[0]);
  if (items.empty() && !explicit_parentheses) return fail(peek(), "an expression");
  ExprPtr tuple = make_expr(ExprKind::kTuple, loc);
  tuple->args = std::move(items);
  return tuple;
}

Result<ExprPtr> Parser::parse_expression(bool with_condition) {
  return with_condition ? parse_condition() : parse_or();
}

Result<ExprPtr> Parser::parse_condition() {
  DSV3_ASSIGN_OR_RETURN(ExprPtr value, parse_or());
  while (at_name("if")) {
    next();
    DSV3_ASSIGN_OR_RETURN(ExprPtr condition, parse_or());
    ExprPtr otherwise;
    if (accept_name("else")) {
      DSV3_ASSIGN_OR_RETURN(otherwise, parse_condition());
    }
    ExprPtr e = make_expr(ExprKind::kCondition, value->loc);
    e->args.push_back(std::move(value));
    e->args.push_back(std::move(condition));
    e->args.push_back(std::move(otherwise));
    value = std::move(e);
  }
  return value;
}

Result<ExprPtr> Parser::parse_or() {
  DSV3_ASSIGN_OR_RETURN(ExprPtr left, parse_and());
  while (accept_name("or")) {
    DSV3_ASSIGN_OR_RETURN(ExprPtr right, parse_and());
    left = make_binary(ExprKind::kOr, "or", std::move(left), std::move(right));
  }
  return left;
}

Result<ExprPtr> Parser::parse_and() {
  DSV3_ASSIGN_OR_RETURN(ExprPtr left, parse_not());
  while (accept_name("and")) {
    DSV3_ASSIGN_OR_RETURN(ExprPtr right, parse_not());
    left = make_binary(ExprKind::kAnd, "and", std::move(left), std::move(right));
  }
  return left;
}

Result<ExprPtr> Parser::parse_not() {
  if (!at_name("not")) return parse_compare();
  NestingGuard guard(&nesting_);
  if (guard.too_deep()) return Err(at(peek().loc), "expression is nested too deeply");
  const Location loc = next().loc;
  DSV3_ASSIGN_OR_RETURN(ExprPtr operand, parse_not());
  ExprPtr e = make_expr(ExprKind::kNot, loc);
  e->args.push_back(std::move(operand));
  return e;
}

Result<ExprPtr> Parser::parse_compare() {
  DSV3_ASSIGN_OR_RETURN(ExprPtr first, parse_math1());
  ExprPtr compare;
  while (true) {
    std::string op;
    const Token& t = peek();
    if (t.kind == TokenKind::kOperator && (t.text == "==" || t.text == "!=" || t.text == "<" ||
                                           t.text == "<=" || t.text == ">" || t.text == ">=")) {
      op = next().text;
    } else if (at_name("in")) {
      next();
      op = "in";
    } else if (at_name("not") && at_name("in", 1)) {
      next();
      next();
      op = "not in";
    } else {
      break;
    }
    DSV3_ASSIGN_OR_RETURN(ExprPtr operand, parse_math1());
    if (!compare) {
      compare = make_expr(ExprKind::kCompare, first->loc);
      compare->args.push_back(std::move(first));
    }
    compare->ops.push_back(std::move(op));
    compare->args.push_back(std::move(operand));
  }
  return compare ? std::move(compare) : std::move(first);
}

Result<ExprPtr> Parser::parse_math1() {
  DSV3_ASSIGN_OR_RETURN(ExprPtr left, parse_concat());
  while (at_op("+") || at_op("-")) {
    std::string op = next().text;
    DSV3_ASSIGN_OR_RETURN(ExprPtr right, parse_concat());
    left = make_binary(ExprKind::kBinary, std::move(op), std::move(left), std::move(right));
  }
  return left;
}

Result<ExprPtr> Parser::parse_concat() {
  DSV3_ASSIGN_OR_RETURN(ExprPtr left, parse_math2());
  while (accept_op("~")) {
    DSV3_ASSIGN_OR_RETURN(ExprPtr right, parse_math2());
    left = make_binary(ExprKind::kBinary, "~", std::move(left), std::move(right));
  }
  return left;
}

Result<ExprPtr> Parser::parse_math2() {
  DSV3_ASSIGN_OR_RETURN(ExprPtr left, parse_pow());
  while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
    std::string op = next().text;
    DSV3_ASSIGN_OR_RETURN(ExprPtr right, parse_pow());
    left = make_binary(ExprKind::kBinary, std::move(op), std::move(left), std::move(right));
  }
  return left;
}

// Jinja2 parses ** left-associatively (2 ** 3 ** 2 == 64), unlike Python.
Result<ExprPtr> Parser::parse_pow() {
  DSV3_ASSIGN_OR_RETURN(ExprPtr left, parse_unary(true));
  while (accept_op("**")) {
    DSV3_ASSIGN_OR_RETURN(ExprPtr right, parse_unary(true));
    left = make_binary(ExprKind::kBinary, "**", std::move(left), std::move(right));
  }
  return left;
}

Result<ExprPtr> Parser::parse_unary(bool with_filter) {
  NestingGuard guard(&nesting_);
  if (guard.too_deep()) return Err(at(peek().loc), "expression is nested too deeply");
  ExprPtr node;
  if (at_op("-") || at_op("+")) {
    const Token& op = next();
    node = make_expr(ExprKind::kUnary, op.loc);
    node->name = op.text;
    DSV3_ASSIGN_OR_RETURN(ExprPtr operand, parse_unary(false));
    node->args.push_back(std::move(operand));
  } else {
    DSV3_ASSIGN_OR_RETURN(node, parse_primary());
  }
  DSV3_ASSIGN_OR_RETURN(node, parse_postfix(std::move(node)));
  if (with_filter) {
    DSV3_ASSIGN_OR_RETURN(node, parse_filter_expr(std::move(node)));
  }
  return node;
}

Result<ExprPtr> Parser::parse_primary() {
  const Token& t = peek();
  const Location loc = t.loc;
  switch (t.kind) {
    case TokenKind::kName: {
      const std::string& n = t.text;
      ExprPtr e = make_expr(ExprKind::kLiteral, loc);
      if (n == "true" || n == "True") {
        e->literal = Value::boolean(true);
      } else if (n == "false" || n == "False") {
        e->literal = Value::boolean(false);
      } else if (n == "none" || n == "None") {
        e->literal = Value::none();
      } else {
        e->kind = ExprKind::kName;
        e->name = n;
      }
      next();
      return e;
    }
    case TokenKind::kString: {
      std::string s;
      while (peek().kind == TokenKind::kString) s += next().text;  // 'a' 'b' == 'ab'
      ExprPtr e = make_expr(ExprKind::kLiteral, loc);
      e->literal = Value::string(std::move(s));
      return e;
    }
    case TokenKind::kInteger:
    case TokenKind::kFloat: {
      ExprPtr e = make_expr(ExprKind::kLiteral, loc);
      e->literal =
          t.kind == TokenKind::kInteger ? Value::integer(t.integer) : Value::number(t.number);
      next();
      return e;
    }
    default:
      break;
  }
  if (accept_op("(")) {
    DSV3_ASSIGN_OR_RETURN(ExprPtr inner, parse_tuple(true, true));
    DSV3_TRY(expect_op(")", "to close '('"));
    return inner;
  }
  if (accept_op("[")) return parse_list(loc);
  if (accept_op("{")) return parse_dict(loc);
  return fail(t, "an expression");
}

Result<ExprPtr> Parser::parse_list(Location loc) {
  ExprPtr list = make_expr(ExprKind::kList, loc);
  while (!at_op("]")) {
    if (!list->args.empty()) {
      DSV3_TRY(expect_op(",", "between list items"));
      if (at_op("]")) break;
    }
    DSV3_ASSIGN_OR_RETURN(ExprPtr item, parse_expression());
    list->args.push_back(std::move(item));
  }
  next();
  return list;
}

Result<ExprPtr> Parser::parse_dict(Location loc) {
  ExprPtr dict = make_expr(ExprKind::kDict, loc);
  while (!at_op("}")) {
    if (!dict->args.empty()) {
      DSV3_TRY(expect_op(",", "between dict items"));
      if (at_op("}")) break;
    }
    DSV3_ASSIGN_OR_RETURN(ExprPtr key, parse_expression());
    DSV3_TRY(expect_op(":", "after a dict key"));
    DSV3_ASSIGN_OR_RETURN(ExprPtr value, parse_expression());
    dict->args.push_back(std::move(key));
    dict->args.push_back(std::move(value));
  }
  next();
  return dict;
}

Result<ExprPtr> Parser::parse_postfix(ExprPtr node) {
  while (true) {
    if (at_op(".") || at_op("[")) {
      DSV3_ASSIGN_OR_RETURN(node, parse_subscript(std::move(node)));
    } else if (at_op("(")) {
      ExprPtr call = make_expr(ExprKind::kCall, node->loc);  // errors point at the callee
      call->args.push_back(std::move(node));
      DSV3_TRY(parse_call_args(*call));
      node = std::move(call);
    } else {
      return node;
    }
  }
}

Result<ExprPtr> Parser::parse_filter_expr(ExprPtr node) {
  while (true) {
    if (at_op("|")) {
      DSV3_ASSIGN_OR_RETURN(node, parse_filter(std::move(node)));
    } else if (at_name("is")) {
      DSV3_ASSIGN_OR_RETURN(node, parse_test(std::move(node)));
    } else if (at_op("(")) {
      ExprPtr call = make_expr(ExprKind::kCall, node->loc);  // errors point at the callee
      call->args.push_back(std::move(node));
      DSV3_TRY(parse_call_args(*call));
      node = std::move(call);
    } else {
      return node;
    }
  }
}

Result<ExprPtr> Parser::parse_subscript(ExprPtr node) {
  const Token& t = next();
  const Location loc = t.loc;
  if (t.text == ".") {
    const Token& attr = next();
    if (attr.kind == TokenKind::kName) {
      ExprPtr e = make_expr(ExprKind::kAttribute, loc);
      e->name = attr.text;
      e->args.push_back(std::move(node));
      return e;
    }
    if (attr.kind == TokenKind::kInteger) {  // x.0 is x[0]
      ExprPtr e = make_expr(ExprKind::kItem, loc);
      ExprPtr key = make_expr(ExprKind::kLiteral, attr.loc);
      key->literal = Value::integer(attr.integer);
      e->args.push_back(std::move(node));
      e->args.push_back(std::move(key));
      return e;
    }
    return fail(attr, "an attribute name after '.'");
  }
  return parse_slice_or_index(std::move(node), loc);
}

// After '[': either an index expression or a slice start:stop:step.
Result<ExprPtr> Parser::parse_slice_or_index(ExprPtr node, Location loc) {
  ExprPtr parts[3];
  int part = 0;
  bool is_slice = false;
  while (true) {
    if (at_op(":")) {
      next();
      is_slice = true;
      if (++part > 2) return fail(peek(), "']' (a slice has at most start:stop:step)");
      continue;
    }
    if (at_op("]")) break;
    if (parts[part]) return fail(peek(), "':' or ']'");
    DSV3_ASSIGN_OR_RETURN(parts[part], parse_expression());
  }
  next();  // ']'
  if (!is_slice) {
    if (!parts[0]) return fail(peek(), "an index inside '[]'");
    ExprPtr e = make_expr(ExprKind::kItem, loc);
    e->args.push_back(std::move(node));
    e->args.push_back(std::move(parts[0]));
    return e;
  }
  ExprPtr e = make_expr(ExprKind::kSlice, loc);
  e->args.push_back(std::move(node));
  for (ExprPtr& p : parts) e->args.push_back(std::move(p));
  return e;
}

// '(' [arg {',' arg}] ')' where arg is an expression or name=expression.
Status Parser::parse_call_args(Expr& call) {
  DSV3_TRY(expect_op("(", "to start arguments"));
  bool first = true;
  while (!at_op(")")) {
    if (!first) {
      DSV3_TRY(expect_op(",", "between arguments"));
      if (at_op(")")) break;
    }
    first = false;
    if (at_op("*") || at_op("**"))
      return Err(at(peek().loc), "*args and **kwargs in calls are not supported");
    if (peek().kind == TokenKind::kName && at_op("=", 1)) {
      std::string name = next().text;
      next();
      DSV3_ASSIGN_OR_RETURN(ExprPtr value, parse_expression());
      call.keywords.push_back(Keyword{std::move(name), std::move(value)});
      continue;
    }
    if (!call.keywords.empty())
      return Err(at(peek().loc), "positional argument follows keyword argument");
    DSV3_ASSIGN_OR_RETURN(ExprPtr value, parse_expression());
    call.args.push_back(std::move(value));
  }
  next();  // ')'
  return OkStatus();
}

Result<ExprPtr> Parser::parse_filter(ExprPtr node) {
  const Location loc = next().loc;  // '|'
  return parse_filter_call(std::move(node), loc);
}

// name ['.' name]* ['(' args ')'], the part after '|' (or after {% filter).
Result<ExprPtr> Parser::parse_filter_call(ExprPtr input, Location loc) {
  DSV3_ASSIGN_OR_RETURN(std::string name, expect_name("for a filter"));
  while (accept_op(".")) {
    DSV3_ASSIGN_OR_RETURN(std::string part, expect_name("after '.' in a filter name"));
    name += "." + part;
  }
  ExprPtr filter = make_expr(ExprKind::kFilter, loc);
  filter->name = std::move(name);
  filter->args.push_back(std::move(input));
  if (at_op("(")) DSV3_TRY(parse_call_args(*filter));
  return filter;
}

// 'is' ['not'] name [ '(' args ')' | one primary argument ]
Result<ExprPtr> Parser::parse_test(ExprPtr node) {
  const Location loc = next().loc;  // 'is'
  const bool negated = accept_name("not");
  DSV3_ASSIGN_OR_RETURN(std::string name, expect_name("after 'is'"));
  while (accept_op(".")) {
    DSV3_ASSIGN_OR_RETURN(std::string part, expect_name("after '.' in a test name"));
    name += "." + part;
  }
  ExprPtr test = make_expr(ExprKind::kTest, loc);
  test->name = std::move(name);
  test->negated = negated;
  test->args.push_back(std::move(node));
  if (at_op("(")) {
    DSV3_TRY(parse_call_args(*test));
    return test;
  }
  // `x is divisibleby 3`: one argument without parentheses, as Jinja2 allows.
  const Token& t = peek();
  const bool starts_primary = t.kind == TokenKind::kString || t.kind == TokenKind::kInteger ||
                              t.kind == TokenKind::kFloat || at_op("[") || at_op("{") ||
                              (t.kind == TokenKind::kName && t.text != "else" && t.text != "or" &&
                               t.text != "and" && t.text != "if" && t.text != "in" &&
                               t.text != "not" && t.text != "is" && t.text != "recursive");
  if (starts_primary) {
    DSV3_ASSIGN_OR_RETURN(ExprPtr arg, parse_primary());
    DSV3_ASSIGN_OR_RETURN(arg, parse_postfix(std::move(arg)));
    test->args.push_back(std::move(arg));
  }
  return test;
}

}  // namespace dsv3::jinja
