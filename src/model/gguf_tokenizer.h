// The tokenizer.* metadata of a GGUF file, as llama.cpp's converter writes it
// for DeepSeek models (_set_vocab_gpt2): tokenizer.ggml.model "gpt2", .pre
// "deepseek-v3", .tokens (every id, "[PAD<id>]" for gaps), .token_type (1
// normal, 3 control = special added token, 4 user-defined = other added token,
// 5 unused), .merges ("left right"), .bos_token_id, .eos_token_id,
// .add_bos_token, and tokenizer.chat_template.
#pragma once

#include <string>

#include "io/gguf_writer.h"
#include "util/result.h"

namespace dsv3 {

// gguf-py TokenType values.
inline constexpr int32_t kGgufTokenNormal = 1;
inline constexpr int32_t kGgufTokenControl = 3;
inline constexpr int32_t kGgufTokenUserDefined = 4;
inline constexpr int32_t kGgufTokenUnused = 5;

// Writes the keys from `model_dir`/tokenizer.json and tokenizer_config.json;
// false (and nothing written) when the directory has no tokenizer.json.
Result<bool> write_tokenizer_metadata(const std::string &model_dir,
                                      GgufWriter &w);

} // namespace dsv3
