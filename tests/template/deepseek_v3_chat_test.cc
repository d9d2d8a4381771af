// Renders every case of tests/data/tokenizer/deepseek-v3/chat.jsonl with the chat template from
// DeepSeek-V3's tokenizer_config.json and compares with the expected prompt byte for byte.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "template/chat_template.h"

namespace dsv3 {
namespace {

using nlohmann::ordered_json;

const std::string kDir = std::string(DSV3_TEST_DATA_DIR) + "/tokenizer/deepseek-v3/";

ordered_json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return ordered_json::parse(in);
}

std::vector<ordered_json> read_cases() {
  std::ifstream in(kDir + "chat.jsonl");
  EXPECT_TRUE(in.good()) << "cannot open chat.jsonl";
  std::vector<ordered_json> cases;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) cases.push_back(ordered_json::parse(line));
  }
  return cases;
}

TEST(DeepSeekV3ChatTemplate, RendersEveryGoldenCaseExactly) {
  const ordered_json config = read_json(kDir + "tokenizer_config.json");
  auto tmpl = ChatTemplate::parse(config["chat_template"].get<std::string>());
  ASSERT_TRUE(tmpl.ok()) << tmpl.error().message;
  const std::vector<ordered_json> cases = read_cases();
  ASSERT_EQ(cases.size(), 14u);
  for (const ordered_json& c : cases) {
    std::optional<bool> add_generation_prompt;
    if (!c["add_generation_prompt"].is_null())
      add_generation_prompt = c["add_generation_prompt"].get<bool>();
    auto rendered = render_chat(*tmpl, c["messages"], add_generation_prompt,
                                "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>");
    ASSERT_TRUE(rendered.ok()) << c["name"] << ": " << rendered.error().message;
    EXPECT_EQ(*rendered, c["rendered"].get<std::string>()) << "case " << c["name"];
  }
}

TEST(DeepSeekV3ChatTemplate, ConfigTokensMatchTheGoldenRendering) {
  // The golden prompts were rendered with the BOS/EOS of tokenizer_config.json; check we pass
  // the same strings, so the test above cannot pass by accident with other tokens.
  const ordered_json config = read_json(kDir + "tokenizer_config.json");
  auto token_text = [](const ordered_json& t) {
    return t.is_string() ? t.get<std::string>() : t["content"].get<std::string>();
  };
  EXPECT_EQ(token_text(config["bos_token"]), "<｜begin▁of▁sentence｜>");
  EXPECT_EQ(token_text(config["eos_token"]), "<｜end▁of▁sentence｜>");
}

}  // namespace
}  // namespace dsv3

namespace dsv3 {
namespace {

// A long conversation renders completely (and quickly: values share strings instead of
// copying them, so the cost stays linear in the output size).
TEST(DeepSeekV3ChatTemplate, RendersLongConversations) {
  const ordered_json config = read_json(kDir + "tokenizer_config.json");
  auto tmpl = ChatTemplate::parse(config["chat_template"].get<std::string>());
  ASSERT_TRUE(tmpl.ok()) << tmpl.error().message;
  const std::string text(2000, 'x');
  ordered_json messages = ordered_json::array();
  for (int i = 0; i < 2000; ++i) {
    messages.push_back({{"role", i % 2 == 0 ? "user" : "assistant"}, {"content", text}});
  }
  auto rendered = render_chat(*tmpl, messages, true, "<s>", "</s>");
  ASSERT_TRUE(rendered.ok()) << rendered.error().message;
  const size_t user = std::string("<｜User｜>").size();
  const size_t assistant = std::string("<｜Assistant｜>").size();
  const size_t eos =
      std::string("<｜end▁of▁sentence｜>").size();  // the template writes it literally
  EXPECT_EQ(rendered->size(),
            3 + 1000 * (user + text.size()) + 1000 * (assistant + text.size() + eos) + assistant);
}

}  // namespace
}  // namespace dsv3
