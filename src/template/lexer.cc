#include "template/lexer.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>

#include "template/py_text.h"

namespace dsv3::jinja {

std::string where(Location loc) {
  return "line " + std::to_string(loc.line) + ", column " + std::to_string(loc.column);
}

std::string at(Location loc) { return where(loc) + ": "; }

std::string describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::kText:
      return "template text";
    case TokenKind::kVariableBegin:
      return "'{{'";
    case TokenKind::kVariableEnd:
      return "'}}'";
    case TokenKind::kBlockBegin:
      return "'{%'";
    case TokenKind::kBlockEnd:
      return "'%}'";
    case TokenKind::kString:
      return "string " + python_string_repr(token.text);
    case TokenKind::kEnd:
      return "end of template";
    default:
      return "'" + token.text + "'";
  }
}

namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }
bool is_tag_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Jinja2 first rewrites every \r\n and \r as \n, then drops one trailing newline unless
// keep_trailing_newline is set.
std::string normalize_newlines(std::string_view source, bool keep_trailing_newline) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Decodes the escapes of a Python string literal (Jinja2 uses Python's "unicode-escape").
std::string decode_escapes(std::string_view raw) {
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 == raw.size()) {
      out += raw[i];
      continue;
    }
    const char c = raw[++i];
    auto hex = [&](size_t digits) -> bool {
      if (i + digits >= raw.size()) return false;
      std::string h(raw.substr(i + 1, digits));
      auto is_hex = [](char d) {
        return is_digit(d) || (d >= 'a' && d <= 'f') || (d >= 'A' && d <= 'F');
      };
      if (!std::all_of(h.begin(), h.end(), is_hex)) return false;
      append_utf8(out, static_cast<uint32_t>(std::strtoul(h.c_str(), nullptr, 16)));
      i += digits;
      return true;
    };
    switch (c) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case '\n':
        break;  // backslash-newline continues the line
      case 'x':
        if (!hex(2)) out += "\\x";
        break;
      case 'u':
        if (!hex(4)) out += "\\u";
        break;
      case 'U':
        if (!hex(8)) out += "\\U";
        break;
      default:
        if (c >= '0' && c <= '7') {  // up to three octal digits
          uint32_t v = 0;
          size_t n = 0;
          for (; n < 3 && i + n < raw.size() && raw[i + n] >= '0' && raw[i + n] <= '7'; ++n) {
            v = v * 8 + static_cast<uint32_t>(raw[i + n] - '0');
          }
          i += n - 1;
          append_utf8(out, v);
        } else {
          out += '\\';  // unknown escapes stay as written, as in Python
          out += c;
        }
    }
  }
  return out;
}

constexpr std::array<std::string_view, 26> kOperators = {
    "//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "[",
    "]",  "(",  ")",  "{",  "}",  "<",  ">", "=", ".", ":", "|", ",", ";"};

class Lexer {
 public:
  Lexer(std::string source, const TemplateOptions& options)
      : src_(std::move(source)), options_(options) {}

  Result<std::vector<Token>> run();

 private:
  enum class TagKind { kVariable, kBlock, kComment };

  Location location(size_t offset) const;
  void emit_text(std::string text);
  Token make(TokenKind kind, size_t offset, std::string text = {});
  std::string strip_before_tag(size_t text_start, size_t tag_start, TagKind kind, char modifier);
  void skip_after_end(char modifier, bool trims_newline);
  Status lex_comment(size_t tag_start, size_t body_start);
  bool try_raw(size_t tag_start, size_t body_start, Status* status);
  Status lex_tag(TagKind kind, size_t tag_start, size_t body_start);
  Status lex_token(TagKind kind, std::vector<std::pair<char, size_t>>* open);
  Status lex_number();
  Status lex_string();

  std::string src_;
  TemplateOptions options_;
  size_t pos_ = 0;
  std::vector<Token> out_;
  std::vector<size_t> line_starts_;
  mutable size_t last_offset_ = 0, last_column_ = 0;  // location()'s last answer
};

// Tokens are made left to right: counting the column on from the previous token's keeps a
// long line linear (counting from the line's start each time made a 200 KB one-line
// template take minutes to lex).
Location Lexer::location(size_t offset) const {
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  const size_t line_start = *(it - 1);
  const bool continues = last_offset_ >= line_start && last_offset_ <= offset;
  const size_t from = continues ? last_offset_ : line_start;
  const size_t before = continues ? last_column_ : 0;
  const size_t column =
      before + utf8_length(std::string_view(src_).substr(from, offset - from));
  last_offset_ = offset;
  last_column_ = column;
  return Location{static_cast<int>(it - line_starts_.begin()), static_cast<int>(column) + 1};
}

Token Lexer::make(TokenKind kind, size_t offset, std::string text) {
  Token t;
  t.kind = kind;
  t.text = std::move(text);
  t.loc = location(offset);
  return t;
}

void Lexer::emit_text(std::string text) {
  if (text.empty()) return;
  Token t;
  t.kind = TokenKind::kText;
  t.text = std::move(text);
  out_.push_back(std::move(t));
}

// The text before a tag, after the tag's '-' (strip all whitespace) or lstrip_blocks (strip
// spaces and tabs that start the tag's line) has been applied.
std::string Lexer::strip_before_tag(size_t text_start, size_t tag_start, TagKind kind,
                                    char modifier) {
  std::string_view text = std::string_view(src_).substr(text_start, tag_start - text_start);
  if (modifier == '-') return std::string(strip_space(text, false, true));
  if (modifier == '+' || !options_.lstrip_blocks || kind == TagKind::kVariable)
    return std::string(text);
  const size_t newline = text.rfind('\n');
  const size_t line_begin = newline == std::string_view::npos ? 0 : newline + 1;
  const bool line_starting = text_start == 0 || src_[text_start - 1] == '\n';
  if (line_begin == 0 && !line_starting) return std::string(text);
  const bool blank =
      std::all_of(text.begin() + static_cast<std::ptrdiff_t>(line_begin), text.end(),
                  [](char c) { return c == ' ' || c == '\t' || c == '\f' || c == '\v'; });
  return std::string(blank ? text.substr(0, line_begin) : text);
}

// After a closing delimiter: '-' eats all following whitespace, otherwise trim_blocks eats one
// newline after block tags and comments ('+' turns that off).
void Lexer::skip_after_end(char modifier, bool trims_newline) {
  if (modifier == '-') {
    std::string_view rest = std::string_view(src_).substr(pos_);
    pos_ += rest.size() - strip_space(rest, true, false).size();
  } else if (modifier != '+' && trims_newline && options_.trim_blocks && pos_ < src_.size() &&
             src_[pos_] == '\n') {
    ++pos_;
  }
}

Status Lexer::lex_comment(size_t tag_start, size_t body_start) {
  const size_t end = src_.find("#}", body_start);
  if (end == std::string::npos) {
    return Err(at(location(tag_start)), "comment '{#' is never closed (expected '#}')");
  }
  const char modifier = end > body_start ? src_[end - 1] : 0;
  pos_ = end + 2;
  skip_after_end(modifier == '-' || modifier == '+' ? modifier : 0, true);
  return OkStatus();
}

// {% raw %}...{% endraw %}: the body is emitted as text without looking for tags.
bool Lexer::try_raw(size_t tag_start, size_t body_start, Status* status) {
  auto match_tag = [&](size_t p, std::string_view word, size_t* end, char* end_modifier) {
    while (p < src_.size() && is_tag_space(src_[p])) ++p;
    if (src_.compare(p, word.size(), word) != 0) return false;
    p += word.size();
    if (p < src_.size() && is_name_char(src_[p])) return false;
    while (p < src_.size() && is_tag_space(src_[p])) ++p;
    *end_modifier = p < src_.size() && (src_[p] == '-' || src_[p] == '+') ? src_[p] : 0;
    if (*end_modifier != 0) ++p;
    if (src_.compare(p, 2, "%}") != 0) return false;
    *end = p + 2;
    return true;
  };
  size_t end = 0;
  char modifier = 0;
  if (!match_tag(body_start, "raw", &end, &modifier)) return false;
  pos_ = end;
  skip_after_end(modifier, false);  // Jinja2 applies trim_blocks after endraw, not after raw
  for (size_t search = pos_;;) {
    const size_t open = src_.find("{%", search);
    if (open == std::string::npos) {
      *status =
          Err(at(location(tag_start)), "'{% raw %}' is never closed (expected '{% endraw %}')");
      return true;
    }
    const char open_modifier = open + 2 < src_.size() ? src_[open + 2] : 0;
    const size_t name_start = open + 2 + (open_modifier == '-' || open_modifier == '+' ? 1 : 0);
    if (match_tag(name_start, "endraw", &end, &modifier)) {
      std::string body = src_.substr(pos_, open - pos_);
      emit_text(open_modifier == '-' ? std::string(strip_space(body, false, true)) : body);
      pos_ = end;
      skip_after_end(modifier, true);
      *status = OkStatus();
      return true;
    }
    search = open + 2;
  }
}

Status Lexer::lex_number() {
  const size_t start = pos_;
  auto digits = [&] {
    while (pos_ < src_.size() &&
           (is_digit(src_[pos_]) ||
            (src_[pos_] == '_' && pos_ + 1 < src_.size() && is_digit(src_[pos_ + 1]))))
      ++pos_;
  };
  digits();
  bool is_float = false;
  // After '.', digits are an attribute index (x.0.1), never a float (Jinja2's lookbehind).
  const bool after_dot = start > 0 && src_[start - 1] == '.';
  if (!after_dot && pos_ + 1 < src_.size() && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
    ++pos_;
    digits();
    is_float = true;
  }
  if (!after_dot && pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
    size_t p = pos_ + 1;
    if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
    if (p < src_.size() && is_digit(src_[p])) {
      pos_ = p;
      digits();
      is_float = true;
    }
  }
  std::string text = src_.substr(start, pos_ - start);
  std::string clean = text;
  clean.erase(std::remove(clean.begin(), clean.end(), '_'), clean.end());
  Token t = make(is_float ? TokenKind::kFloat : TokenKind::kInteger, start, text);
  if (is_float) {
    t.number = std::strtod(clean.c_str(), nullptr);
  } else {
    errno = 0;
    t.integer = std::strtoll(clean.c_str(), nullptr, 10);
    if (errno == ERANGE)
      return Err(at(t.loc), "integer literal ", text, " does not fit in 64 bits");
  }
  out_.push_back(std::move(t));
  return OkStatus();
}

Status Lexer::lex_string() {
  const size_t start = pos_;
  const char quote = src_[pos_++];
  while (pos_ < src_.size() && src_[pos_] != quote) {
    pos_ += src_[pos_] == '\\' ? 2 : 1;
  }
  if (pos_ >= src_.size()) {
    return Err(at(location(start)), "string literal is never closed (expected ",
               std::string(1, quote), ")");
  }
  std::string raw = src_.substr(start + 1, pos_ - start - 1);
  ++pos_;
  out_.push_back(make(TokenKind::kString, start, decode_escapes(raw)));
  return OkStatus();
}

// One token inside a tag. `open` holds the unclosed brackets and where they opened, so that
// "}}" closing a dict literal is not taken for the end of {{ ... }} and a mismatched bracket
// is reported where it went wrong.
Status Lexer::lex_token(TagKind kind, std::vector<std::pair<char, size_t>>* open) {
  const char c = src_[pos_];
  if (is_name_start(c)) {
    const size_t start = pos_;
    while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
    out_.push_back(make(TokenKind::kName, start, src_.substr(start, pos_ - start)));
    return OkStatus();
  }
  if (is_digit(c)) return lex_number();
  if (c == '"' || c == '\'') return lex_string();
  for (std::string_view op : kOperators) {
    if (src_.compare(pos_, op.size(), op) != 0) continue;
    if (op == "(" || op == "[" || op == "{") open->emplace_back(op[0], pos_);
    if (op == ")" || op == "]" || op == "}") {
      if (open->empty()) return Err(at(location(pos_)), "unexpected '", std::string(op), "'");
      const auto [opener, opened_at] = open->back();
      const char expected = opener == '(' ? ')' : opener == '[' ? ']' : '}';
      if (op[0] != expected) {
        return Err(at(location(pos_)), "unexpected '", std::string(op), "': expected '",
                   std::string(1, expected), "' to close the '", std::string(1, opener), "' at ",
                   where(location(opened_at)));
      }
      open->pop_back();
    }
    out_.push_back(make(TokenKind::kOperator, pos_, std::string(op)));
    pos_ += op.size();
    return OkStatus();
  }
  const char* where = kind == TagKind::kVariable ? "'{{ }}'" : "'{% %}'";
  return Err(at(location(pos_)), "unexpected character '", std::string(1, c), "' inside ", where);
}

Status Lexer::lex_tag(TagKind kind, size_t tag_start, size_t body_start) {
  const bool is_block = kind == TagKind::kBlock;
  out_.push_back(make(is_block ? TokenKind::kBlockBegin : TokenKind::kVariableBegin, tag_start));
  const std::string_view close = is_block ? "%}" : "}}";
  pos_ = body_start;
  std::vector<std::pair<char, size_t>> open;
  while (true) {
    while (pos_ < src_.size() && is_tag_space(src_[pos_])) ++pos_;
    if (pos_ >= src_.size()) {
      return Err(at(location(tag_start)), "'", is_block ? "{%" : "{{",
                 "' is never closed (expected '", std::string(close), "')");
    }
    const char modifier = src_[pos_] == '-' || (is_block && src_[pos_] == '+') ? src_[pos_] : 0;
    const size_t close_at = pos_ + (modifier != 0 ? 1 : 0);
    if (src_.compare(close_at, 2, close) == 0 && (open.empty() || is_block)) {
      if (!open.empty()) {
        return Err(at(location(close_at)), "'", std::string(1, open.back().first), "' opened at ",
                   where(location(open.back().second)), " is never closed");
      }
      out_.push_back(make(is_block ? TokenKind::kBlockEnd : TokenKind::kVariableEnd, close_at));
      pos_ = close_at + 2;
      skip_after_end(modifier, is_block);
      return OkStatus();
    }
    DSV3_TRY(lex_token(kind, &open));
  }
}

Result<std::vector<Token>> Lexer::run() {
  line_starts_.push_back(0);
  for (size_t i = 0; i < src_.size(); ++i) {
    if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }
  while (pos_ < src_.size()) {
    size_t tag = src_.find('{', pos_);
    while (tag != std::string::npos && tag + 1 < src_.size() && src_[tag + 1] != '{' &&
           src_[tag + 1] != '%' && src_[tag + 1] != '#') {
      tag = src_.find('{', tag + 1);
    }
    if (tag == std::string::npos || tag + 1 >= src_.size()) {
      emit_text(src_.substr(pos_));
      break;
    }
    const TagKind kind = src_[tag + 1] == '{'   ? TagKind::kVariable
                         : src_[tag + 1] == '%' ? TagKind::kBlock
                                                : TagKind::kComment;
    const char modifier =
        tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+') ? src_[tag + 2] : 0;
    emit_text(strip_before_tag(pos_, tag, kind, modifier));
    const size_t body_start = tag + 2 + (modifier != 0 ? 1 : 0);
    Status status = OkStatus();
    if (kind == TagKind::kComment) {
      status = lex_comment(tag, body_start);
    } else if (kind == TagKind::kBlock && try_raw(tag, body_start, &status)) {
      // raw block handled
    } else {
      status = lex_tag(kind, tag, body_start);
    }
    DSV3_TRY(status);
  }
  out_.push_back(make(TokenKind::kEnd, src_.size()));
  return std::move(out_);
}

}  // namespace

Result<std::vector<Token>> tokenize(std::string_view source, const TemplateOptions& options) {
  Lexer lexer(normalize_newlines(source, options.keep_trailing_newline), options);
  return lexer.run();
}

}  // namespace dsv3::jinja
