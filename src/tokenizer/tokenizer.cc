#include "tokenizer/tokenizer.h"

#include <cstdio>

#include "tokenizer/utf8.h"

namespace dsv3 {

Tokenizer::Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

void Tokenizer::encode_valid(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<TextSegment> segments;
  added_.split(text, segments);
  PreTokenizer::Scratch scratch(pre_tokenizer_);
  std::vector<std::string_view> pieces;
  for (const TextSegment& segment : segments) {
    if (segment.added_id >= 0) {
      out.push_back(segment.added_id);
      continue;
    }
    pieces.clear();
    pre_tokenizer_.split(segment.text, scratch, pieces);
    for (std::string_view piece : pieces) bpe_->encode_piece(piece, out);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 2);  // English averages about four bytes per token
  if (add_bos && bos_id_ >= 0) ids.push_back(bos_id_);
  if (!utf8_first_invalid(text).has_value()) {
    encode_valid(text, ids);
  } else {
    encode_valid(utf8_lossy(text), ids);
  }
  return ids;
}

Result<std::vector<int32_t>> Tokenizer::encode_checked(std::string_view text,
                                                       bool add_bos) const {
  if (const auto bad = utf8_first_invalid(text)) {
    char byte_hex[8];
    std::snprintf(byte_hex, sizeof byte_hex, "0x%02X", unsigned(uint8_t(text[*bad])));
    return Err("encode: input is not valid UTF-8: byte ", byte_hex, " at offset ", *bad,
               " does not start or continue a well-formed character");
  }
  std::vector<int32_t> ids;
  if (add_bos && bos_id_ >= 0) ids.push_back(bos_id_);
  encode_valid(text, ids);
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (!is_valid_id(id) || (skip_special && special_[size_t(id)])) continue;
    bytes += token_bytes_[size_t(id)];
  }
  if (!utf8_first_invalid(bytes).has_value()) return bytes;
  return utf8_lossy(bytes);
}

Result<std::string> Tokenizer::decode_checked(std::span<const int32_t> ids,
                                              bool skip_special) const {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!is_valid_id(ids[i])) {
      return Err("decode: ids[", i, "] is ", ids[i], ", expected an id in [0, ", vocab_size(),
                 ")");
    }
  }
  return decode(ids, skip_special);
}

std::vector<std::string> Tokenizer::pieces(std::string_view text) const {
  // The regexes skip UTF-8 checks, so invalid input is repaired first, as in encode().
  if (utf8_first_invalid(text).has_value()) return pieces(utf8_lossy(text));
  std::vector<std::string> out;
  std::vector<TextSegment> segments;
  added_.split(text, segments);
  PreTokenizer::Scratch scratch(pre_tokenizer_);
  std::vector<std::string_view> views;
  for (const TextSegment& segment : segments) {
    if (segment.added_id >= 0) {
      out.emplace_back(segment.text);
      continue;
    }
    views.clear();
    pre_tokenizer_.split(segment.text, scratch, views);
    out.insert(out.end(), views.begin(), views.end());
  }
  return out;
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token) const {
  const auto it = id_of_text_.find(token);
  if (it == id_of_text_.end()) return std::nullopt;
  return it->second;
}

std::string_view Tokenizer::token_text(int32_t id) const {
  return is_valid_id(id) ? std::string_view(token_text_[size_t(id)]) : std::string_view();
}

std::string_view Tokenizer::token_bytes(int32_t id) const {
  return is_valid_id(id) ? std::string_view(token_bytes_[size_t(id)]) : std::string_view();
}

bool Tokenizer::is_special(int32_t id) const { return is_valid_id(id) && special_[size_t(id)]; }

std::vector<int32_t> chat_turn_markers(const Tokenizer& tokenizer) {
  std::vector<int32_t> ids;
  for (const char* marker : {"<｜User｜>", "<｜Assistant｜>"}) {
    if (auto id = tokenizer.token_id(marker)) ids.push_back(*id);
  }
  return ids;
}

}  // namespace dsv3
