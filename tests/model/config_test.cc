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
  // Fields of quantization_config of the wrong type are refused by name, not thrown past the
  // parser (a fuzzer found "fmt": [128, 128] ending the process).
  for (const char* key : {"fmt", "quant_method", "scale_fmt"}) {
    j = nlohmann::json::parse(golden_config("v3-tiny"));
    j["quantization_config"][key] = nlohmann::json::array({128, 128});
    EXPECT_NE(parse_error(j).find(std::string("quantization_config.") + key + " = [128,128]"),
              std::string::npos)
        << key;
  }
  j = nlohmann::json::parse(golden_config("v3-tiny"));
  j["quantization_config"] = {{"quant_method", "dsv3"}, {"fmt", "q8"}, {"group_size", "32"}};
  EXPECT_NE(parse_error(j).find("quantization_config.group_size = \"32\": expected an integer"),
            std::string::npos);
  EXPECT_NE(parse_model_config("{not json", "x").error().message.find("not a valid JSON"),
            std::string::npos);
}

// Every numeric field out of range: the error names the key, the value and what was expected.
// JSON has no infinity, and a number too large for a double is refused as invalid JSON.
const nlohmann::json kOverflow = "OVERFLOWING_NUMBER";

std::string with_overflow(const nlohmann::json& j) {
  std::string text = j.dump();
  const std::string quoted = "\"OVERFLOWING_NUMBER\"";
  for (size_t at; (at = text.find(quoted)) != std::string::npos;) text.replace(at, quoted.size(), "1e999");
  return text;
}

struct BadValue {
  std::string pointer;  // JSON pointer into the v3-tiny config
  nlohmann::json value;
  std::string expected_text;  // must appear in the error
};

TEST(Config, RefusesEveryOutOfRangeNumberByNameValueAndExpectation) {
  const std::vector<BadValue> cases = {
      {"/rope_scaling/beta_fast", -1, "key 'rope_scaling.beta_fast' = -1: expected a finite number > 0"},
      {"/rope_scaling/beta_fast", 0, "key 'rope_scaling.beta_fast' = 0: expected a finite number > 0"},
      {"/rope_scaling/beta_slow", -2.5, "key 'rope_scaling.beta_slow' = -2.5: expected a finite number > 0"},
      {"/rope_scaling/beta_slow", 0, "key 'rope_scaling.beta_slow' = 0: expected a finite number > 0"},
      {"/rope_scaling/beta_slow", 32, "key 'rope_scaling.beta_fast' = 32: expected more than rope_scaling.beta_slow = 32"},
      {"/rope_scaling/beta_fast", kOverflow, "not a valid JSON object"},
      {"/rope_scaling/factor", 0.5, "key 'rope_scaling.factor' = 0.5: expected a finite number >= 1"},
      {"/rope_scaling/mscale", -1, "key 'rope_scaling.mscale' = -1: expected a finite number >= 0"},
      {"/rope_scaling/mscale_all_dim", kOverflow, "not a valid JSON object"},
      {"/rope_scaling/original_max_position_embeddings", 0,
       "key 'rope_scaling.original_max_position_embeddings' = 0: expected an integer in [1, "},
      {"/rope_theta", 0, "key 'rope_theta' = 0: expected a finite number > 1"},
      {"/rope_theta", -10000, "key 'rope_theta' = -10000: expected a finite number > 1"},
      {"/rope_theta", kOverflow, "not a valid JSON object"},
      {"/rms_norm_eps", 0, "key 'rms_norm_eps' = 0: expected a finite number > 0 and <= 1"},
      {"/rms_norm_eps", -1e-6, "key 'rms_norm_eps' = -1e-06: expected a finite number > 0"},
      {"/routed_scaling_factor", 0, "key 'routed_scaling_factor' = 0: expected a finite number > 0"},
      {"/routed_scaling_factor", kOverflow, "not a valid JSON object"},
      {"/vocab_size", 0, "key 'vocab_size' = 0: expected an integer in [1, 16777216]"},
      {"/vocab_size", int64_t(1) << 40, "key 'vocab_size' = 1099511627776: expected an integer in [1, 16777216]"},
      {"/hidden_size", -256, "key 'hidden_size' = -256: expected an integer in [1, "},
      {"/hidden_size", int64_t(1) << 40, "key 'hidden_size' = 1099511627776: expected an integer in [1, 1048576]"},
      {"/intermediate_size", 0, "key 'intermediate_size' = 0: expected an integer in [1, "},
      {"/moe_intermediate_size", 0, "key 'moe_intermediate_size' = 0: expected an integer in [1, "},
      {"/num_hidden_layers", 0, "key 'num_hidden_layers' = 0: expected an integer in [1, 4096]"},
      {"/num_hidden_layers", 1000000, "key 'num_hidden_layers' = 1000000: expected an integer in [1, 4096]"},
      {"/first_k_dense_replace", 7, "key 'first_k_dense_replace' = 7: expected an integer in [0, 2] (at most num_hidden_layers)"},
      {"/first_k_dense_replace", -1, "key 'first_k_dense_replace' = -1"},
      {"/moe_layer_freq", 0, "key 'moe_layer_freq' = 0: expected an integer in [1, "},
      {"/num_attention_heads", 0, "key 'num_attention_heads' = 0: expected an integer in [1, "},
      {"/kv_lora_rank", 0, "key 'kv_lora_rank' = 0: expected an integer in [1, "},
      {"/q_lora_rank", -5, "key 'q_lora_rank' = -5: expected an integer in [0, 1048576] (or null"},
      {"/qk_nope_head_dim", 0, "key 'qk_nope_head_dim' = 0: expected an integer in [1, "},
      {"/v_head_dim", 100000, "key 'v_head_dim' = 100000: expected an integer in [1, 16384]"},
      {"/qk_rope_head_dim", 15, "key 'qk_rope_head_dim' = 15: expected a positive even number"},
      {"/n_routed_experts", -4, "key 'n_routed_experts' = -4: expected an integer in [0, 65536]"},
      {"/n_shared_experts", -1, "key 'n_shared_experts' = -1: expected an integer in [0, "},
      {"/num_experts_per_tok", 0, "key 'num_experts_per_tok' = 0: expected an integer in [1, 16]"},
      {"/num_experts_per_tok", 17, "key 'num_experts_per_tok' = 17: expected an integer in [1, 16] (at most n_routed_experts)"},
      {"/n_group", 3, "key 'n_group' = 3: expected a positive divisor of n_routed_experts = 16"},
      {"/n_group", 0, "key 'n_group' = 0: expected a positive divisor"},
      {"/topk_group", 5, "key 'topk_group' = 5: expected an integer in [1, 4] (at most n_group)"},
      {"/topk_group", 0, "key 'topk_group' = 0: expected an integer in [1, 4]"},
      {"/num_nextn_predict_layers", -1, "key 'num_nextn_predict_layers' = -1: expected an integer in [0, 64]"},
      {"/max_position_embeddings", 0, "key 'max_position_embeddings' = 0: expected an integer in [1, "},
      {"/eos_token_id", 5000, "key 'eos_token_id' = 5000: expected an integer in [0, 2047] (a token id below vocab_size)"},
      {"/bos_token_id", -1, "key 'bos_token_id' = -1: expected an integer in [0, 2047]"},
  };
  const nlohmann::json good = nlohmann::json::parse(golden_config("v3-tiny"));
  ASSERT_EQ(good["n_routed_experts"], 16);
  ASSERT_EQ(good["n_group"], 4);
  ASSERT_EQ(good["num_hidden_layers"], 2);
  ASSERT_EQ(good["vocab_size"], 2048);
  for (const BadValue& c : cases) {
    SCOPED_TRACE(c.pointer + " = " + c.value.dump());
    nlohmann::json j = good;
    j[nlohmann::json::json_pointer(c.pointer)] = c.value;
    auto r = parse_model_config(with_overflow(j), "config.json");
    ASSERT_FALSE(r.ok());
    const std::string e = r.error().message;
    EXPECT_NE(e.find(c.expected_text), std::string::npos) << e;
  }
}

// Problems are all reported at once, range problems included.
TEST(Config, ReportsSeveralBadNumbersTogether) {
  auto j = nlohmann::json::parse(golden_config("v3-tiny"));
  j["rope_scaling"]["beta_fast"] = -1;
  j["rms_norm_eps"] = 0;
  j["vocab_size"] = 0;
  const std::string e = parse_error(j);
  EXPECT_NE(e.find("'rope_scaling.beta_fast' = -1"), std::string::npos) << e;
  EXPECT_NE(e.find("'rms_norm_eps' = 0"), std::string::npos) << e;
  EXPECT_NE(e.find("'vocab_size' = 0"), std::string::npos) << e;
}

}  // namespace
}  // namespace dsv3
