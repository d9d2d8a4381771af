// Random-weight checkpoints: presets parse, every tensor the loader binds is written, the
// model runs on them, the bytes are a pure function of the seed, FP8 follows the release.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <optional>
#include <set>

#include "io/checkpoint.h"
#include "kernels/kernels.h"
#include "model/presets.h"
#include "model/synth.h"
#include "model/transformer.h"
#include "synth/synth_support.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;
using testing::read_file;
using testing::TempDir;

SynthOptions options_with(std::optional<SynthDType> dtype, int64_t layers = 0) {
  SynthOptions o;
  o.dtype = dtype;
  o.layers = layers;
  return o;
}

SynthSummary synth_preset(const std::string& preset, const std::string& dir, SynthDType dtype,
                          uint64_t seed = 7, uint64_t shard_bytes = uint64_t(1) << 30) {
  auto text = preset_config_json(preset);
  EXPECT_TRUE(text.ok()) << text.error().message;
  auto s = synthesize_checkpoint(*text, preset, {.out_dir = dir, .dtype = dtype, .seed = seed,
                                                 .max_shard_bytes = shard_bytes});
  EXPECT_TRUE(s.ok()) << s.error().message;
  return s.ok() ? *s : SynthSummary{};
}

std::unique_ptr<Model> load(const std::string& dir) {
  auto m = Model::load(dir, ModelOptions{.max_positions = 64});
  if (!m.ok()) ADD_FAILURE() << m.error().message;
  return m.ok() ? std::move(m).value() : nullptr;
}

// Every file of the directory, by name.
std::map<std::string, std::string> dir_contents(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    out[e.path().filename().string()] = read_file(e.path().string());
  }
  return out;
}

TEST(Presets, EveryPresetParsesAndRoundTrips) {
  const auto presets = list_presets();
  std::set<std::string> names;
  for (const auto& p : presets) names.insert(p.name);
  EXPECT_EQ(names, (std::set<std::string>{"tiny", "train-small", "bench-moe", "v2-lite",
                                          "v3-671b", "v32-tiny", "bench-v32", "v32-671b"}));
  for (const auto& p : presets) {
    auto want = preset_config(p.name);
    ASSERT_TRUE(want.ok()) << want.error().message;
    auto text = preset_config_json(p.name);
    ASSERT_TRUE(text.ok());
    auto got = parse_model_config(*text, p.name);
    ASSERT_TRUE(got.ok()) << p.name << ": " << got.error().message;
    EXPECT_EQ(got->model_type, want->model_type) << p.name;
    EXPECT_EQ(got->hidden_size, want->hidden_size) << p.name;
    EXPECT_EQ(got->num_hidden_layers, want->num_hidden_layers) << p.name;
    EXPECT_EQ(got->q_lora_rank, want->q_lora_rank) << p.name;
    EXPECT_EQ(got->topk_method, want->topk_method) << p.name;
    EXPECT_EQ(got->scoring_func, want->scoring_func) << p.name;
    EXPECT_EQ(got->n_group, want->n_group) << p.name;
    EXPECT_EQ(got->rope_scaling.mscale_all_dim, want->rope_scaling.mscale_all_dim) << p.name;
    EXPECT_FALSE(got->fp8_block_quantized) << p.name;
  }
}

TEST(Presets, TinyMatchesTheGoldenShape) {
  auto tiny = preset_config("tiny");
  auto golden = load_model_config(std::string(DSV3_TEST_DATA_DIR) + "/golden/v3-tiny/checkpoint");
  ASSERT_TRUE(tiny.ok() && golden.ok());
  golden->fp8_block_quantized = false;  // the golden is FP8; the preset's dtype is chosen later
  EXPECT_EQ(model_config_json(*tiny), model_config_json(*golden));
}

TEST(Presets, RealModelSizes) {
  auto v3 = preset_config("v3-671b");
  ASSERT_TRUE(v3.ok());
  const ParameterCounts p = count_parameters(*v3);
  EXPECT_NEAR(double(p.total - p.mtp), 671e9, 1e9);
  EXPECT_NEAR(double(p.active_per_token), 37e9, 1e9);
  auto lite = preset_config("v2-lite");
  ASSERT_TRUE(lite.ok());
  EXPECT_NEAR(double(count_parameters(*lite).total), 15.7e9, 0.1e9);
  EXPECT_EQ(lite->q_lora_rank, 0);
  EXPECT_EQ(lite->num_nextn_predict_layers, 0);
}

// The benchmark shape: "1.69 B parameters, ~390 M active per token: 781 MB read per decoded token in
// BF16". Those figures leave out the MTP layer, which count_parameters().total includes.
TEST(Presets, BenchMoeHasTheIssuesSize) {
  auto c = preset_config("bench-moe");
  ASSERT_TRUE(c.ok());
  const ParameterCounts p = count_parameters(*c);
  EXPECT_NEAR(double(p.total - p.mtp), 1.69e9, 0.01e9);
  EXPECT_NEAR(double(p.active_per_token), 390e6, 2e6);
  EXPECT_NEAR(2.0 * double(p.active_per_token), 781e6, 2e6);
  EXPECT_NEAR(double(p.total), 2.04e9, 0.01e9);  // with the MTP layer's own embedding and head
}

TEST(Presets, UnknownNameListsTheKnownOnes) {
  auto r = preset_config("bench-moe-xl");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("unknown preset 'bench-moe-xl'"), std::string::npos);
  EXPECT_NE(r.error().message.find("bench-moe, v2-lite"), std::string::npos) << r.error().message;
  EXPECT_FALSE(preset_config_json("").ok());
}

TEST(Synth, BadDtypeIsAClearError) {
  EXPECT_TRUE(parse_synth_dtype("bf16").ok());
  EXPECT_TRUE(parse_synth_dtype("fp8").ok());
  auto r = parse_synth_dtype("fp16");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "unknown dtype 'fp16' (expected bf16 or fp8)");
}

// The plan holds exactly the parameters count_parameters counts, for every preset (the
// 671 B one is only planned, never written).
TEST(Synth, PlanMatchesParameterCount) {
  for (const auto& p : list_presets()) {
    for (bool fp8 : {false, true}) {
      ModelConfig c = preset_config(p.name).value();
      c.fp8_block_quantized = fp8;
      int64_t params = 0;
      std::set<std::string> names;
      for (const auto& t : synth_tensors(c)) {
        EXPECT_TRUE(names.insert(t.spec.name).second) << "duplicate " << t.spec.name;
        if (t.fill != SynthFill::kScaleInv) params += int64_t(t.spec.numel());
      }
      EXPECT_EQ(params, count_parameters(c).total)
          << p.name << (fp8 ? " fp8" : " bf16");
    }
  }
}

TEST(Synth, ConfigOverridesLayersAndQuantization) {
  const std::string v3 = preset_config_json("v3-671b").value();
  auto text = synth_config_json(v3, "v3", options_with(SynthDType::kFP8, 4));
  ASSERT_TRUE(text.ok()) << text.error().message;
  auto c = parse_model_config(*text, "synth");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->num_hidden_layers, 4);
  EXPECT_TRUE(c->fp8_block_quantized);
  EXPECT_EQ(c->fp8_block_size, 128);
  // The MTP layer follows the last one.
  bool mtp_at_4 = false;
  for (const auto& t : synth_tensors(*c)) {
    mtp_at_4 |= t.spec.name == "model.layers.4.eh_proj.weight";
  }
  EXPECT_TRUE(mtp_at_4);

  // Default dtype: what the config says. An explicit bf16 drops its quantization_config.
  auto as_given = synth_config_json(*text, "fp8 config", {});
  ASSERT_TRUE(as_given.ok());
  EXPECT_TRUE(parse_model_config(*as_given, "x")->fp8_block_quantized);
  auto bf16 = synth_config_json(*text, "fp8 config", options_with(SynthDType::kBF16));
  ASSERT_TRUE(bf16.ok());
  EXPECT_FALSE(parse_model_config(*bf16, "x")->fp8_block_quantized);
  EXPECT_EQ(bf16->find("quantization_config"), std::string::npos);

  auto bad = synth_config_json("{\"model_type\": \"deepseek_v3\"}", "broken.json", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("broken.json"), std::string::npos);
  EXPECT_NE(bad.error().message.find("missing key 'hidden_size'"), std::string::npos);
}

// Every loader-bound tensor (MTP included) is there with the right shape and dtype, and the
// model produces finite logits on random weights, in both formats.
TEST(Synth, TinyLoadsAndRunsInBothFormats) {
  for (SynthDType dtype : {SynthDType::kBF16, SynthDType::kFP8}) {
    TempDir dir("run");
    const SynthSummary s = synth_preset("tiny", dir.str(), dtype);
    EXPECT_EQ(s.parameters, count_parameters(s.config).total);
    auto model = load(dir.str());
    ASSERT_TRUE(model);
    ASSERT_EQ(model->mtp_depth(), 1);
    const std::string summary = model->weights().format_summary;
    if (dtype == SynthDType::kFP8) {
      EXPECT_NE(summary.find("fp8"), std::string::npos) << summary;
    } else {
      EXPECT_EQ(summary.find("fp8"), std::string::npos) << summary;
    }
    EXPECT_EQ(model->checkpoint().tensors().size(), size_t(s.tensors));
    const auto& c = model->config();
    const std::vector<int32_t> tokens = {1, 17, 404, 2047, 5, 9};
    KvCache cache = model->new_cache();
    Arena arena;
    std::vector<float> logits(tokens.size() * c.vocab_size), hidden(tokens.size() * c.hidden_size);
    model->forward({.tokens = tokens, .cache = &cache, .arena = &arena,
                    .hidden_out = hidden.data(), .logits_out = logits.data()});
    for (float v : logits) ASSERT_TRUE(std::isfinite(v));
    // Random weights give varied, not degenerate, logits.
    const auto [lo, hi] = std::minmax_element(logits.begin(), logits.end());
    EXPECT_GT(*hi - *lo, 1e-3f);

    KvCache mtp_cache = model->new_mtp_cache();
    std::vector<float> mtp_logits((tokens.size() - 1) * c.vocab_size);
    model->mtp_forward({.tokens = std::span(tokens).subspan(1), .hidden = hidden.data(),
                        .cache = &mtp_cache, .arena = &arena, .logits_out = mtp_logits.data()});
    for (float v : mtp_logits) ASSERT_TRUE(std::isfinite(v));
  }
}

TEST(Synth, SameSeedSameBytesOtherSeedOtherBytes) {
  TempDir a("a"), b("b"), c("c");
  // Small shards so several files (and a tensor split decision) are compared.
  synth_preset("tiny", a.str(), SynthDType::kFP8, 42, 1 << 20);
  synth_preset("tiny", b.str(), SynthDType::kFP8, 42, 1 << 20);
  synth_preset("tiny", c.str(), SynthDType::kFP8, 43, 1 << 20);
  const auto fa = dir_contents(a.str()), fb = dir_contents(b.str()), fc = dir_contents(c.str());
  EXPECT_GT(fa.size(), 3u);  // config, index, several shards
  EXPECT_TRUE(fa == fb);
  ASSERT_EQ(fa.size(), fc.size());
  EXPECT_EQ(fa.at("config.json"), fc.at("config.json"));
  EXPECT_EQ(fa.at("model.safetensors.index.json"), fc.at("model.safetensors.index.json"));
  int differing = 0;
  for (const auto& [name, bytes] : fa) {
    differing += name.ends_with(".safetensors") && bytes != fc.at(name);
  }
  EXPECT_EQ(differing, int(fa.size()) - 2);
}

TEST(Synth, ValuesAreNormalWithUnitNorms) {
  TempDir dir("stats");
  synth_preset("tiny", dir.str(), SynthDType::kBF16);
  auto ck = Checkpoint::open(dir.str());
  ASSERT_TRUE(ck.ok()) << ck.error().message;
  auto embed = ck->get("model.embed_tokens.weight");
  ASSERT_TRUE(embed.ok());
  const auto* v = reinterpret_cast<const uint16_t*>(embed->data);
  double sum = 0, sum2 = 0;
  const int64_t n = embed->numel();
  for (int64_t i = 0; i < n; ++i) {
    const double x = bf16_to_f32(v[i]);
    sum += x;
    sum2 += x * x;
  }
  EXPECT_NEAR(sum / double(n), 0.0, 2e-4);
  EXPECT_NEAR(std::sqrt(sum2 / double(n)), 0.02, 0.0005);
  // The MTP layer's embedding and head are copies of the main ones, as in the release.
  EXPECT_EQ(0, std::memcmp(ck->get("model.layers.2.embed_tokens.weight")->data, embed->data,
                           embed->nbytes));
  EXPECT_EQ(0, std::memcmp(ck->get("model.layers.2.shared_head.head.weight")->data,
                           ck->get("lm_head.weight")->data, embed->nbytes));
  auto norm = ck->get("model.layers.1.post_attention_layernorm.weight");
  ASSERT_TRUE(norm.ok());
  EXPECT_EQ(norm->dtype, DType::kBF16);
  for (int64_t i = 0; i < norm->numel(); ++i) {
    ASSERT_EQ(bf16_to_f32(reinterpret_cast<const uint16_t*>(norm->data)[i]), 1.0f);
  }
  auto bias = ck->get("model.layers.1.mlp.gate.e_score_correction_bias");
  ASSERT_TRUE(bias.ok());
  EXPECT_EQ(bias->dtype, DType::kF32);
  const float* b = reinterpret_cast<const float*>(bias->data);
  EXPECT_NE(b[0], b[1]);
  for (int64_t i = 0; i < bias->numel(); ++i) EXPECT_LT(std::fabs(b[i]), 0.1f);
}

// FP8 as in the release: projections F8_E4M3 with amax/448 block scales (so every block holds
// a +-448 code), the rest BF16; dequantized, the same seed's BF16 values to within e4m3's
// rounding (3 mantissa bits: relative error <= 1/16, absolute near zero).
TEST(Synth, Fp8FollowsTheReleaseAndMatchesBf16) {
  TempDir bf("bf16"), f8("fp8");
  synth_preset("tiny", bf.str(), SynthDType::kBF16, 5);
  synth_preset("tiny", f8.str(), SynthDType::kFP8, 5);
  auto ck = Checkpoint::open(f8.str());
  ASSERT_TRUE(ck.ok());
  for (const char* name : {"model.embed_tokens.weight", "lm_head.weight",
                           "model.layers.1.mlp.gate.weight", "model.layers.2.eh_proj.weight",
                           "model.norm.weight"}) {
    EXPECT_EQ(ck->get(name)->dtype, DType::kBF16) << name;
  }
  const std::string w = "model.layers.0.mlp.down_proj.weight";  // [256, 512]: 2 x 4 blocks
  auto q = ck->get(w);
  auto scales = ck->get(w + "_scale_inv");
  ASSERT_TRUE(q.ok() && scales.ok());
  EXPECT_EQ(q->dtype, DType::kF8E4M3);
  EXPECT_EQ(scales->shape, (std::vector<int64_t>{2, 4}));
  for (int64_t br = 0; br < 2; ++br) {
    for (int64_t bc = 0; bc < 4; ++bc) {
      float amax = 0;
      for (int64_t r = br * 128; r < br * 128 + 128; ++r) {
        for (int64_t c = bc * 128; c < bc * 128 + 128; ++c) {
          amax = std::max(amax, std::fabs(fp8_e4m3_to_f32(q->data[r * 512 + c])));
        }
      }
      EXPECT_EQ(amax, 448.0f) << "block " << br << "," << bc;
      const float s = reinterpret_cast<const float*>(scales->data)[br * 4 + bc];
      EXPECT_GT(s, 0.02f * 3 / 448);
      EXPECT_LT(s, 0.02f * 6 / 448);
    }
  }

  auto mb = load(bf.str()), mf = load(f8.str());
  ASSERT_TRUE(mb && mf);
  const Matrix& ab = mb->weights().layers[1].moe.experts[3].w2;
  const Matrix& af = mf->weights().layers[1].moe.experts[3].w2;
  ASSERT_EQ(af.format, WeightFormat::kFP8Block);
  std::vector<float> rb(ab.cols), rf(af.cols);
  for (int64_t r = 0; r < ab.rows; r += 37) {
    kernels::dequantize_row(ab, r, rb.data());
    kernels::dequantize_row(af, r, rf.data());
    for (int64_t c = 0; c < ab.cols; ++c) {
      // bf16 rounding (2^-9) plus e4m3 rounding (2^-4), or the subnormal step near zero.
      ASSERT_NEAR(rf[c], rb[c], std::fabs(rb[c]) / 14 + 2e-4f) << r << "," << c;
    }
  }
}

// The bit-twiddling encoder against the reference codec: every code, every midpoint (ties go
// to the even code), just off the midpoints, saturation, subnormals, signs, NaN.
TEST(Synth, FastFp8EncoderMatchesReference) {
  std::vector<float> probes = {0.0f, -0.0f, 448.0f, 449.0f, 464.0f, 480.0f, 1e6f, -1e6f,
                               std::numeric_limits<float>::infinity(), 1e-10f, -1e-12f,
                               std::numeric_limits<float>::denorm_min()};
  for (int code = 0; code < 126; ++code) {
    const float a = fp8_e4m3_to_f32(uint8_t(code)), b = fp8_e4m3_to_f32(uint8_t(code + 1));
    const float mid = 0.5f * (a + b);
    for (float x : {a, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f),
                    a + 0.25f * (b - a), a + 0.75f * (b - a)}) {
      probes.push_back(x);
      probes.push_back(-x);
    }
  }
  uint64_t z = 1;
  for (int i = 0; i < 200000; ++i) {
    z = z * 6364136223846793005ull + 1442695040888963407ull;
    const float e = float(int((z >> 33) % 40)) - 30.0f;  // 2^-30 .. 2^9
    probes.push_back(std::ldexp(float((z >> 8) & 0xffffff) / 16777216.0f, int(e)) *
                     ((z & 1) ? -1.0f : 1.0f));
  }
  for (float x : probes) {
    ASSERT_EQ(fast_f32_to_fp8_e4m3(x), f32_to_fp8_e4m3(x)) << x;
  }
  EXPECT_EQ(fast_f32_to_fp8_e4m3(std::nanf("")), f32_to_fp8_e4m3(std::nanf("")));
}

TEST(SafetensorsStream, ProducerMustWriteExactlyEachTensor) {
  TempDir dir("stream");
  const std::vector<TensorSpec> specs = {{"a", DType::kF32, {4}}, {"b", DType::kBF16, {3}}};
  auto short_write = write_checkpoint_streaming(
      dir.str(), "{}", specs, 1 << 20, [](size_t i, SafetensorsStreamWriter& out) {
        const uint8_t zeros[16] = {};
        return out.append(zeros, i == 0 ? 16 : 4);
      });
  ASSERT_FALSE(short_write.ok());
  EXPECT_NE(short_write.error().message.find("tensor 'b' got 4 bytes, expected 6"),
            std::string::npos)
      << short_write.error().message;
  auto too_much = write_checkpoint_streaming(
      dir.str(), "{}", specs, 1 << 20, [](size_t, SafetensorsStreamWriter& out) {
        const uint8_t zeros[64] = {};
        return out.append(zeros, 64);
      });
  ASSERT_FALSE(too_much.ok());
  EXPECT_NE(too_much.error().message.find("the header declares 22"), std::string::npos)
      << too_much.error().message;
  // Nothing half-written is left behind.
  for (const auto& e : fs::directory_iterator(dir.str())) ADD_FAILURE() << e.path();

  auto ok = write_checkpoint_streaming(dir.str(), "{}", specs, 1,  // one tensor per shard
                                       [](size_t i, SafetensorsStreamWriter& out) {
                                         const uint8_t bytes[16] = {1, 2, 3, 4, 5, 6};
                                         return out.append(bytes, i == 0 ? 16 : 6);
                                       });
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(*ok, 2u);
  auto ck = Checkpoint::open(dir.str());
  ASSERT_TRUE(ck.ok()) << ck.error().message;
  EXPECT_EQ(ck->get("b")->data[5], 6);
}

}  // namespace
}  // namespace dsv3
