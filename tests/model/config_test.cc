#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/config.h"
#include "support/golden.h"

namespace dsv3 {
namespace {

std::string golden_config(const std::string& name) {
  std::ifstream f(testing::test_data_dir() + "/golden/" + name + "/checkpoint/config.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string parse_error(const nlohmann::json& j) {
  auto r = parse_model_config(j.dump(), "config.json");
  return r.ok() ? "" : r.error().message;
}

TEST(Config, ParsesV3) {
  auto c = parse_model_config(golden_config("v3-tiny"), "v3");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->topk_method, TopkMethod::kNoauxTc);
  EXPECT_EQ(c->scoring_func, ScoringFunc::kSigmoid);
  EXPECT_EQ(c->q_lora_rank, 192);
  EXPECT_EQ(c->num_nextn_predict_layers, 1);
  EXPECT_TRUE(c->fp8_block_quantized);
  EXPECT_TRUE(c->rope_scaling.enabled);
  EXPECT_FALSE(c->is_moe_layer(0));
  EXPECT_TRUE(c->is_moe_layer(1));
  EXPECT_EQ(c->kv_cache_width(), 128 + 16);
  // The manifest's softmax_scale from the official code.
  EXPECT_NEAR(c->softmax_scale(), 0.2704675577217602, 1e-9);
}

TEST(Config, ParsesV2LiteWithNullQLora) {
  auto c = parse_model_config(golden_config("v2lite-tiny"), "v2");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->q_lora_rank, 0);
  EXPECT_EQ(c->topk_method, TopkMethod::kGreedy);
  EXPECT_EQ(c->scoring_func, ScoringFunc::kSoftmax);
  EXPECT_FALSE(c->norm_topk_prob);
  EXPECT_FALSE(c->fp8_block_quantized);
}

TEST(Config, ReportsEveryProblemByName) {
  auto j = nlohmann::json::parse(golden_config("v3-tiny"));
  j["model_type"] = "llama";
  j["scoring_func"] = "relu";
  j["frobnicate"] = 3;
  j.erase("hidden_size");
  const std::string e = parse_error(j);
  EXPECT_NE(e.find("model_type 'llama'"), std::string::npos) << e;
  EXPECT_NE(e.find("'scoring_func' = 'relu'"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'frobnicate'"), std::string::npos) << e;
  EXPECT_NE(e.find("missing key 'hidden_size'"), std::string::npos) << e;
}

TEST(Config, RefusesInconsistentValues) {
  auto j = nlohmann::json::parse(golden_config("v3-tiny"));
  j["n_group"] = 3;  // does not divide 16
  EXPECT_NE(parse_error(j).find("n_group"), std::string::npos);
  j = nlohmann::json::parse(golden_config("v3-tiny"));
  j["qk_rope_head_dim"] = 15;
  EXPECT_NE(parse_error(j).find("even"), std::string::npos);
  j = nlohmann::json::parse(golden_config("v3-tiny"));
  j["hidden_size"] = "256";
  EXPECT_NE(parse_error(j).find("wrong type"), std::string::npos);
  j = nlohmann::json::parse(golden_config("v3-tiny"));
  j["rope_scaling"]["type"] = "dynamic";
  EXPECT_NE(parse_error(j).find("'dynamic'"), std::string::npos);
  j = nlohmann::json::parse(golden_config("v3-tiny"));
  j["quantization_config"]["fmt"] = "e5m2";
  EXPECT_NE(parse_error(j).find("quantization_config"), std::string::npos);
  EXPECT_NE(parse_model_config("{not json", "x").error().message.find("not a valid JSON"),
            std::string::npos);
}

}  // namespace
}  // namespace dsv3
