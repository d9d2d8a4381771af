// Recursive-descent parser from tokens to the AST, following Jinja2's grammar and operator
// precedence (jinja2/parser.py). Statements are in parse_statement.cc, expressions in
// parse_expression.cc.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "template/ast.h"
#include "template/lexer.h"
#include "util/result.h"

namespace dsv3::jinja {

Result<Template> parse_template(std::vector<Token> tokens);

// Counts parser recursion (nested blocks and sub-expressions) for the lifetime of one call,
// so a hostile template fails with an error instead of overflowing the stack.
class NestingGuard {
 public:
  static constexpr int kMaxNesting = 200;
  explicit NestingGuard(int* depth) : depth_(depth) { ++*depth_; }
  ~NestingGuard() { --*depth_; }
  NestingGuard(const NestingGuard&) = delete;
  NestingGuard& operator=(const NestingGuard&) = delete;
  bool too_deep() const { return *depth_ > kMaxNesting; }

 private:
  int* depth_;
};

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Result<Template> parse();

 private:
  // --- token access ---
  const Token& peek(size_t ahead = 0) const;
  const Token& next();
  bool at_op(std::string_view op, size_t ahead = 0) const;
  bool at_name(std::string_view name, size_t ahead = 0) const;
  bool accept_op(std::string_view op);
  bool accept_name(std::string_view name);
  Status expect_op(std::string_view op, std::string_view context);
  Result<std::string> expect_name(std::string_view context);
  Status expect_block_end(std::string_view tag);
  Error fail(const Token& token, std::string_view expected) const;

  // --- statements (parse_statement.cc) ---
  // Parses statements until a block tag named in `end_tags`; leaves the position after that
  // tag's name and stores the name in *found.
  Result<Body> parse_body(std::initializer_list<std::string_view> end_tags, std::string* found,
                          const Token& opener);
  Result<Stmt> parse_statement();
  Result<Stmt> parse_if(Location loc);
  Result<Stmt> parse_for(Location loc);
  Result<Stmt> parse_set(Location loc);
  Result<Stmt> parse_macro(Location loc);
  Result<Stmt> parse_filter_block(Location loc);
  Result<Stmt> parse_with(Location loc);
  Result<Stmt> parse_generation(Location loc);
  Result<Stmt> parse_loop_control(Location loc, bool is_break);
  Result<AssignTarget> parse_assign_target(bool allow_attribute);
  Result<ExprPtr> parse_filter_chain(ExprPtr input);

  // --- expressions (parse_expression.cc) ---
  Result<ExprPtr> parse_tuple(bool with_condition, bool explicit_parentheses = false);
  Result<ExprPtr> parse_expression(bool with_condition = true);
  Result<ExprPtr> parse_condition();
  Result<ExprPtr> parse_or();
  Result<ExprPtr> parse_and();
  Result<ExprPtr> parse_not();
  Result<ExprPtr> parse_compare();
  Result<ExprPtr> parse_math1();
  Result<ExprPtr> parse_concat();
  Result<ExprPtr> parse_math2();
  Result<ExprPtr> parse_pow();
  Result<ExprPtr> parse_unary(bool with_filter);
  Result<ExprPtr> parse_primary();
  Result<ExprPtr> parse_list(Location loc);
  Result<ExprPtr> parse_dict(Location loc);
  Result<ExprPtr> parse_postfix(ExprPtr node);
  Result<ExprPtr> parse_filter_expr(ExprPtr node);
  Result<ExprPtr> parse_subscript(ExprPtr node);
  Result<ExprPtr> parse_slice_or_index(ExprPtr node, Location loc);
  Status parse_call_args(Expr& call);
  Result<ExprPtr> parse_filter(ExprPtr node);
  Result<ExprPtr> parse_filter_call(ExprPtr input, Location loc);
  Result<ExprPtr> parse_test(ExprPtr node);
  bool at_expression_end() const;

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int loop_depth_ = 0;  // break/continue are only allowed inside for loops
  int nesting_ = 0;     // see NestingGuard
};

}  // namespace dsv3::jinja
