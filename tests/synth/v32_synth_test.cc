// DeepSeek-V3.2 checkpoints written by `dsv3 synth` (v32-tiny preset): they load, sparse
// attention gives the same logits whatever the prompt's split, and `dsv3 quantize` keeps the
// lightning indexer's weights as the reference uses them.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "model/presets.h"
#include "model/requantize.h"
#include "model/synth.h"
#include "model/transformer.h"
#include "synth_support.h"

namespace dsv3 {
namespace {

using testing::TempDir;

void synth_v32_tiny(const std::string& dir, SynthDType dtype) {
  auto text = preset_config_json("v32-tiny");
  ASSERT_TRUE(text.ok());
  auto s = synthesize_checkpoint(*text, "v32-tiny",
                                 {.out_dir = dir, .dtype = dtype, .seed = 5, .threads = 2});
  ASSERT_TRUE(s.ok()) << s.error().message;
}

// [T, vocab] logits of tokens fed in chunks of `chunk`.
std::vector<float> logits_in_chunks(const Model& m, const std::vector<int32_t>& tokens,
                                    int64_t chunk, AttentionImpl impl) {
  const int64_t V = m.config().vocab_size, T = int64_t(tokens.size());
  KvCache cache = m.new_cache();
  Arena arena;
  std::vector<float> logits(size_t(T * V));
  for (int64_t pos = 0; pos < T; pos += chunk) {
    const int64_t n = std::min(chunk, T - pos);
    m.forward({.tokens = std::span(tokens).subspan(pos, n), .cache = &cache, .arena = &arena,
               .logits_out = logits.data() + pos * V, .attention = impl});
  }
  return logits;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(V32Synth, TinyPresetAgreesAcrossPromptSplitsAndAttentionForms) {
  for (SynthDType dtype : {SynthDType::kBF16, SynthDType::kFP8}) {
    TempDir dir("v32");
    synth_v32_tiny(dir.str(), dtype);
    auto m = Model::load(dir.str(), ModelOptions{.max_positions = 64});
    ASSERT_TRUE(m.ok()) << m.error().message;
    ASSERT_TRUE((*m)->config().has_indexer());
    ASSERT_EQ((*m)->config().index_topk, 16);
    EXPECT_TRUE((*m)->config().fp8_scale_ue8m0);
    if (dtype == SynthDType::kFP8) {
      // As the release: scale_fmt ue8m0 and every block scale a power of two.
      const Matrix& wq_b = (*m)->weights().layers[0].attn.indexer.wq_b;
      ASSERT_EQ(wq_b.format, WeightFormat::kFP8Block);
      const float s = wq_b.block_scales[0];
      EXPECT_EQ(std::exp2(std::round(std::log2(s))), s);
    }
    // 48 tokens: rows past 16 drop tokens.
    std::vector<int32_t> tokens(48);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t((i * 37 + 11) % 512);
    const auto prefill = logits_in_chunks(**m, tokens, 48, AttentionImpl::kAbsorbed);
    for (int64_t chunk : {1, 7}) {
      for (AttentionImpl impl : {AttentionImpl::kAbsorbed, AttentionImpl::kNaive}) {
        // Random weights of stddev 0.02 give logits near 1e-2: rows agree to float32 sums,
        // but for the rare row that reads an FP8 code flipped at a rounding boundary (one
        // token's products summed in another order; golden/README.md, V3.2).
        const auto got = logits_in_chunks(**m, tokens, chunk, impl);
        const size_t V = size_t((*m)->config().vocab_size);
        int outliers = 0;
        for (size_t r = 0; r < tokens.size(); ++r) {
          const float d = max_abs_diff({got.begin() + r * V, got.begin() + (r + 1) * V},
                                       {prefill.begin() + r * V, prefill.begin() + (r + 1) * V});
          outliers += d > 1e-5f;
          EXPECT_LT(d, 2e-3f) << "row " << r;
        }
        EXPECT_LE(outliers, 4) << "chunk " << chunk << (dtype == SynthDType::kFP8 ? " fp8" : " bf16");
      }
    }
  }
}

TEST(V32Synth, QuantizeKeepsTheIndexerWeights) {
  TempDir src("v32_src");
  synth_v32_tiny(src.str(), SynthDType::kFP8);
  for (bool experts_only : {false, true}) {
    TempDir out("v32_q8");
    std::filesystem::remove_all(out.str());
    auto q = requantize_checkpoint({.in_dir = src.str(), .out_dir = out.str(),
                                    .to = WeightFormat::kQ8, .experts_only = experts_only});
    ASSERT_TRUE(q.ok()) << q.error().message;
    auto ck = Checkpoint::open(out.str());
    ASSERT_TRUE(ck.ok()) << ck.error().message;
    auto dtype = [&](const std::string& name) { return ck->get(name).value().dtype; };
    const std::string p = "model.layers.1.self_attn.";
    // Attention is quantized (unless experts only); the indexer keeps FP8 where the new config
    // keeps block scales, BF16 (exact for power-of-two scales) where it does not.
    EXPECT_EQ(dtype(p + "q_b_proj.weight"), experts_only ? DType::kF8E4M3 : DType::kU8);
    EXPECT_EQ(dtype(p + "indexer.wq_b.weight"), experts_only ? DType::kF8E4M3 : DType::kBF16);
    EXPECT_EQ(dtype(p + "indexer.wk.weight"), experts_only ? DType::kF8E4M3 : DType::kBF16);
    EXPECT_EQ(dtype(p + "indexer.weights_proj.weight"), DType::kBF16);
    EXPECT_EQ(dtype(p + "indexer.k_norm.bias"), DType::kF32);
    EXPECT_EQ(dtype("model.layers.1.mlp.experts.0.up_proj.weight"), DType::kU8);
    auto m = Model::load(out.str(), ModelOptions{.max_positions = 64});
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_TRUE((*m)->config().fp8_scale_ue8m0);
    const std::vector<int32_t> tokens = {0, 5, 17, 3, 9};
    const auto logits = logits_in_chunks(**m, tokens, 5, AttentionImpl::kAbsorbed);
    for (float v : logits) ASSERT_TRUE(std::isfinite(v));
  }
}

}  // namespace
}  // namespace dsv3

namespace dsv3 {
namespace {

struct CliResult {
  int exit_code;
  std::string out, err;
};

CliResult run_dsv3(const testing::TempDir& scratch, const std::string& args) {
  const std::string out = scratch.file("stdout"), err = scratch.file("stderr");
  const std::string cmd = std::string(DSV3_BINARY) + " " + args + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, testing::read_file(out),
          testing::read_file(err)};
}

// `dsv3 info` counts the indexer's key cache; `dsv3 bench --synthetic-context` decodes after
// random cache entries (the sparse path: 40 positions, top-16) without a prefill.
TEST(V32Cli, InfoAndBenchAtASyntheticDepth) {
  testing::TempDir scratch("v32_cli"), model("v32_cli_model");
  auto synth = run_dsv3(scratch, "synth --preset v32-tiny --dtype fp8 --out " + model.str());
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  auto info = run_dsv3(scratch, "info --model " + model.str());
  ASSERT_EQ(info.exit_code, 0) << info.err;
  // 2 layers x (160 f32 latent values + 128 FP8 codes + a float scale).
  EXPECT_NE(info.out.find("(1544 bytes per token, f32)"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("lightning indexer, 8 heads of 128, top-16"), std::string::npos)
      << info.out;
  auto bench = run_dsv3(scratch, "bench --model " + model.str() +
                                     " -p 40 -n 4 --repeats 1 -t 2 --probe-mib 0 "
                                     "--synthetic-context --json");
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  const auto j = nlohmann::json::parse(bench.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_object()) << bench.out;
  EXPECT_EQ(j["prefill_tok_s"], 0.0);
  EXPECT_GT(j["decode_tok_s"].get<double>(), 0.0);
  // Each step reads the 16 latent rows it keeps (160 f32 values, 2 layers) and every key.
  const double kv = j["bytes_per_token_detail"]["kv_cache"];
  double want = 0;
  for (int step = 0; step < 4; ++step) want += 16.0 * 2 * 640 + (41.0 + step) * 2 * 132;
  EXPECT_DOUBLE_EQ(kv, want / 4);
}


// Greedy generation of the golden prompt p2 (48 tokens, sparse rows) through the CLI: plain
// decoding and MTP speculative decoding (verification of [token, draft] through the
// indexer, rollback of rejected drafts in both caches) give the reference's tokens.
TEST(V32Cli, GreedyGenerationWithAndWithoutMtpGivesTheGoldenTokens) {
  const std::string dir = std::string(DSV3_SOURCE_DIR) + "/tests/data/golden/v32-tiny";
  auto ints = [&](const std::string& file) {
    const std::string bytes = testing::read_file(dir + "/golden/" + file);
    std::vector<int32_t> v(bytes.size() / 4);
    std::memcpy(v.data(), bytes.data(), bytes.size());
    std::string csv;
    for (int32_t x : v) csv += (csv.empty() ? "" : ",") + std::to_string(x);
    return csv;
  };
  const std::string prompt = ints("p2_tokens.bin"), want = ints("p2_gen_tokens.bin");
  ASSERT_FALSE(prompt.empty());
  testing::TempDir scratch("v32_generate");
  for (const char* mtp : {"on", "off"}) {
    auto r = run_dsv3(scratch, "generate --model " + dir + "/checkpoint --tokens " + prompt +
                                   " --max-new-tokens 16 --mtp " + mtp);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, want + "\n") << "--mtp " << mtp;
  }
}

}  // namespace
}  // namespace dsv3
