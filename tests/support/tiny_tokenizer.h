// A byte-level tokenizer small enough for the golden checkpoints' vocabularies (< 1024 ids),
// built from DeepSeek-V3's own tokenizer files: the same pre-tokenizer, special tokens and
// chat template, but only the 256 byte tokens and a few merges.
#pragma once

#include <string>

namespace dsv3::testing {

// Writes tokenizer.json and tokenizer_config.json into `dir` (created if needed).
void write_tiny_tokenizer(const std::string& dir);

}  // namespace dsv3::testing
