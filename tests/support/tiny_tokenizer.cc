#include "support/tiny_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/golden.h"

namespace dsv3::testing {

namespace {

using nlohmann::ordered_json;

ordered_json read_json(const std::string& path) {
  std::ifstream f(path);
  return ordered_json::parse(f);
}

// GPT-2's byte-to-character map: printable bytes stand for themselves, the rest are moved
// to U+0100 onwards.
std::string byte_char(int b) {
  const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  int cp = b;
  if (!printable) {
    int n = 0;
    for (int x = 0; x < b; ++x) {
      if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) ++n;
    }
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

}  // namespace

void write_tiny_tokenizer(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::string src = test_data_dir() + "/tokenizer/deepseek-v3/";
  // DeepSeek's file has 128k vocab entries: parse it into an unordered json (ordered_json's
  // insertion is quadratic) and drop the big parts before converting.
  nlohmann::json big;
  {
    std::ifstream f(src + "tokenizer.json");
    big = nlohmann::json::parse(f);
  }
  big["model"].erase("vocab");
  big["model"].erase("merges");
  big.erase("added_tokens");
  ordered_json tok = ordered_json::parse(big.dump());
  ordered_json config = read_json(src + "tokenizer_config.json");

  const std::vector<std::string> specials = {"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>",
                                             "<｜▁pad▁｜>"};
  const std::vector<std::string> added = {"<｜User｜>", "<｜Assistant｜>", "<｜tool▁calls▁begin｜>",
                                          "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>",
                                          "<｜tool▁call▁end｜>", "<｜tool▁outputs▁begin｜>",
                                          "<｜tool▁outputs▁end｜>", "<｜tool▁output▁begin｜>",
                                          "<｜tool▁output▁end｜>", "<｜tool▁sep｜>"};
  ordered_json vocab = ordered_json::object();
  ordered_json added_tokens = ordered_json::array();
  int id = 0;
  for (const auto& s : specials) {
    added_tokens.push_back({{"id", id}, {"content", s}, {"single_word", false}, {"lstrip", false},
                            {"rstrip", false}, {"normalized", true}, {"special", true}});
    vocab[s] = id++;
  }
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = id++;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"i", "n"}, {"e", "r"}, {"Ġ", "a"}, {"o", "u"}};
  ordered_json merge_list = ordered_json::array();
  for (const auto& [a, b] : merges) {
    vocab[a + b] = id++;
    merge_list.push_back(a + " " + b);
  }
  for (const auto& s : added) {
    added_tokens.push_back({{"id", id}, {"content", s}, {"single_word", false}, {"lstrip", false},
                            {"rstrip", false}, {"normalized", true}, {"special", false}});
    vocab[s] = id++;
  }
  tok["added_tokens"] = added_tokens;
  tok["model"]["vocab"] = vocab;
  tok["model"]["merges"] = merge_list;
  std::ofstream(dir + "/tokenizer.json") << tok.dump();
  std::ofstream(dir + "/tokenizer_config.json") << config.dump(2);
}

}  // namespace dsv3::testing
