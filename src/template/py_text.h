// Python's text behaviour on UTF-8 strings: templates index, slice and measure strings in code
// points (len('你好') == 2), strip Unicode whitespace, and print floats the way repr() does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dsv3::jinja {

// Byte offset where each code point starts, plus s.size() at the end (so size() - 1 code points).
std::vector<size_t> utf8_offsets(std::string_view s);
size_t utf8_length(std::string_view s);
void append_utf8(std::string& out, uint32_t code_point);
// Decodes the code point starting at s[*pos] and advances *pos; invalid bytes decode as themselves.
uint32_t next_code_point(std::string_view s, size_t* pos);

// str.isspace() for one code point (Unicode White_Space as Python defines it).
bool is_python_space(uint32_t code_point);
// str.strip() / lstrip() / rstrip() with no argument.
std::string_view strip_space(std::string_view s, bool left, bool right);
// str.strip(chars): removes any code point that occurs in chars.
std::string_view strip_chars(std::string_view s, std::string_view chars, bool left, bool right);

// ASCII-only case mapping; other code points are left as they are.
std::string ascii_lower(std::string_view s);
std::string ascii_upper(std::string_view s);
// str.capitalize(): first character upper, the rest lower.
std::string capitalize(std::string_view s);
// str.title(): upper after every non-letter, lower elsewhere.
std::string python_title(std::string_view s);

// str.split(sep, maxsplit) / str.rsplit; an empty sep means "runs of whitespace" (sep=None).
std::vector<std::string> python_split(std::string_view s, std::string_view sep, int64_t maxsplit,
                                      bool from_right);

// repr(float): shortest round-trip digits, fixed notation for exponents in [-4, 16).
std::string python_float_repr(double d);
// repr(str): single quotes unless the text has ' and no ", with Python's escapes.
std::string python_string_repr(std::string_view s);

}  // namespace dsv3::jinja
