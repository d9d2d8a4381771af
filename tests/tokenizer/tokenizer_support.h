// Shared fixtures for the tokenizer tests: the DeepSeek-V3 tokenizer (loaded once per
// binary) and the golden JSON Lines files beside it. Header-only: the test binary is
// built from *_test.cc files alone.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace dsv3::testing {

// DSV3_TEST_DATA_DIR/tokenizer/deepseek-v3
inline std::string deepseek_dir() {
  return std::string(DSV3_TEST_DATA_DIR) + "/tokenizer/deepseek-v3";
}

// Aborts the test binary with the load error if the DeepSeek-V3 tokenizer does not load.
inline const Tokenizer& deepseek_tokenizer() {
  static const Tokenizer* tokenizer = [] {
    Result<Tokenizer> t = Tokenizer::load(deepseek_dir());
    DSV3_CHECK(t.ok(), "%s", t.error().message.c_str());
    return new Tokenizer(std::move(t).value());
  }();
  return *tokenizer;
}

// One JSON object per line of `path`; fails the current test if it cannot be read.
inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

}  // namespace dsv3::testing
