#include "template/py_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace dsv3::jinja {

uint32_t next_code_point(std::string_view s, size_t* pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t lead = byte(*pos);
  size_t extra = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
  if (*pos + extra >= s.size()) extra = 0;  // truncated sequence: take the byte alone
  uint32_t cp = extra == 0 ? lead : lead & (0x3F >> extra);
  for (size_t i = 1; i <= extra; ++i) {
    if ((byte(*pos + i) & 0xC0) != 0x80) {  // not a continuation byte: take the lead alone
      ++*pos;
      return lead;
    }
    cp = (cp << 6) | (byte(*pos + i) & 0x3F);
  }
  *pos += 1 + extra;
  return cp;
}

std::vector<size_t> utf8_offsets(std::string_view s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  for (size_t pos = 0; pos < s.size();) {
    offsets.push_back(pos);
    next_code_point(s, &pos);
  }
  offsets.push_back(s.size());
  return offsets;
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (size_t pos = 0; pos < s.size(); ++n) next_code_point(s, &pos);
  return n;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_python_space(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
  switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

namespace {

// Strips code points matching `drop` from either end. The left end is decoded only as far as
// the first code point kept: the lexer strips the whole rest of a template after each '-%}',
// which must cost the whitespace skipped, not the rest's length.
template <typename Pred>
std::string_view strip_if(std::string_view s, bool left, bool right, Pred drop) {
  size_t begin = 0;
  while (left && begin < s.size()) {
    size_t next = begin;
    if (!drop(next_code_point(s, &next))) break;
    begin = next;
  }
  s.remove_prefix(begin);
  if (!right) return s;
  // Code points decode forward only, so from a code point's start the rest decodes as before.
  std::vector<size_t> offsets = utf8_offsets(s);
  size_t last = offsets.size() - 1;  // keep code points [0, last)
  auto cp_at = [&](size_t i) {
    size_t pos = offsets[i];
    return next_code_point(s, &pos);
  };
  while (last > 0 && drop(cp_at(last - 1))) --last;
  return s.substr(0, offsets[last]);
}

bool is_ascii_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_ascii_lower(char c) { return c >= 'a' && c <= 'z'; }
char to_upper(char c) { return is_ascii_lower(c) ? static_cast<char>(c - 32) : c; }
char to_lower(char c) { return is_ascii_upper(c) ? static_cast<char>(c + 32) : c; }

}  // namespace

std::string_view strip_space(std::string_view s, bool left, bool right) {
  return strip_if(s, left, right, is_python_space);
}

std::string_view strip_chars(std::string_view s, std::string_view chars, bool left, bool right) {
  std::vector<uint32_t> set;
  for (size_t pos = 0; pos < chars.size();) set.push_back(next_code_point(chars, &pos));
  return strip_if(s, left, right,
                  [&](uint32_t cp) { return std::find(set.begin(), set.end(), cp) != set.end(); });
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = to_lower(c);
  return out;
}

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = to_upper(c);
  return out;
}

std::string capitalize(std::string_view s) {
  std::string out = ascii_lower(s);
  if (!out.empty()) out[0] = to_upper(out[0]);
  return out;
}

std::string python_title(std::string_view s) {
  std::string out(s);
  bool previous_cased = false;
  for (char& c : out) {
    const bool cased = is_ascii_lower(c) || is_ascii_upper(c);
    if (cased) c = previous_cased ? to_lower(c) : to_upper(c);
    previous_cased = cased;
  }
  return out;
}

namespace {

std::vector<std::string> split_on_space(std::string_view s, int64_t maxsplit, bool from_right) {
  // Work on code points so multi-byte spaces (U+3000) separate words like in Python.
  std::vector<std::pair<size_t, size_t>> words;  // byte ranges
  std::vector<size_t> offsets = utf8_offsets(s);
  const size_t n = offsets.size() - 1;
  auto is_space_at = [&](size_t i) {
    size_t pos = offsets[i];
    return is_python_space(next_code_point(s, &pos));
  };
  for (size_t i = 0; i < n;) {
    while (i < n && is_space_at(i)) ++i;
    if (i == n) break;
    size_t j = i;
    while (j < n && !is_space_at(j)) ++j;
    words.emplace_back(offsets[i], offsets[j]);
    i = j;
  }
  std::vector<std::string> out;
  if (maxsplit < 0 || static_cast<size_t>(maxsplit) + 1 >= words.size()) {
    for (auto [b, e] : words) out.emplace_back(s.substr(b, e - b));
    return out;
  }
  // Limited split: the unsplit remainder keeps its whitespace, as in Python.
  const size_t keep = static_cast<size_t>(maxsplit);
  if (!from_right) {
    for (size_t i = 0; i < keep; ++i)
      out.emplace_back(s.substr(words[i].first, words[i].second - words[i].first));
    out.emplace_back(s.substr(words[keep].first));
  } else {
    const size_t rest_end = words[words.size() - keep - 1].second;
    out.emplace_back(s.substr(0, rest_end));
    for (size_t i = words.size() - keep; i < words.size(); ++i) {
      out.emplace_back(s.substr(words[i].first, words[i].second - words[i].first));
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> python_split(std::string_view s, std::string_view sep, int64_t maxsplit,
                                      bool from_right) {
  if (sep.empty()) return split_on_space(s, maxsplit, from_right);
  std::vector<std::string> out;
  if (!from_right) {
    size_t start = 0;
    for (int64_t done = 0; maxsplit < 0 || done < maxsplit; ++done) {
      size_t hit = s.find(sep, start);
      if (hit == std::string_view::npos) break;
      out.emplace_back(s.substr(start, hit - start));
      start = hit + sep.size();
    }
    out.emplace_back(s.substr(start));
    return out;
  }
  size_t end = s.size();
  for (int64_t done = 0; maxsplit < 0 || done < maxsplit; ++done) {
    if (end < sep.size()) break;
    size_t hit = s.rfind(sep, end - sep.size());
    if (hit == std::string_view::npos) break;
    out.emplace_back(s.substr(hit + sep.size(), end - hit - sep.size()));
    end = hit;
  }
  out.emplace_back(s.substr(0, end));
  std::reverse(out.begin(), out.end());
  return out;
}

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits in scientific form, e.g. "1.2345e+17", then re-laid out the way
  // Python's float_repr_style 'short' does.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e_pos = sci.find('e');
  const int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string digits = sci.substr(0, e_pos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  if (exponent < -4 || exponent >= 16) {
    std::string mantissa = digits.substr(0, 1);
    if (digits.size() > 1) mantissa += "." + digits.substr(1);
    char exp_buf[16];
    std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", exponent < 0 ? '-' : '+',
                  std::abs(exponent));
    return sign + mantissa + exp_buf;
  }
  if (exponent < 0) return sign + "0." + std::string(-exponent - 1, '0') + digits;
  const size_t int_digits = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= int_digits) {
    return sign + digits + std::string(int_digits - digits.size(), '0') + ".0";
  }
  return sign + digits.substr(0, int_digits) + "." + digits.substr(int_digits);
}

std::string python_string_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == quote || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += quote;
  return out;
}

}  // namespace dsv3::jinja
