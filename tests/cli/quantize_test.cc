// `dsv3 quantize --to q8|q4` writes checkpoints the engine loads like any other, and
// `dsv3 compare` measures what the format costs on the trained default model.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "cli/run_dsv3.h"
#include "support/golden.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;
using testing::run_dsv3;

const std::string kDefaultModel = std::string(DSV3_SOURCE_DIR) + "/models/default";

constexpr const char* kText =
    "The jury said it did find that the court had been given a fair hearing, and that the city "
    "would not be able to pay for the new school buildings which the board of education had "
    "asked for last year. It was a cold night, and the old man sat by the fire with his dog.";

struct TempDir {
  std::string path;
  explicit TempDir(const std::string& tag)
      : path((fs::temp_directory_path() / ("dsv3_" + tag + "_" + std::to_string(::getpid())))
                 .string()) {
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

nlohmann::json compare(const std::string& model) {
  auto r = run_dsv3("compare --reference " + kDefaultModel + " --model " + model +
                    " --json --text '" + kText + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out, nullptr, false);
}

struct QuantizeCase {
  const char* format;
  double min_top1, max_kl;
};

// How gtest shows the parameter (instead of its bytes).
[[maybe_unused]] void PrintTo(const QuantizeCase& c, std::ostream* os) {
  *os << c.format << " (top-1 >= " << c.min_top1 << ", KL <= " << c.max_kl << ")";
}

class QuantizeDefaultModel : public ::testing::TestWithParam<QuantizeCase> {};

// On a trained model the distributions barely move. Top-1 over the text's 64 positions moves
// by 1.6% per flipped near-tie: the default model keeps 96.9% under q8 (mean KL 1.7e-4) and
// 92.2% under q4 (KL 1.0e-2).
TEST_P(QuantizeDefaultModel, KeepsItsPredictions) {
  const auto [format, min_top1, max_kl] = GetParam();
  TempDir out(std::string("quant_") + format);
  auto r = run_dsv3("quantize --model " + kDefaultModel + " --to " + format + " --out " + out.path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(std::string("as ") + format), std::string::npos) << r.out;
  const nlohmann::json c = compare(out.path);
  ASSERT_FALSE(c.is_discarded());
  EXPECT_NE(c["weights"].get<std::string>().find(format), std::string::npos) << c.dump();
  EXPECT_GE(c["top1_agreement"].get<double>(), min_top1) << c.dump();
  EXPECT_LT(c["mean_kl"].get<double>(), max_kl) << c.dump();
  EXPECT_GT(c["positions"].get<int>(), 40) << c.dump();
  // The quantized copy chats like any checkpoint (its tokenizer came along).
  r = run_dsv3("generate --model " + out.path + " --prompt 'The city' -n 8 --temp 0");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Smaller on disk: 8.5 and 5 bits per weight against 16.
  uintmax_t bytes = 0;
  for (const auto& e : fs::directory_iterator(out.path)) bytes += fs::file_size(e.path());
  uintmax_t original = 0;
  for (const auto& e : fs::directory_iterator(kDefaultModel)) original += fs::file_size(e.path());
  EXPECT_LT(bytes, original * 6 / 10);
}

INSTANTIATE_TEST_SUITE_P(Formats, QuantizeDefaultModel,
                         ::testing::Values(QuantizeCase{"q8", 0.92, 2e-3},
                                           QuantizeCase{"q4", 0.85, 2e-2}),
                         [](const auto& info) { return std::string(info.param.format); });

TEST(QuantizedCheckpoint, ComparingAModelWithItselfIsExact) {
  const nlohmann::json c = compare(kDefaultModel);
  EXPECT_EQ(c["top1_agreement"].get<double>(), 1.0);
  EXPECT_EQ(c["mean_kl"].get<double>(), 0.0);
  EXPECT_EQ(c["perplexity"].get<double>(), c["reference_perplexity"].get<double>());
}

void rewrite_config(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json config;
  std::ifstream(dir + "/config.json") >> config;
  edit(config);
  std::ofstream(dir + "/config.json") << config.dump(2);
}

// A q8 checkpoint whose config lost or garbled its quantization_config is refused by name.
TEST(QuantizedCheckpoint, ConfigMustDescribeTheFormat) {
  testing::GoldenCase g("v2lite-tiny");
  TempDir out("quant_bad");
  auto r = run_dsv3("quantize --model " + g.checkpoint_dir() + " --to q8 --out " + out.path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string info = "info --model " + out.path;
  r = run_dsv3(info);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  rewrite_config(out.path, [](nlohmann::json& c) { c["quantization_config"]["fmt"] = "q5"; });
  r = run_dsv3("logits --model " + out.path + " --tokens 1,2 --out " + out.path + "/l.bin");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("fmt 'q5'"), std::string::npos) << r.err;
  rewrite_config(out.path, [](nlohmann::json& c) { c.erase("quantization_config"); });
  r = run_dsv3("logits --model " + out.path + " --tokens 1,2 --out " + out.path + "/l.bin");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("dtype U8"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("quant_method 'dsv3'"), std::string::npos) << r.err;
  // q4 data under a q8 config: the block size in the tensor's shape does not match.
  TempDir q4("quant_q4");
  r = run_dsv3("quantize --model " + g.checkpoint_dir() + " --to q4 --out " + q4.path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  rewrite_config(q4.path, [](nlohmann::json& c) { c["quantization_config"]["fmt"] = "q8"; });
  r = run_dsv3("logits --model " + q4.path + " --tokens 1,2 --out " + q4.path + "/l.bin");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("expected ["), std::string::npos) << r.err;
}

// name -> dtype of every tensor of a checkpoint directory, from its shards' headers.
std::map<std::string, std::string> tensor_dtypes(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".safetensors") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), 8);
    std::string header(n, '\0');
    in.read(header.data(), std::streamsize(n));
    const nlohmann::json tensors = nlohmann::json::parse(header);
    for (auto it = tensors.begin(); it != tensors.end(); ++it) {
      if (it.key() != "__metadata__") out[it.key()] = it.value()["dtype"].get<std::string>();
    }
  }
  return out;
}

// --experts-only quantizes the routed experts and copies everything else as stored: the FP8
// attention keeps its bytes and block scales, and the config names both formats.
TEST(QuantizedCheckpoint, ExpertsOnlyKeepsTheRestAsStored) {
  testing::GoldenCase g("v3-tiny");
  TempDir out("quant_experts");
  auto r = run_dsv3("quantize --model " + g.checkpoint_dir() + " --to q8 --experts-only --out " +
                    out.path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json config;
  std::ifstream(out.path + "/config.json") >> config;
  EXPECT_EQ(config["quantization_config"]["fmt"], "q8");
  EXPECT_EQ(config["quantization_config"]["weight_block_size"], nlohmann::json({128, 128}));
  const std::map<std::string, std::string> dtypes = tensor_dtypes(out.path);
  for (const auto& [name, dtype] :
       std::map<std::string, std::string>{{"model.layers.0.self_attn.q_a_proj.weight", "F8_E4M3"},
                                          {"model.layers.0.self_attn.q_a_proj.weight_scale_inv", "F32"},
                                          {"model.layers.1.mlp.shared_experts.up_proj.weight", "F8_E4M3"},
                                          {"model.layers.1.mlp.experts.3.up_proj.weight", "U8"}}) {
    ASSERT_TRUE(dtypes.count(name)) << name;
    EXPECT_EQ(dtypes.at(name), dtype) << name;
  }
  EXPECT_FALSE(dtypes.count("model.layers.1.mlp.experts.3.up_proj.weight_scale_inv"));
  // Float32 activations: the logits of the golden prompt stay within bf16-like error.
  const std::string tokens = "1,15,200,3,77,9,1000,42";
  r = run_dsv3("compare --reference " + g.checkpoint_dir() + " --model " + out.path +
               " --activations f32 --json --tokens " + tokens);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto c = nlohmann::json::parse(r.out);
  EXPECT_LT(c["mean_kl"].get<double>(), 1e-4) << r.out;
  r = run_dsv3("compare --reference " + g.checkpoint_dir() + " --model " + out.path +
               " --activations int4 --tokens " + tokens);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("int4"), std::string::npos) << r.err;
  // The kept FP8 matrices' block size must be a square the loader knows.
  rewrite_config(out.path, [](nlohmann::json& c) {
    c["quantization_config"]["weight_block_size"] = {64, 128};
  });
  r = run_dsv3("logits --model " + out.path + " --tokens 1,2 --out " + out.path + "/l.bin");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("weight_block_size [64,128]"), std::string::npos) << r.err;
  r = run_dsv3("quantize --model " + g.checkpoint_dir() + " --to bf16 --experts-only --out " +
               out.path + "_bf16");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("experts-only applies to q8 and q4"), std::string::npos) << r.err;
}

// --kv-type halves the latent cache; the greedy text of the default model stays the same.
TEST(KvType, HalfPrecisionCacheGeneratesTheSameGreedyText) {
  const std::string cmd = "generate --prompt 'The history of the city' -n 24 --temp 0 --ignore-eos";
  auto f32 = run_dsv3(cmd);
  auto bf16 = run_dsv3(cmd + " --kv-type bf16");
  ASSERT_EQ(f32.exit_code, 0) << f32.err;
  ASSERT_EQ(bf16.exit_code, 0) << bf16.err;
  EXPECT_EQ(f32.out, bf16.out);
  // FP8 (e4m3) keeps 3 mantissa bits: the text may drift, the distributions stay close.
  auto fp8 = run_dsv3(cmd + " --kv-type fp8");
  ASSERT_EQ(fp8.exit_code, 0) << fp8.err;
  EXPECT_FALSE(fp8.out.empty());
  auto cmp = run_dsv3("compare -m " + kDefaultModel + " -r " + kDefaultModel +
                      " --kv-type fp8 --json --text 'The history of the city of New York begins "
                      "with the first people who lived on the island, long before the Dutch came.'");
  ASSERT_EQ(cmp.exit_code, 0) << cmp.err;
  const auto j = nlohmann::json::parse(cmp.out);
  EXPECT_GT(j["top1_agreement"].get<double>(), 0.8) << cmp.out;
  EXPECT_LT(j["mean_kl"].get<double>(), 0.05) << cmp.out;
  EXPECT_GT(j["max_abs_logit_diff"].get<double>(), 0.0) << "the fp8 cache was not rounded";
  auto bad = run_dsv3(cmd + " --kv-type q8");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--kv-type"), std::string::npos) << bad.err;
}

// bench prefills English text when the model has a tokenizer (MTP acceptance means something
// only on text), random ids on request.
TEST(Bench, PromptIsTextWhenTheModelHasATokenizer) {
  const std::string cmd = "bench --model " + kDefaultModel + " -p 64 -n 8 -r 1 --probe-mib 0 --json";
  auto text = run_dsv3(cmd);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  auto j = nlohmann::json::parse(text.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << text.out;
  EXPECT_EQ(j["prompt"], "text (built-in passage)");
  EXPECT_EQ(j["prompt_tokens"], 64);
  EXPECT_GT(j["tokens_per_forward"].get<double>(), 1.0);
  // The speedup compares drafted decoding with the same loop without drafts.
  EXPECT_GT(j["mtp_plain_decode_tok_s"].get<double>(), 0.0);
  EXPECT_GT(j["mtp_speedup"].get<double>(), 0.0);
  EXPECT_GT(j["mtp_allowed_speedup"].get<double>(), 0.0);
  auto random = run_dsv3(cmd + " --random-prompt");
  ASSERT_EQ(random.exit_code, 0) << random.err;
  EXPECT_EQ(nlohmann::json::parse(random.out)["prompt"], "random");
  // --profile: time per phase of prefill and decode, in the table and in the JSON.
  auto profiled = run_dsv3(cmd + " --profile");
  ASSERT_EQ(profiled.exit_code, 0) << profiled.err;
  const auto p = nlohmann::json::parse(profiled.out)["profile_ms_per_token"];
  for (const char* part : {"prefill", "decode"}) {
    for (const char* phase : {"experts (shared + routed)", "attention in-proj", "dense ffn"}) {
      ASSERT_TRUE(p[part].contains(phase)) << part << " " << phase << ": " << p.dump();
      EXPECT_GT(p[part][phase].get<double>(), 0.0) << part << " " << phase;
    }
  }
  auto table = run_dsv3("bench --model " + kDefaultModel + " -p 16 -n 4 -r 1 --probe-mib 0 --profile");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("decode profile:"), std::string::npos) << table.out;
  auto missing = run_dsv3(cmd + " --prompt-file /no/such/file");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("/no/such/file"), std::string::npos) << missing.err;
}

TEST(QuantizedCheckpoint, CompareNeedsInput) {
  auto r = run_dsv3("compare --reference " + kDefaultModel + " --model " + kDefaultModel);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--text, --file or --tokens"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dsv3
