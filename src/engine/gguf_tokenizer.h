// dsv3's Tokenizer from a GGUF file's tokenizer metadata
// (model/gguf_tokenizer.h lists the keys): the metadata is turned back into the
// tokenizer.json / tokenizer_config.json that Tokenizer::from_json reads, so
// the same checks and the same code encode and decode. tokenizer.ggml.pre names
// the pre-tokenizer; "deepseek-v3" (V3, R1, V3.1) is supported.
#pragma once

#include <string>

#include "io/gguf.h"
#include "tokenizer/tokenizer.h"

namespace dsv3 {

Result<Tokenizer> tokenizer_from_gguf(const GgufMetadata &metadata,
                                      const std::string &origin);
// Opens the file (or the first part of a split model) for its metadata.
Result<Tokenizer> load_gguf_tokenizer(const std::string &path);

} // namespace dsv3
