// Statement tags: if/elif/else, for/else, set (expression and block forms), macro,
// filter, with, generation, break/continue; and the token helpers the parser shares.
#include <algorithm>
#include <string>

#include "template/parser.h"

namespace dsv3::jinja {

namespace {

// Tags that only make sense closing or continuing an enclosing block.
constexpr std::string_view kContinuationTags[] = {
    "elif",      "else",    "endif",         "endfor", "endset",  "endmacro",
    "endfilter", "endwith", "endgeneration", "endraw", "endcall", "endblock"};

// Real Jinja2 tags this engine does not implement; named so the error says so plainly.
constexpr std::string_view kUnsupportedTags[] = {"include", "import",   "from", "extends",
                                                 "block",   "call",     "do",   "autoescape",
                                                 "trans",   "pluralize"};

bool contains(std::initializer_list<std::string_view> list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::string join_tags(std::initializer_list<std::string_view> tags) {
  std::string out;
  for (std::string_view t : tags) {
    if (!out.empty()) out += " or ";
    out += "'" + std::string(t) + "'";
  }
  return out;
}

}  // namespace

Result<Template> parse_template(std::vector<Token> tokens) {
  return Parser(std::move(tokens)).parse();
}

Result<Template> Parser::parse() {
  Template tmpl;
  std::string found;
  DSV3_ASSIGN_OR_RETURN(tmpl.body, parse_body({}, &found, peek()));
  return tmpl;
}

// --- token helpers ---

const Token& Parser::peek(size_t ahead) const {
  const size_t i = std::min(pos_ + ahead, tokens_.size() - 1);  // the last token is kEnd
  return tokens_[i];
}

const Token& Parser::next() {
  const Token& t = peek();
  if (pos_ < tokens_.size() - 1) ++pos_;
  return t;
}

bool Parser::at_op(std::string_view op, size_t ahead) const {
  const Token& t = peek(ahead);
  return t.kind == TokenKind::kOperator && t.text == op;
}

bool Parser::at_name(std::string_view name, size_t ahead) const {
  const Token& t = peek(ahead);
  return t.kind == TokenKind::kName && t.text == name;
}

bool Parser::accept_op(std::string_view op) {
  if (!at_op(op)) return false;
  next();
  return true;
}

bool Parser::accept_name(std::string_view name) {
  if (!at_name(name)) return false;
  next();
  return true;
}

Error Parser::fail(const Token& token, std::string_view expected) const {
  return Err(at(token.loc), "expected ", std::string(expected), ", found ", describe(token));
}

Status Parser::expect_op(std::string_view op, std::string_view context) {
  if (accept_op(op)) return OkStatus();
  return fail(peek(), "'" + std::string(op) + "' " + std::string(context));
}

Result<std::string> Parser::expect_name(std::string_view context) {
  if (peek().kind != TokenKind::kName) return fail(peek(), "a name " + std::string(context));
  return next().text;
}

Status Parser::expect_block_end(std::string_view tag) {
  if (peek().kind == TokenKind::kBlockEnd) {
    next();
    return OkStatus();
  }
  return fail(peek(), "'%}' to end the '" + std::string(tag) + "' tag");
}

// --- statements ---

Result<Body> Parser::parse_body(std::initializer_list<std::string_view> end_tags,
                                std::string* found, const Token& opener) {
  NestingGuard guard(&nesting_);
  if (guard.too_deep()) return Err(at(opener.loc), "blocks are nested too deeply");
  Body body;
  while (true) {
    const Token& t = peek();
    if (t.kind == TokenKind::kEnd) {
      if (end_tags.size() == 0) return body;
      return Err(at(opener.loc), "'", opener.text,
                 "' tag is never closed: reached the end of the template ", "looking for ",
                 join_tags(end_tags));
    }
    if (t.kind == TokenKind::kText) {
      body.push_back(Stmt{t.loc, TextStmt{next().text}});
      continue;
    }
    if (t.kind == TokenKind::kVariableBegin) {
      const Location loc = next().loc;
      DSV3_ASSIGN_OR_RETURN(ExprPtr value, parse_tuple(true));
      if (peek().kind != TokenKind::kVariableEnd) return fail(peek(), "'}}'");
      next();
      body.push_back(Stmt{loc, OutputStmt{std::move(value)}});
      continue;
    }
    if (t.kind != TokenKind::kBlockBegin) return fail(t, "template text or a tag");
    const Token& name = peek(1);
    if (name.kind == TokenKind::kName && contains(end_tags, name.text)) {
      next();
      *found = next().text;
      return body;
    }
    DSV3_ASSIGN_OR_RETURN(Stmt stmt, parse_statement());
    body.push_back(std::move(stmt));
  }
}

Result<Stmt> Parser::parse_statement() {
  const Location loc = next().loc;  // '{%'
  const Token& name_token = peek();
  if (name_token.kind != TokenKind::kName) return fail(name_token, "a tag name after '{%'");
  const std::string name = name_token.text;
  if (name == "if") return parse_if(loc);
  if (name == "for") return parse_for(loc);
  if (name == "set") return parse_set(loc);
  if (name == "macro") return parse_macro(loc);
  if (name == "filter") return parse_filter_block(loc);
  if (name == "with") return parse_with(loc);
  if (name == "generation") return parse_generation(loc);
  if (name == "break" || name == "continue") return parse_loop_control(loc, name == "break");
  for (std::string_view tag : kContinuationTags) {
    if (name == tag)
      return Err(at(name_token.loc), "unexpected '{% ", name,
                 " %}': no open block expects it here");
  }
  for (std::string_view tag : kUnsupportedTags) {
    if (name == tag) return Err(at(name_token.loc), "the '{% ", name, " %}' tag is not supported");
  }
  return Err(at(name_token.loc), "unknown tag '", name, "'");
}

Result<Stmt> Parser::parse_if(Location loc) {
  const Token opener = next();  // 'if'
  IfStmt stmt;
  std::string found = "if";
  while (found == "if" || found == "elif") {
    IfBranch branch;
    DSV3_ASSIGN_OR_RETURN(branch.condition, parse_tuple(false));
    DSV3_TRY(expect_block_end(found));
    DSV3_ASSIGN_OR_RETURN(branch.body, parse_body({"elif", "else", "endif"}, &found, opener));
    stmt.branches.push_back(std::move(branch));
  }
  if (found == "else") {
    DSV3_TRY(expect_block_end("else"));
    DSV3_ASSIGN_OR_RETURN(stmt.else_body, parse_body({"endif"}, &found, opener));
  }
  DSV3_TRY(expect_block_end("endif"));
  return Stmt{loc, std::move(stmt)};
}

Result<Stmt> Parser::parse_for(Location loc) {
  const Token opener = next();  // 'for'
  ForStmt stmt;
  DSV3_ASSIGN_OR_RETURN(stmt.target, parse_assign_target(false));
  if (!accept_name("in")) return fail(peek(), "'in' in the 'for' tag");
  DSV3_ASSIGN_OR_RETURN(stmt.iterable, parse_tuple(false));
  if (accept_name("if")) {
    DSV3_ASSIGN_OR_RETURN(stmt.filter, parse_expression());
  }
  if (at_name("recursive")) return Err(at(peek().loc), "recursive for loops are not supported");
  DSV3_TRY(expect_block_end("for"));
  std::string found;
  ++loop_depth_;
  auto body = parse_body({"else", "endfor"}, &found, opener);
  --loop_depth_;
  if (!body.ok()) return body.error();
  stmt.body = std::move(body.value());
  if (found == "else") {
    DSV3_TRY(expect_block_end("else"));
    DSV3_ASSIGN_OR_RETURN(stmt.else_body, parse_body({"endfor"}, &found, opener));
  }
  DSV3_TRY(expect_block_end("endfor"));
  return Stmt{loc, std::move(stmt)};
}

// name | name ',' name ... | '(' names ')' | name '.' attribute (namespaces, for set only)
Result<AssignTarget> Parser::parse_assign_target(bool allow_attribute) {
  AssignTarget target;
  const bool parenthesized = accept_op("(");
  DSV3_ASSIGN_OR_RETURN(std::string first, expect_name("to assign to"));
  target.names.push_back(std::move(first));
  if (allow_attribute && !parenthesized && at_op(".")) {
    next();
    DSV3_ASSIGN_OR_RETURN(target.attribute, expect_name("after '.'"));
    return target;
  }
  while (accept_op(",")) {
    target.unpack = true;
    if (peek().kind != TokenKind::kName || at_name("in")) break;  // trailing comma
    target.names.push_back(next().text);
  }
  if (parenthesized) DSV3_TRY(expect_op(")", "to close the assignment target"));
  return target;
}

Result<ExprPtr> Parser::parse_filter_chain(ExprPtr input) {
  ExprPtr chain = std::move(input);
  while (at_op("|")) {
    DSV3_ASSIGN_OR_RETURN(chain, parse_filter(std::move(chain)));
  }
  return chain;
}

Result<Stmt> Parser::parse_set(Location loc) {
  const Token opener = next();  // 'set'
  DSV3_ASSIGN_OR_RETURN(AssignTarget target, parse_assign_target(true));
  if (accept_op("=")) {
    SetStmt stmt{std::move(target), nullptr};
    DSV3_ASSIGN_OR_RETURN(stmt.value, parse_tuple(true));
    DSV3_TRY(expect_block_end("set"));
    return Stmt{loc, std::move(stmt)};
  }
  SetBlockStmt stmt;
  stmt.target = std::move(target);
  if (at_op("|")) {
    // The chain starts from a null input, filled with the captured text when it runs.
    DSV3_ASSIGN_OR_RETURN(stmt.filter, parse_filter_chain(nullptr));
  }
  if (peek().kind != TokenKind::kBlockEnd) return fail(peek(), "'=' or '%}' in the 'set' tag");
  next();
  std::string found;
  DSV3_ASSIGN_OR_RETURN(stmt.body, parse_body({"endset"}, &found, opener));
  DSV3_TRY(expect_block_end("endset"));
  return Stmt{loc, std::move(stmt)};
}

Result<Stmt> Parser::parse_macro(Location loc) {
  const Token opener = next();  // 'macro'
  MacroStmt stmt;
  DSV3_ASSIGN_OR_RETURN(stmt.name, expect_name("for the macro"));
  DSV3_TRY(expect_op("(", "after the macro name"));
  while (!at_op(")")) {
    if (!stmt.params.empty()) DSV3_TRY(expect_op(",", "between macro parameters"));
    MacroParam param;
    DSV3_ASSIGN_OR_RETURN(param.name, expect_name("for a macro parameter"));
    if (accept_op("=")) {
      DSV3_ASSIGN_OR_RETURN(param.default_value, parse_expression());
    } else if (!stmt.params.empty() && stmt.params.back().default_value) {
      return Err(at(peek().loc), "macro parameter '", param.name,
                 "' without a default follows one with a default");
    }
    stmt.params.push_back(std::move(param));
  }
  next();  // ')'
  DSV3_TRY(expect_block_end("macro"));
  std::string found;
  const int saved_loop_depth = loop_depth_;
  loop_depth_ = 0;  // a loop around the definition does not make break legal inside it
  auto body = parse_body({"endmacro"}, &found, opener);
  loop_depth_ = saved_loop_depth;
  if (!body.ok()) return body.error();
  stmt.body = std::move(body.value());
  if (peek().kind == TokenKind::kName && peek().text == stmt.name) next();  // {% endmacro name %}
  DSV3_TRY(expect_block_end("endmacro"));
  return Stmt{loc, std::move(stmt)};
}

Result<Stmt> Parser::parse_filter_block(Location loc) {
  const Token opener = next();  // 'filter'
  FilterBlockStmt stmt;
  DSV3_ASSIGN_OR_RETURN(stmt.filter, parse_filter_call(nullptr, opener.loc));
  DSV3_ASSIGN_OR_RETURN(stmt.filter, parse_filter_chain(std::move(stmt.filter)));
  DSV3_TRY(expect_block_end("filter"));
  std::string found;
  DSV3_ASSIGN_OR_RETURN(stmt.body, parse_body({"endfilter"}, &found, opener));
  DSV3_TRY(expect_block_end("endfilter"));
  return Stmt{loc, std::move(stmt)};
}

Result<Stmt> Parser::parse_with(Location loc) {
  const Token opener = next();  // 'with'
  WithStmt stmt;
  while (peek().kind != TokenKind::kBlockEnd) {
    if (!stmt.assignments.empty()) DSV3_TRY(expect_op(",", "between 'with' assignments"));
    DSV3_ASSIGN_OR_RETURN(std::string name, expect_name("to assign in 'with'"));
    DSV3_TRY(expect_op("=", "in a 'with' assignment"));
    DSV3_ASSIGN_OR_RETURN(ExprPtr value, parse_expression());
    stmt.assignments.emplace_back(std::move(name), std::move(value));
  }
  next();
  std::string found;
  DSV3_ASSIGN_OR_RETURN(stmt.body, parse_body({"endwith"}, &found, opener));
  DSV3_TRY(expect_block_end("endwith"));
  return Stmt{loc, std::move(stmt)};
}

Result<Stmt> Parser::parse_generation(Location loc) {
  const Token opener = next();  // 'generation'
  DSV3_TRY(expect_block_end("generation"));
  std::string found;
  auto body = parse_body({"endgeneration"}, &found, opener);
  if (!body.ok()) return body.error();
  DSV3_TRY(expect_block_end("endgeneration"));
  return Stmt{loc, GenerationStmt{std::move(body.value())}};
}

Result<Stmt> Parser::parse_loop_control(Location loc, bool is_break) {
  const Token& keyword = next();
  if (loop_depth_ == 0) return Err(at(keyword.loc), "'", keyword.text, "' outside of a for loop");
  DSV3_TRY(expect_block_end(keyword.text));
  return Stmt{loc, LoopControlStmt{is_break}};
}

}  // namespace dsv3::jinja
