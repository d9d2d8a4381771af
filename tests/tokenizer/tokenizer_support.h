// Shared fixtures for the tokenizer tests: the DeepSeek-V3 tokenizer (loaded once per
// binary) and the golden JSON Lines files beside it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace dsv3::testing {

// DSV3_SHARED_DIR/tokenizer/deepseek-v3
std::string deepseek_dir();
// Aborts the test binary with a message if the shared tokenizer does not load.
const Tokenizer& deepseek_tokenizer();
// One JSON object per line of `path`; fails the current test if it cannot be read.
std::vector<nlohmann::json> read_jsonl(const std::string& path);

}  // namespace dsv3::testing
