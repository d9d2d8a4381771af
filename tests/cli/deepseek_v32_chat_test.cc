// DeepSeek-V3.2 checkpoints ship no chat template: `dsv3 chat` and `dsv3 template` use the
// V3.2 encoder when the model is a deepseek_v32 one and its tokenizer has no chat_template.
// Driven on the v32-tiny golden checkpoint (random weights: the text is noise) with the small
// tokenizer cut from DeepSeek-V3's, its chat_template removed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli/run_dsv3.h"
#include "support/golden.h"
#include "support/tiny_tokenizer.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

class DeepseekV32Chat : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("dsv3_v32_chat_" + std::to_string(::getpid()))).string();
    testing::write_tiny_tokenizer(dir_ + "/tok");
    ordered_json config = ordered_json::parse(std::ifstream(dir_ + "/tok/tokenizer_config.json"));
    config.erase("chat_template");
    std::ofstream(dir_ + "/tok/tokenizer_config.json") << config.dump();
    // A model directory the way V3.2 is released: config.json and tokenizer, no template.
    fs::create_directories(dir_ + "/model");
    fs::copy_file(checkpoint() + "/config.json", dir_ + "/model/config.json");
    fs::copy_file(dir_ + "/tok/tokenizer.json", dir_ + "/model/tokenizer.json");
    fs::copy_file(dir_ + "/tok/tokenizer_config.json", dir_ + "/model/tokenizer_config.json");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string checkpoint() { return testing::test_data_dir() + "/golden/v32-tiny/checkpoint"; }
  static std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
    return dir_ + "/" + name;
  }
  // The number of tokens of `text` with the tokenizer.
  static size_t tokens_of(const std::string& text) {
    auto r = testing::run_dsv3("tokenize --tokenizer " + dir_ + "/tok --file " + write("text", text));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out).size();
  }
  static inline std::string dir_;
};

TEST_F(DeepseekV32Chat, TemplateRendersWithTheV32Encoder) {
  const std::string messages = write("m.json", R"([{"role":"system","content":"Be brief."},
      {"role":"user","content":"Hi"},{"role":"assistant","content":"Hello."},
      {"role":"user","content":"More?"}])");
  // A V3.2 model directory whose tokenizer has no template: the encoder, chat mode.
  auto r = testing::run_dsv3("template --model " + dir_ + "/model --messages " + messages);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi<｜Assistant｜></think>Hello.<｜end▁of▁sentence｜>"
            "<｜User｜>More?<｜Assistant｜></think>");
  r = testing::run_dsv3("template --model " + dir_ + "/model --thinking --messages " + messages);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.ends_with("<｜User｜>More?<｜Assistant｜><think>")) << r.out;
  // Any tokenizer, asked for by name.
  r = testing::run_dsv3("template --tokenizer " + testing::test_data_dir() +
                        "/tokenizer/deepseek-v3 --chat-format deepseek-v32 --messages " + messages);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.ends_with("<｜User｜>More?<｜Assistant｜></think>")) << r.out;
  // Without a V3.2 config there is no template to fall back on.
  r = testing::run_dsv3("template --tokenizer " + dir_ + "/tok --messages " + messages);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("has no chat_template"), std::string::npos) << r.err;
}

TEST_F(DeepseekV32Chat, ChatRunsAV32CheckpointInBothModes) {
  const std::regex line(R"(\[(\d+) tokens, [0-9.]+ tok/s, prompt (\d+) tokens \((\d+) cached\))");
  for (const bool thinking : {false, true}) {
    SCOPED_TRACE(thinking ? "thinking" : "chat");
    auto r = testing::run_dsv3("chat --model " + checkpoint() + " --tokenizer " + dir_ +
                                   "/tok -n 5 --seed 3 --ignore-eos" + (thinking ? " --thinking" : ""),
                               "Hello there\nAnd again\n");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::smatch> turns;
    for (auto it = std::sregex_iterator(r.err.begin(), r.err.end(), line); it != std::sregex_iterator(); ++it) {
      turns.push_back(*it);
    }
    ASSERT_EQ(turns.size(), 2u) << r.err;
    // The first prompt is exactly the V3.2 encoding of the message.
    const std::string first = std::string("<｜begin▁of▁sentence｜><｜User｜>Hello there<｜Assistant｜>") +
                              (thinking ? "<think>" : "</think>");
    EXPECT_EQ(std::stoul(turns[0][2]), tokens_of(first)) << r.err;
    EXPECT_EQ(std::stoi(turns[1][3]) > 0, true) << "the second turn reuses the first: " << r.err;
  }
}

}  // namespace
}  // namespace dsv3
