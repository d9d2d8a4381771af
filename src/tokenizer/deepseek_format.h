// What a tokenizer in DeepSeek-V3's format has besides its learned vocabulary: the
// pre-tokenizer, post-processor and decoder of its tokenizer.json, its special and added
// tokens, and the chat template of its tokenizer_config.json. The BPE trainer writes new
// tokenizers in this format, so DeepSeek's chat template and tools work on them unchanged.
// Copied from tests/data/tokenizer/deepseek-v3 (tests compare every constant with it).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace dsv3::deepseek_v3 {

// tokenizer.json "pre_tokenizer": three Split regexes ("Isolated"), then ByteLevel without
// its own regex. The same text the Tokenizer loader reads, so a trained tokenizer splits
// text at exactly the places the trainer counted pieces.
std::string_view pre_tokenizer_json();
// tokenizer.json "post_processor" and "decoder" (both ByteLevel).
std::string_view post_processor_json();
std::string_view decoder_json();

struct AddedTokenSpec {
  std::string_view content;
  bool special;     // dropped by decode(skip_special = true)
  bool normalized;  // as DeepSeek's file has it (there is no normalizer, so it changes nothing)
};

// BOS, EOS and pad, ids 0, 1 and 2: in the model vocabulary and added tokens too.
std::span<const AddedTokenSpec> leading_tokens();
inline constexpr int32_t kBosId = 0;
inline constexpr int32_t kEosId = 1;
inline constexpr int32_t kPadId = 2;

// Added tokens after the learned vocabulary, in id order: <think> and </think> (as in
// DeepSeek-R1 and V3.1, whose templates write them), the FIM tokens, <｜User｜>,
// <｜Assistant｜>, <|EOT|> and the tool-call tokens (DeepSeek-V3 ids 128800-128814).
// DeepSeek's 800 <｜place▁holder▁no▁N｜> tokens are left out.
std::span<const AddedTokenSpec> trailing_tokens();

// tokenizer_config.json "chat_template" of DeepSeek-V3.
std::string_view chat_template();

}  // namespace dsv3::deepseek_v3
