// GPT-2's byte-level alphabet: each of the 256 byte values is shown as one printable
// Unicode character, so BPE vocabularies can be stored as text ("Ġ" is the space byte).
// Reference: openai/gpt-2 encoder.py bytes_to_unicode(), HF tokenizers byte_level.rs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dsv3 {

// The byte-level character for byte `b`, as UTF-8.
std::string_view byte_level_char(uint8_t b);

// Maps a byte-level string back to bytes, or nullopt if one of its characters is not in
// the byte-level alphabet (or it is not valid UTF-8).
std::optional<std::string> byte_level_decode(std::string_view text);

// The byte-level form of raw bytes (inverse of byte_level_decode).
std::string byte_level_encode(std::string_view bytes);

}  // namespace dsv3
