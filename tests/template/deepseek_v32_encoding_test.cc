// DeepSeek-V3.2's chat format against renders of the official Python encoder
// (tests/data/chat_format/deepseek-v32: cases.json from scripts/render_dsv32_fixtures.py, and
// the example that ships with the encoder in official/), byte for byte.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "template/chat_template.h"
#include "template/deepseek_v32_encoding.h"

namespace dsv3 {
namespace {

using nlohmann::ordered_json;

const std::string kDir = std::string(DSV3_TEST_DATA_DIR) + "/chat_format/deepseek-v32/";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DeepseekV32Encoding, EveryFixtureCaseMatchesTheOfficialEncoder) {
  const ordered_json cases = ordered_json::parse(read_text(kDir + "cases.json"));
  ASSERT_GE(cases.size(), 12u);
  for (const ordered_json& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    auto out = encode_deepseek_v32(c["messages"], {.thinking = c["thinking"].get<bool>()});
    ASSERT_TRUE(out.ok()) << out.error().message;
    EXPECT_EQ(*out, c["expected"].get<std::string>());
  }
}

TEST(DeepseekV32Encoding, TheOfficialExampleMatches) {
  // The encoder's own test: tools go into the first (system) message, thinking mode. The
  // expected file ends with a newline the encoder does not write.
  ordered_json input = ordered_json::parse(read_text(kDir + "official/test_input.json"));
  ordered_json messages = input["messages"];
  messages[0]["tools"] = input["tools"];
  auto out = encode_deepseek_v32(messages, {.thinking = true});
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out + "\n", read_text(kDir + "official/test_output.txt"));
}

TEST(DeepseekV32Encoding, ChatTemplateTakesToolsAndThinkingFromTheContext) {
  const ordered_json input = ordered_json::parse(read_text(kDir + "official/test_input.json"));
  // As a request sends them: tools beside the messages, thinking as a template variable.
  auto out = render_chat(ChatTemplate::deepseek_v32(), input["messages"], true, "<bos>", "<eos>",
                         ordered_json{{"tools", input["tools"]}, {"thinking", true}});
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out + "\n", read_text(kDir + "official/test_output.txt"));

  // Without a system message the tools get an empty one, as the encoder renders it.
  const ordered_json user = ordered_json::array({{{"role", "user"}, {"content", "Hi"}}});
  out = render_chat(ChatTemplate::deepseek_v32(), user, true, "", "", {{"tools", input["tools"]}});
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_TRUE(out->starts_with("<｜begin▁of▁sentence｜>\n\n## Tools\n\n")) << *out;
  EXPECT_TRUE(out->ends_with("</functions>\n<｜User｜>Hi<｜Assistant｜></think>")) << *out;

  out = render_chat(ChatTemplate::deepseek_v32(), user, true, "", "", {{"thinking", "yes"}});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message.find("thinking must be true or false"), std::string::npos);
}

TEST(DeepseekV32Encoding, RefusesWhatTheOfficialEncoderRefusesByMessage) {
  auto error_of = [](const char* json, bool thinking = false) {
    auto out = encode_deepseek_v32(ordered_json::parse(json), {.thinking = thinking});
    return out.ok() ? std::string("ok: ") + *out : out.error().message;
  };
  EXPECT_EQ(error_of(R"([{"role":"user","content":"a"},{"role":"tool","content":"r"}])"),
            "message 1: a tool result must follow an assistant message with tool_calls");
  EXPECT_EQ(error_of(R"([{"role":"assistant","content":"a"},{"role":"tool","content":"r"}])"),
            "message 1: tool result 1 but the assistant message made 0 tool calls");
  EXPECT_EQ(error_of(R"([{"role":"developer","content":""}])"),
            "message 0: a developer message needs content");
  EXPECT_EQ(error_of(R"([{"role":"narrator","content":"a"}])"),
            "message 0: unknown role 'narrator' (expected system, developer, user, assistant or tool)");
  EXPECT_EQ(error_of(R"([{"role":"user","content":"a"},{"role":"assistant","content":"b"}])", true),
            "message 1: in thinking mode an assistant message after the last user message needs "
            "reasoning_content or tool_calls");
  EXPECT_EQ(error_of(R"([{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"[1]"}}]}])"),
            "message 0: the arguments of tool call 'f' are not a JSON object");
  EXPECT_EQ(error_of(R"([{"role":"user","content":[{"type":"text","text":"a"}]}])"),
            "message 0: content must be a string, got array");
  EXPECT_EQ(error_of(R"({"role":"user"})"), "messages must be a JSON array, got object");
}

TEST(DeepseekV32Encoding, WritesPythonsRenderingOfValues) {
  // Python formats a missing user content as None, and json.dumps writes floats with repr().
  auto out = encode_deepseek_v32(ordered_json::parse(R"([{"role":"user"},
      {"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{\"x\": 1e5, \"y\": [true, null]}"}}]}])"));
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out,
            "<｜begin▁of▁sentence｜><｜User｜>None<｜Assistant｜></think>\n\n<｜DSML｜function_calls>\n"
            "<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"x\" string=\"false\">100000.0</｜DSML｜parameter>\n"
            "<｜DSML｜parameter name=\"y\" string=\"false\">[true, null]</｜DSML｜parameter>\n</｜DSML｜invoke>\n"
            "</｜DSML｜function_calls><｜end▁of▁sentence｜>");
}

}  // namespace
}  // namespace dsv3
