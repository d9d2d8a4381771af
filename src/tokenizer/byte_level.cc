#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace dsv3 {
namespace {

struct ByteLevelTables {
  std::array<std::string, 256> char_of_byte;
  // Code point -> byte; the alphabet lies in U+0021..U+0143, so a flat table suffices.
  std::array<int16_t, 0x144> byte_of_char;
};

// bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68 bytes
// take the code points 256, 257, ... in byte order.
ByteLevelTables make_tables() {
  ByteLevelTables t;
  t.byte_of_char.fill(-1);
  uint32_t next_extra = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const uint32_t cp = printable ? b : next_extra++;
    utf8_append(cp, t.char_of_byte[b]);
    t.byte_of_char[cp] = static_cast<int16_t>(b);
  }
  return t;
}

const ByteLevelTables& tables() {
  static const ByteLevelTables t = make_tables();
  return t;
}

// Decodes the well-formed UTF-8 character at the front of `s` (caller checked validity).
uint32_t decode_char(std::string_view s, size_t length) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  if (length == 1) return p[0];
  uint32_t cp = p[0] & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) cp = (cp << 6) | (p[i] & 0x3F);
  return cp;
}

}  // namespace

std::string_view byte_level_char(uint8_t b) { return tables().char_of_byte[b]; }

std::optional<std::string> byte_level_decode(std::string_view text) {
  const ByteLevelTables& t = tables();
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const Utf8Step step = utf8_step(text.substr(i));
    if (step.kind != Utf8Step::kValid) return std::nullopt;
    const uint32_t cp = decode_char(text.substr(i), step.length);
    if (cp >= t.byte_of_char.size() || t.byte_of_char[cp] < 0) return std::nullopt;
    out += static_cast<char>(t.byte_of_char[cp]);
    i += step.length;
  }
  return out;
}

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out.append(byte_level_char(static_cast<uint8_t>(c)));
  return out;
}

}  // namespace dsv3
