// `dsv3 synth` and `dsv3 bench` driven as a user would, through the binary.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "model/presets.h"
#include "model/weights.h"
#include "synth/synth_support.h"

namespace dsv3 {
namespace {

using testing::read_file;
using testing::TempDir;

struct RunResult {
  int exit_code;
  std::string out, err;
};

RunResult run_dsv3(const TempDir& scratch, const std::string& args) {
  const std::string out = scratch.file("stdout"), err = scratch.file("stderr");
  const std::string cmd = std::string(DSV3_BINARY) + " " + args + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(out), read_file(err)};
}

TEST(SynthCli, SynthThenBenchJson) {
  TempDir scratch("cli"), model("cli_model");
  auto synth = run_dsv3(scratch, "synth --preset tiny --out " + model.str() + " --seed 3");
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  EXPECT_NE(synth.out.find("bf16 weights"), std::string::npos) << synth.out;

  auto bench = run_dsv3(scratch, "bench --model " + model.str() +
                                     " -p 16 -n 4 --repeats 1 --json -t 2 --probe-mib 64");
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  const auto j = nlohmann::json::parse(bench.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_object()) << bench.out;
  for (const char* key : {"prefill_tok_s", "prefill_tok_s_min", "prefill_tok_s_max",
                          "decode_tok_s", "decode_tok_s_min", "decode_tok_s_max",
                          "bytes_per_token", "bandwidth_gb_s", "roofline_tok_s", "roofline_pct",
                          "experts_per_moe_layer"}) {
    ASSERT_TRUE(j.contains(key) && j[key].is_number()) << key << " in " << bench.out;
    EXPECT_GT(j[key].get<double>(), 0.0) << key;
  }
  EXPECT_EQ(j["threads"], 2);
  EXPECT_EQ(j["prompt_tokens"], 16);
  EXPECT_EQ(j["gen_tokens"], 4);
  EXPECT_EQ(j["repeats"], 1);
  ASSERT_TRUE(j["weights"].is_string());
  EXPECT_NE(j["weights"].get<std::string>().find("bf16"), std::string::npos);
  EXPECT_EQ(j["prefill_tok_s"], j["prefill_tok_s_min"]);  // one repeat: no spread

  // One token per step reads top-k distinct experts per MoE layer; the weights read are the
  // active parameters in BF16 (2 bytes), plus f32 norm copies and the KV cache.
  const ModelConfig c = preset_config("tiny").value();
  EXPECT_DOUBLE_EQ(j["experts_per_moe_layer"].get<double>(), double(c.num_experts_per_tok));
  const double active = 2.0 * double(count_parameters(c).active_per_token);
  const double bytes = j["bytes_per_token"];
  EXPECT_GT(bytes, active);
  EXPECT_LT(bytes, active * 1.05);
  const auto& detail = j["bytes_per_token_detail"];
  const double kv_width = double(c.kv_cache_width()) * 4 * double(c.num_hidden_layers);
  // Steps attend over 17..20 positions: 18.5 on average.
  EXPECT_DOUBLE_EQ(detail["kv_cache"].get<double>(), 18.5 * kv_width);
  EXPECT_DOUBLE_EQ(j["roofline_tok_s"].get<double>(),
                   j["bandwidth_gb_s"].get<double>() * 1e9 / bytes);
}

TEST(SynthCli, HumanTableAndFp8) {
  TempDir scratch("cli"), model("cli_model");
  auto synth = run_dsv3(scratch, "synth --preset tiny --dtype fp8 --out " + model.str());
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  EXPECT_NE(synth.out.find("fp8 weights"), std::string::npos) << synth.out;
  auto bench = run_dsv3(scratch, "bench --model " + model.str() +
                                     " -p 8 -n 2 --repeats 3 -t 1 --probe-mib 0");
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  for (const char* row : {"prefill", "decode", "bytes/token", "median of 3 repeats", "fp8"}) {
    EXPECT_NE(bench.out.find(row), std::string::npos) << row << " in\n" << bench.out;
  }
}

TEST(SynthCli, BadInputsGiveClearErrors) {
  TempDir scratch("cli"), model("cli_model");
  auto r = run_dsv3(scratch, "synth --preset huge --out " + model.str());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown preset 'huge' (expected one of: tiny"), std::string::npos) << r.err;

  r = run_dsv3(scratch, "synth --preset tiny --dtype int3 --out " + model.str());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown dtype 'int3' (expected bf16 or fp8)"), std::string::npos) << r.err;

  r = run_dsv3(scratch, "synth --out " + model.str());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--config FILE or --preset NAME"), std::string::npos) << r.err;

  r = run_dsv3(scratch, "synth --preset tiny --config x.json --out " + model.str());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("excludes"), std::string::npos) << r.err;

  r = run_dsv3(scratch, "synth --config " + scratch.file("missing.json") + " --out " + model.str());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot read"), std::string::npos) << r.err;

  r = run_dsv3(scratch, "bench --model " + scratch.file("no_such_model"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dsv3
