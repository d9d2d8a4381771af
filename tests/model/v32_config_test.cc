// deepseek_v32 configs: the indexer's keys are read and validated like the rest.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/config.h"
#include "model/presets.h"

namespace dsv3 {
namespace {

nlohmann::json v32_config() {
  std::ifstream f(std::string(DSV3_TEST_DATA_DIR) +
                  "/golden/v32-tiny/checkpoint/config.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::json::parse(ss.str());
}

std::string parse_error(const nlohmann::json& j) {
  auto r = parse_model_config(j.dump(), "config.json");
  return r.ok() ? "" : r.error().message;
}

TEST(V32Config, ParsesTheIndexerAndUe8m0Scales) {
  auto c = parse_model_config(v32_config().dump(), "v32");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->has_indexer());
  EXPECT_EQ(c->index_n_heads, 8);
  EXPECT_EQ(c->index_head_dim, 128);
  EXPECT_EQ(c->index_topk, 16);
  EXPECT_TRUE(c->fp8_scale_ue8m0);
  // V3 semantics otherwise: sigmoid routing with noaux_tc.
  EXPECT_EQ(c->topk_method, TopkMethod::kNoauxTc);
  EXPECT_EQ(c->scoring_func, ScoringFunc::kSigmoid);
  EXPECT_NE(describe(*c).find("top-16"), std::string::npos);
  // The manifest's softmax_scale from the official code.
  EXPECT_NEAR(c->softmax_scale(), 0.23423177588657831, 1e-9);
}

TEST(V32Config, ScaleFormatOfBf16AndPlainFp8Checkpoints) {
  auto j = v32_config();
  j.erase("quantization_config");  // BF16: the release's power-of-two scales still apply
  EXPECT_TRUE(parse_model_config(j.dump(), "bf16")->fp8_scale_ue8m0);
  j = v32_config();
  j["quantization_config"].erase("scale_fmt");
  EXPECT_FALSE(parse_model_config(j.dump(), "fp8")->fp8_scale_ue8m0);
  j["quantization_config"]["scale_fmt"] = "e8m0";
  EXPECT_NE(parse_error(j).find("scale_fmt 'e8m0'"), std::string::npos) << parse_error(j);
}

TEST(V32Config, RefusesWhatTheIndexerCannotRun) {
  auto j = v32_config();
  j.erase("index_topk");
  EXPECT_NE(parse_error(j).find("missing key 'index_topk'"), std::string::npos);
  j = v32_config();
  j["index_head_dim"] = 64;
  EXPECT_NE(parse_error(j).find("index_head_dim = 64"), std::string::npos);
  j = v32_config();
  j["index_n_heads"] = 0;
  EXPECT_NE(parse_error(j).find("index_n_heads = 0"), std::string::npos);
  j = v32_config();
  j["kv_lora_rank"] = 96;
  EXPECT_NE(parse_error(j).find("multiple of 128"), std::string::npos);
  j = v32_config();
  j["q_lora_rank"] = nullptr;
  EXPECT_NE(parse_error(j).find("q_lora_rank"), std::string::npos);
  // The indexer's keys belong to deepseek_v32 only.
  j = v32_config();
  j["model_type"] = "deepseek_v3";
  EXPECT_NE(parse_error(j).find("unknown key 'index_topk'"), std::string::npos);
}

TEST(V32Config, PresetsWriteConfigsThatParseBack) {
  for (const char* name : {"v32-tiny", "bench-v32", "v32-671b"}) {
    auto text = preset_config_json(name);
    ASSERT_TRUE(text.ok());
    auto c = parse_model_config(*text, name);
    ASSERT_TRUE(c.ok()) << name << ": " << c.error().message;
    EXPECT_TRUE(c->has_indexer()) << name;
    EXPECT_EQ(c->index_topk, preset_config(name)->index_topk) << name;
    EXPECT_NE(text->find("DeepseekV32ForCausalLM"), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace dsv3
