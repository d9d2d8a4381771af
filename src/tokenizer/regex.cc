#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdio>
#include <utility>
#include <vector>

namespace dsv3 {
namespace {

struct CodeRange {
  uint32_t lo;
  uint32_t hi;
};

// Unicode White_Space (PropList.txt), which Oniguruma uses for \s.
constexpr CodeRange kWhiteSpace[] = {
    {0x09, 0x0D},     {0x20, 0x20},     {0x85, 0x85},     {0xA0, 0xA0},
    {0x1680, 0x1680}, {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F},
    {0x205F, 0x205F}, {0x3000, 0x3000},
};

void append_range(std::string& out, uint32_t lo, uint32_t hi) {
  char buf[32];
  if (lo == hi) {
    std::snprintf(buf, sizeof buf, "\\x{%X}", lo);
  } else {
    std::snprintf(buf, sizeof buf, "\\x{%X}-\\x{%X}", lo, hi);
  }
  out += buf;
}

// Class body (without brackets) for \s, or for its complement \S.
std::string space_class_body(bool negated) {
  std::string body;
  if (!negated) {
    for (const CodeRange& r : kWhiteSpace) append_range(body, r.lo, r.hi);
    return body;
  }
  uint32_t next = 0;
  for (const CodeRange& r : kWhiteSpace) {
    if (r.lo > next) append_range(body, next, r.lo - 1);
    next = r.hi + 1;
  }
  append_range(body, next, 0x10FFFF);
  return body;
}

// Length of a POSIX class like "[:alpha:]" at the front of `s`, or 0.
size_t posix_class_length(std::string_view s) {
  if (s.size() < 2 || s[0] != '[' || s[1] != ':') return 0;
  const size_t end = s.find(":]", 2);
  return end == std::string_view::npos ? 0 : end + 2;
}

}  // namespace

std::string rewrite_onig_pattern(std::string_view pattern) {
  const std::string space = space_class_body(false);
  const std::string non_space = space_class_body(true);
  std::string out;
  bool in_class = false;
  size_t class_start = 0;  // index just after '[' or '[^', where ']' is still a literal
  size_t i = 0;
  while (i < pattern.size()) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      if (e == 's' || e == 'S') {
        const std::string& body = e == 's' ? space : non_space;
        out += in_class ? body : "[" + body + "]";
      } else if (e == 'Q') {
        // \Q...\E is literal text: copy it unchanged.
        const size_t end = pattern.find("\\E", i + 2);
        const size_t stop = end == std::string_view::npos ? pattern.size() : end + 2;
        out.append(pattern.substr(i, stop - i));
        i = stop;
        continue;
      } else {
        out.append(pattern.substr(i, 2));
      }
      i += 2;
      continue;
    }
    if (in_class) {
      if (const size_t n = posix_class_length(pattern.substr(i)); n > 0) {
        out.append(pattern.substr(i, n));
        i += n;
        continue;
      }
      if (c == ']' && i != class_start) in_class = false;
    } else if (c == '[') {
      in_class = true;
      class_start = i + 1;
      if (class_start < pattern.size() && pattern[class_start] == '^') ++class_start;
    }
    out += c;
    ++i;
  }
  return out;
}

void Regex::Free::operator()(pcre2_code* p) const { pcre2_code_free(p); }
void Regex::MatchData::Free::operator()(pcre2_match_data* p) const { pcre2_match_data_free(p); }

Result<Regex> Regex::compile(std::string_view pattern) {
  const std::string rewritten = rewrite_onig_pattern(pattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                    PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof message);
    return Err("regex \"", std::string(pattern), "\" does not compile with PCRE2 (as \"",
               rewritten, "\"): ", reinterpret_cast<const char*>(message), " at offset ",
               error_offset);
  }
  Regex re;
  re.code_.reset(code);
  // JIT is an optimisation only: without it the interpreter gives the same matches.
  re.jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return re;
}

Regex::MatchData::MatchData(const Regex& re)
    : data_(pcre2_match_data_create_from_pattern(re.code_.get(), nullptr)) {
  DSV3_CHECK(data_ != nullptr, "out of memory");
}

bool Regex::find(std::string_view subject, size_t from, MatchData& md, RegexMatch& m) const {
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  int rc = PCRE2_ERROR_NOMATCH;
  if (jit_) rc = pcre2_jit_match(code_.get(), s, subject.size(), from, 0, md.get(), nullptr);
  // The JIT can run out of its stack on pathological input; the interpreter keeps its
  // backtracking state on the heap, so retry there before giving up.
  if (!jit_ || (rc < 0 && rc != PCRE2_ERROR_NOMATCH)) {
    rc = pcre2_match(code_.get(), s, subject.size(), from, PCRE2_NO_UTF_CHECK, md.get(),
                     nullptr);
  }
  if (rc < 0) return false;  // no match, or a resource limit: the rest stays one piece
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(md.get());
  m.start = ovector[0];
  m.end = ovector[1];
  return true;
}

}  // namespace dsv3
