#include "tokenizer_support.h"

#include <gtest/gtest.h>

#include <fstream>

namespace dsv3::testing {

std::string deepseek_dir() { return std::string(DSV3_SHARED_DIR) + "/tokenizer/deepseek-v3"; }

const Tokenizer& deepseek_tokenizer() {
  static const Tokenizer* tokenizer = [] {
    Result<Tokenizer> t = Tokenizer::load(deepseek_dir());
    DSV3_CHECK(t.ok(), "%s", t.error().message.c_str());
    return new Tokenizer(std::move(t).value());
  }();
  return *tokenizer;
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
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
