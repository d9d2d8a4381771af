// Splits Jinja2 template source into tokens: literal text, tag delimiters, and the names,
// literals and operators inside tags. Whitespace control ({%- -%}, {{- -}}, {#- -#}, the '+'
// forms, trim_blocks, lstrip_blocks) is applied here, as Jinja2's own lexer does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "template/options.h"
#include "util/result.h"

namespace dsv3::jinja {

struct Location {
  int line = 1;
  int column = 1;  // in code points, from 1
};

// "line 3, column 7".
std::string where(Location loc);
// "line 3, column 7: " — the prefix of every template error.
std::string at(Location loc);

enum class TokenKind {
  kText,           // literal template text, already whitespace-controlled
  kVariableBegin,  // {{
  kVariableEnd,    // }}
  kBlockBegin,     // {%
  kBlockEnd,       // %}
  kName,
  kString,  // text holds the decoded value
  kInteger,
  kFloat,
  kOperator,  // text holds the operator: "==", "(", "|", ...
  kEnd,
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;
  int64_t integer = 0;
  double number = 0;
  Location loc;
};

// How a token is shown in error messages: 'endfor', '%}', end of template, ...
std::string describe(const Token& token);

Result<std::vector<Token>> tokenize(std::string_view source, const TemplateOptions& options);

}  // namespace dsv3::jinja
