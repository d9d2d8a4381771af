// response_format with a chat template that opens a reasoning block (R1-style "<think>\n" at
// the end of the prompt): the reasoning is free and only the answer after </think> is held to
// the JSON, so the model can think first.
#include <gtest/gtest.h>

#include <fstream>

#include "server/harness.h"

namespace dsv3::testing {
namespace {

// The tiny tokenizer with its chat template changed to open <think> after the assistant tag.
std::string thinking_tokenizer_dir() {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("dsv3_thinking_tok_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(fs::path(tiny_tokenizer_dir()) / "tokenizer.json", dir / "tokenizer.json",
                fs::copy_options::overwrite_existing);
  std::ifstream in(fs::path(tiny_tokenizer_dir()) / "tokenizer_config.json");
  json config = json::parse(in);
  std::string tmpl = config["chat_template"];
  const std::string tag = "{{'<｜Assistant｜>'}}{% endif %}";
  const size_t at = tmpl.rfind(tag);
  EXPECT_NE(at, std::string::npos) << tmpl;
  tmpl.replace(at, tag.size(), "{{'<｜Assistant｜><think>\\n'}}{% endif %}");
  config["chat_template"] = tmpl;
  std::ofstream(dir / "tokenizer_config.json") << config.dump();
  return dir.string();
}

TEST(ThinkingConstraint, TheReasoningIsFreeUnderAResponseFormat) {
  const std::string dir = thinking_tokenizer_dir();
  auto model = TextModel::load(test_data_dir() + "/golden/v3-tiny/checkpoint", dir,
                               ModelOptions{.max_positions = kTestContext});
  ASSERT_TRUE(model.ok()) << model.error().message;
  RunningServer server(test_options(), **model);
  auto c = server.client();
  int starts_like_json = 0;
  for (uint64_t seed : {1, 2, 3, 4}) {
    json body = chat_body("A person, as JSON", 12, seed);
    body["temperature"] = 1.0;
    body["response_format"] = {{"type", "json_object"}};
    const JsonReply r = post_json(c, "/v1/chat/completions", body);
    ASSERT_EQ(r.status, 200) << r.raw;
    const json& choice = r.body["choices"][0];
    // 12 tokens of this random model never close the reasoning: all of it is reasoning, none
    // of it forced into JSON, and the JSON answer is still owed (cut by the limit).
    const std::string reasoning = choice["message"].value("reasoning_content", "");
    EXPECT_FALSE(reasoning.empty()) << r.raw;
    EXPECT_EQ(choice["finish_reason"], "length") << r.raw;
    starts_like_json += reasoning.starts_with("{");
  }
  EXPECT_LT(starts_like_json, 4) << "the reasoning was held to the JSON grammar";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dsv3::testing
