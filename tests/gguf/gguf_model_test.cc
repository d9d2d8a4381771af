// A golden checkpoint written as GGUF in llama.cpp's deepseek2 layout (dsv3
// convert) and read back: the config survives, the logits equal the official
// reference's within the golden tolerance (F32, either kv_b layout), and Q8_0
// stays close (top-1 agreement, KL).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "engine/logit_comparison.h"
#include "kernels/kernels.h"
#include "io/gguf_writer.h"
#include "model/gguf_convert.h"
#include "model/gguf_model.h"
#include "model/tensor_table.h"
#include "model/transformer.h"
#include "support/golden.h"
#include "tensor/dtype.h"
#include "tensor/kquant.h"
#include "tensor/quant.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;
using testing::GoldenCase;
using testing::max_abs_diff;

constexpr float kLogitTol = 1e-3f; // the golden tests' contract

std::string temp_path(const std::string &name) {
  return (fs::temp_directory_path() /
          ("dsv3_gguf_model_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string &name) : path(temp_path(name)) {}
  ~TempFile() { fs::remove(path); }
};

std::string convert(const GoldenCase &g, const TempFile &out, GgmlType type,
                    bool split_kv_b = true) {
  auto s = convert_to_gguf({.in_dir = g.checkpoint_dir(),
                            .out_path = out.path,
                            .type = type,
                            .split_kv_b = split_kv_b});
  return s.ok() ? "" : s.error().message;
}

std::vector<float> prefill(const Model &m, const std::vector<int32_t> &tokens) {
  KvCache cache = m.new_cache();
  Arena arena;
  std::vector<float> logits(tokens.size() * size_t(m.config().vocab_size));
  m.forward({.tokens = tokens,
             .cache = &cache,
             .arena = &arena,
             .logits_out = logits.data()});
  return logits;
}

std::unique_ptr<Model> load(const std::string &path) {
  auto m = Model::load(path, ModelOptions{.max_positions = 256});
  EXPECT_TRUE(m.ok()) << m.error().message;
  return m.ok() ? std::move(m).value() : nullptr;
}

class GgufGolden : public ::testing::TestWithParam<const char *> {};

TEST_P(GgufGolden, F32FileKeepsTheConfigAndMatchesTheReferenceLogits) {
  const GoldenCase g(GetParam());
  for (bool split_kv_b : {true, false}) {
    SCOPED_TRACE(split_kv_b ? "attn_k_b + attn_v_b" : "attn_kv_b");
    TempFile file(std::string(GetParam()) + ".gguf");
    ASSERT_EQ(convert(g, file, GgmlType::kF32, split_kv_b), "");
    auto files = GgufModelFiles::open(file.path);
    ASSERT_TRUE(files.ok()) << files.error().message;
    EXPECT_EQ(files->has("blk.0.attn_k_b.weight"), split_kv_b);
    EXPECT_EQ(files->has("blk.0.attn_kv_b.weight"), !split_kv_b);
    auto original = load_model_config(g.checkpoint_dir());
    ASSERT_TRUE(original.ok());
    auto config = gguf_model_config(*files);
    ASSERT_TRUE(config.ok()) << config.error().message;
    ModelConfig expected = *original;
    expected.fp8_block_quantized =
        false; // FP8 is decoded: the GGUF file holds F32
    EXPECT_EQ(describe(*config), describe(expected));

    auto model = load(file.path);
    ASSERT_TRUE(model);
    EXPECT_EQ(model->mtp_depth(), original->num_nextn_predict_layers);
    for (int p = 0; p < g.num_prompts(); ++p) {
      const auto &tokens = g.array("p" + std::to_string(p) + ".tokens").i32;
      const auto &want =
          g.array("p" + std::to_string(p) + ".logits_prefill").f32;
      const auto got = prefill(*model, tokens);
      EXPECT_LT(max_abs_diff(got.data(), want.data(), want.size()), kLogitTol)
          << "prompt " << p;
    }
  }
}

TEST_P(GgufGolden, Q8_0FileStaysNearTheReference) {
  const GoldenCase g(GetParam());
  TempFile file(std::string(GetParam()) + "_q8.gguf");
  ASSERT_EQ(convert(g, file, GgmlType::kQ8_0), "");
  auto files = GgufModelFiles::open(file.path);
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->get("blk.0.attn_output.weight")->type, GgmlType::kQ8_0);
  EXPECT_EQ(files->get("blk.0.attn_norm.weight")->type, GgmlType::kF32);
  auto model = load(file.path);
  ASSERT_TRUE(model);
  LogitComparison cmp;
  const int64_t vocab = model->config().vocab_size;
  for (int p = 0; p < g.num_prompts(); ++p) {
    const auto &tokens = g.array("p" + std::to_string(p) + ".tokens").i32;
    const auto &want = g.array("p" + std::to_string(p) + ".logits_prefill").f32;
    const auto got = prefill(*model, tokens);
    for (size_t t = 0; t < tokens.size(); ++t)
      cmp.add(want.data() + t * vocab, got.data() + t * vocab, vocab);
  }
  // The bounds of dsv3's own q8 on these models
  // (tests/engine/quantized_accuracy_test.cc: every matrix quantized, int8
  // activations); v3-tiny's random weights give near-flat logits whose argmax
  // flips easily. Measured: v3-tiny 88.5% / KL 0.0053.
  EXPECT_GE(cmp.top1_agreement(), 0.85) << cmp.positions() << " positions";
  EXPECT_LE(cmp.mean_kl(), 2e-2);
  EXPECT_GT(cmp.max_abs_diff(), 0.0f); // it is quantized, not a copy
}

// Q8_0 matrices become dsv3 q8 matrices without decoding: the same values, row
// by row.
TEST(GgufModel, Q8_0IsRepackedIntoQ8Exactly) {
  const GoldenCase g("v3-tiny");
  TempFile file("repack_q8.gguf");
  ASSERT_EQ(convert(g, file, GgmlType::kQ8_0), "");
  auto m = open_gguf_model(file.path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->config.group_quant_format, WeightFormat::kQ8);
  auto files = GgufModelFiles::open(file.path);
  ASSERT_TRUE(files.ok());
  for (const auto &[hf, gguf, expert] :
       {std::tuple{"model.layers.0.self_attn.o_proj.weight",
                   "blk.0.attn_output.weight", -1},
        std::tuple{"model.layers.1.mlp.experts.5.down_proj.weight",
                   "blk.1.ffn_down_exps.weight", 5}}) {
    SCOPED_TRACE(hf);
    const TensorView v = m->checkpoint.get(hf).value();
    const GgufTensor t = files->get(gguf).value();
    ASSERT_EQ(v.dtype, DType::kU8);
    const int64_t cols = t.ne[0], rows = t.ne[1];
    const Matrix q8 = matrix_view(WeightFormat::kQ8, rows, cols, v.data);
    const uint8_t *src =
        t.data + std::max(expert, 0) * rows * ggml_row_bytes(t.type, cols);
    std::vector<float> want(static_cast<size_t>(cols)),
        got(static_cast<size_t>(cols), std::nanf(""));
    for (int64_t r = 0; r < rows; ++r) {
      decode_ggml_row(t.type, src + r * ggml_row_bytes(t.type, cols), cols,
                      want.data());
      decode_row(q8, r, got.data());
      ASSERT_EQ(got, want) << "row " << r;
    }
  }
}

// Q4_0 of x (the test's own encoder: d = the signed extreme / -8, q = round(x /
// d) + 8).
std::vector<uint8_t> encode_q4_0(const float *x, int64_t n) {
  std::vector<uint8_t> out(size_t(n / 32 * 18));
  for (int64_t b = 0; b < n / 32; ++b, x += 32) {
    float extreme = 0.0f;
    for (int j = 0; j < 32; ++j)
      extreme = std::fabs(x[j]) > std::fabs(extreme) ? x[j] : extreme;
    const float d = extreme / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t dh = f32_to_f16(d);
    uint8_t *block = out.data() + b * 18;
    std::memcpy(block, &dh, 2);
    for (int j = 0; j < 16; ++j) {
      const auto q = [&](float v) {
        return uint8_t(std::clamp(int(std::lround(v * id)) + 8, 0, 15));
      };
      block[2 + j] = uint8_t(q(x[j]) | (q(x[j + 16]) << 4));
    }
  }
  return out;
}

// A GGUF with Q4_0 matrices (decoded to float32 at load) computes exactly what
// a GGUF holding the decoded values as F32 computes: decoding at load changes
// nothing else.
TEST(GgufModel, DecodedBlockTypesComputeLikeTheirF32Values) {
  const GoldenCase g("v3-tiny");
  TempFile f32_file("dec_src.gguf"), q4_file("dec_q4.gguf"),
      ref_file("dec_ref.gguf");
  ASSERT_EQ(convert(g, f32_file, GgmlType::kF32), "");
  auto src = GgufFile::open(f32_file.path);
  ASSERT_TRUE(src.ok());
  GgufWriter q4, ref;
  for (const auto &[key, value] : src->metadata().values()) {
    q4.add_value(key, value);
    ref.add_value(key, value);
  }
  int quantized = 0;
  for (const auto &[name, t] : src->tensors()) {
    std::vector<uint8_t> raw(t.data, t.data + t.nbytes);
    if (t.ne.size() < 2 || t.ne[0] % 32 != 0 ||
        name.find("ffn_gate_inp") != std::string::npos) {
      q4.add_tensor(name, t.type, t.ne, raw);
      ref.add_tensor(name, t.type, t.ne, std::move(raw));
      continue;
    }
    std::vector<uint8_t> blocks =
        encode_q4_0(reinterpret_cast<const float *>(t.data), t.numel());
    std::vector<float> decoded(size_t(t.numel()));
    decode_ggml_row(GgmlType::kQ4_0, blocks.data(), t.numel(), decoded.data());
    std::vector<uint8_t> decoded_bytes(decoded.size() * 4);
    std::memcpy(decoded_bytes.data(), decoded.data(), decoded_bytes.size());
    q4.add_tensor(name, GgmlType::kQ4_0, t.ne, std::move(blocks));
    ref.add_tensor(name, GgmlType::kF32, t.ne, std::move(decoded_bytes));
    ++quantized;
  }
  EXPECT_GT(quantized, 20);
  ASSERT_TRUE(q4.write(q4_file.path).ok());
  ASSERT_TRUE(ref.write(ref_file.path).ok());
  auto q4_model = load(q4_file.path), ref_model = load(ref_file.path);
  ASSERT_TRUE(q4_model && ref_model);
  const auto &tokens = g.array("p0.tokens").i32;
  const auto a = prefill(*q4_model, tokens), b = prefill(*ref_model, tokens);
  EXPECT_EQ(max_abs_diff(a.data(), b.data(), a.size()), 0.0f);
  // And Q4_0 did change the model (the test would pass vacuously otherwise).
  const auto &want = g.array("p0.logits_prefill").f32;
  EXPECT_GT(max_abs_diff(a.data(), want.data(), want.size()), 1e-3f);
}

// v3-tiny with its matrices whose rows are whole 256-blocks written in the
// k-quant type type_of(name) gives (the rest F32), and the same file with every
// block decoded to F32: the k-quant file keeps its k-quant matrices quantized
// (in the formats `held` names, at least `at_least` matrices of each type) and
// computes the same logits: to float rounding with float32 activations, within
// the int8 activations' rounding with them.
void expect_kquant_mix_computes_like_f32(
    const std::function<GgmlType(const std::string &)> &type_of,
    const std::map<GgmlType, int> &at_least,
    const std::vector<std::string> &held) {
  const GoldenCase g("v3-tiny");
  TempFile f32_file("kq_src.gguf"), kq_file("kq_mix.gguf"),
      ref_file("kq_ref.gguf");
  ASSERT_EQ(convert(g, f32_file, GgmlType::kF32), "");
  auto src = GgufFile::open(f32_file.path);
  ASSERT_TRUE(src.ok());
  GgufWriter kq, ref;
  for (const auto &[key, value] : src->metadata().values()) {
    kq.add_value(key, value);
    ref.add_value(key, value);
  }
  std::map<GgmlType, int> written;
  for (const auto &[name, t] : src->tensors()) {
    std::vector<uint8_t> raw(t.data, t.data + t.nbytes);
    if (t.ne.size() < 2 || t.ne[0] % 256 != 0 ||
        name.find("ffn_gate_inp") != std::string::npos) {
      kq.add_tensor(name, t.type, t.ne, raw);
      ref.add_tensor(name, t.type, t.ne, std::move(raw));
      continue;
    }
    const GgmlType type = type_of(name);
    const int64_t rows = t.numel() / t.ne[0];
    std::vector<uint8_t> blocks(size_t(rows * ggml_row_bytes(type, t.ne[0])));
    std::vector<float> decoded(size_t(t.numel()));
    for (int64_t r = 0; r < rows; ++r) {
      const float *x = reinterpret_cast<const float *>(t.data) + r * t.ne[0];
      uint8_t *b = blocks.data() + r * ggml_row_bytes(type, t.ne[0]);
      encode_kquant_row(type, x, t.ne[0], b);
      decode_ggml_row(type, b, t.ne[0], decoded.data() + r * t.ne[0]);
    }
    std::vector<uint8_t> decoded_bytes(decoded.size() * 4);
    std::memcpy(decoded_bytes.data(), decoded.data(), decoded_bytes.size());
    kq.add_tensor(name, type, t.ne, std::move(blocks));
    ref.add_tensor(name, GgmlType::kF32, t.ne, std::move(decoded_bytes));
    ++written[type];
  }
  for (const auto &[type, n] : at_least)
    EXPECT_GE(written[type], n) << ggml_type_name(type);
  ASSERT_TRUE(kq.write(kq_file.path).ok());
  ASSERT_TRUE(ref.write(ref_file.path).ok());
  auto kq_model = load(kq_file.path), ref_model = load(ref_file.path);
  ASSERT_TRUE(kq_model && ref_model);
  const std::string &formats = kq_model->weights().format_summary;
  for (const std::string &f : held) {
    EXPECT_NE(formats.find(f), std::string::npos) << formats;
    EXPECT_EQ(ref_model->weights().format_summary.find(f), std::string::npos);
  }
  const auto &tokens = g.array("p0.tokens").i32;
  const auto &golden = g.array("p0.logits_prefill").f32;
  float scale = 0;
  for (float v : golden)
    scale = std::max(scale, std::fabs(v));
  for (bool int8 : {false, true}) {
    SCOPED_TRACE(int8 ? "int8 activations" : "f32 activations");
    kernels::set_matmul_options({.int8_activations = int8});
    const auto a = prefill(*kq_model, tokens), b = prefill(*ref_model, tokens);
    // int8: the f32 model runs float kernels, the k-quant one int8 products.
    const float tol = int8 ? 0.05f * scale : 1e-4f * scale;
    EXPECT_LE(max_abs_diff(a.data(), b.data(), a.size()), tol);
    LogitComparison cmp;
    const int64_t vocab = kq_model->config().vocab_size;
    for (size_t t = 0; t < tokens.size(); ++t)
      cmp.add(b.data() + t * vocab, a.data() + t * vocab, vocab);
    EXPECT_LE(cmp.mean_kl(), int8 ? 1e-3 : 1e-8);
    std::printf("k-quant vs f32 (%s): max |diff| %g of max |logit| %g, KL %g, top-1 %.3f\n",
                int8 ? "int8" : "f32", cmp.max_abs_diff(), scale, cmp.mean_kl(),
                cmp.top1_agreement());
  }
  kernels::set_matmul_options({});
  // The files differ from the golden model (the test would pass vacuously
  // otherwise).
  const auto a = prefill(*kq_model, tokens);
  EXPECT_GT(max_abs_diff(a.data(), golden.data(), golden.size()), 1e-3f);
}

// The checkpoint tensor as float32 (FP8 with its block scales).
std::vector<float> checkpoint_floats(const Checkpoint &ck, const ModelConfig &c,
                                     const TensorView &t) {
  std::vector<float> out(size_t(t.numel()));
  if (t.dtype == DType::kF8E4M3) {
    const TensorView s = ck.get(fp8_scales_name(t.name)).value();
    Matrix m = matrix_view(WeightFormat::kF32, t.shape[0], t.shape[1], t.data);
    m.format = WeightFormat::kFP8Block;
    m.block_scales = reinterpret_cast<const float *>(s.data);
    m.block = c.fp8_block_size;
    m.scale_cols = s.shape[1];
    for (int64_t r = 0; r < m.rows; ++r)
      decode_row(m, r, out.data() + r * m.cols);
    return out;
  }
  for (int64_t i = 0; i < t.numel(); ++i) {
    uint16_t h = 0;
    if (t.dtype == DType::kF32) {
      std::memcpy(&out[size_t(i)], t.data + 4 * i, 4);
      continue;
    }
    std::memcpy(&h, t.data + 2 * i, 2);
    out[size_t(i)] = t.dtype == DType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
  }
  return out;
}

// Convert, then load: every tensor of the table comes back under its Hugging
// Face name, with its shape and the checkpoint's values (F32 file, kv_b split
// or whole): the GGUF names written and read are the same table's.
TEST_P(GgufGolden, ConvertThenLoadGivesTheCheckpointsTensors) {
  GoldenCase g(GetParam());
  auto ck = Checkpoint::open(g.checkpoint_dir());
  ASSERT_TRUE(ck.ok()) << ck.error().message;
  const ModelConfig c = load_model_config(g.checkpoint_dir()).value();
  const std::vector<TensorEntry> table = tensor_table(c);
  for (const bool split : {true, false}) {
    SCOPED_TRACE(split ? "kv_b split" : "kv_b whole");
    TempFile f(std::string(GetParam()) + (split ? "_split" : "_whole") + ".gguf");
    ASSERT_EQ(convert(g, f, GgmlType::kF32, split), "");
    auto gguf = open_gguf_model(f.path);
    ASSERT_TRUE(gguf.ok()) << gguf.error().message;
    EXPECT_EQ(gguf->checkpoint.tensors().size(), table.size());
    for (const TensorEntry &e : table) {
      auto got = gguf->checkpoint.get(e.name);
      ASSERT_TRUE(got.ok()) << got.error().message;
      EXPECT_EQ(got->shape, e.shape) << e.name;
      const TensorView want = ck->get(e.name).value();
      const std::vector<float> a = checkpoint_floats(gguf->checkpoint, c, *got);
      const std::vector<float> b = checkpoint_floats(*ck, c, want);
      ASSERT_EQ(a.size(), b.size()) << e.name;
      EXPECT_TRUE(a == b) << e.name;
    }
  }
}

// A Q4_K_M-like mix: Q6_K for output and the down projections, Q5_K for kv_a,
// Q4_K for the other matrices.
TEST(GgufModel, KQuantMatricesStayQuantizedAndComputeLikeTheirF32Values) {
  expect_kquant_mix_computes_like_f32(
      [](const std::string &name) {
        if (name == "output.weight" || name.find("ffn_down") != std::string::npos)
          return GgmlType::kQ6_K;
        return name.find("attn_kv_a_mqa") != std::string::npos ? GgmlType::kQ5_K
                                                               : GgmlType::kQ4_K;
      },
      {{GgmlType::kQ4_K, 10}, {GgmlType::kQ6_K, 2}, {GgmlType::kQ5_K, 2}},
      {"q4_k", "q5_k", "q6_k"});
}

// A "dynamic" Q2_K-like mix: Q2_K for the routed experts, Q6_K for output,
// Q3_K for the other matrices (attention, shared experts, dense layers).
TEST(GgufModel, Q2KAndQ3KMatricesStayQuantizedAndComputeLikeTheirF32Values) {
  expect_kquant_mix_computes_like_f32(
      [](const std::string &name) {
        if (name == "output.weight")
          return GgmlType::kQ6_K;
        return name.find("_exps") != std::string::npos ? GgmlType::kQ2_K
                                                       : GgmlType::kQ3_K;
      },
      {{GgmlType::kQ2_K, 3}, {GgmlType::kQ3_K, 10}, {GgmlType::kQ6_K, 1}},
      {"q2_k", "q3_k", "q6_k"});
}

// An IQ4_XS mix: IQ4_XS for every matrix but output (Q6_K).
TEST(GgufModel, IQ4XSMatricesStayQuantizedAndComputeLikeTheirF32Values) {
  expect_kquant_mix_computes_like_f32(
      [](const std::string &name) {
        return name == "output.weight" ? GgmlType::kQ6_K : GgmlType::kIQ4_XS;
      },
      {{GgmlType::kIQ4_XS, 13}, {GgmlType::kQ6_K, 1}}, {"iq4_xs", "q6_k"});
}

// An IQ2_XXS mix: IQ2_XXS for every matrix but output (Q6_K).
TEST(GgufModel, IQ2XXSMatricesStayQuantizedAndComputeLikeTheirF32Values) {
  expect_kquant_mix_computes_like_f32(
      [](const std::string &name) {
        return name == "output.weight" ? GgmlType::kQ6_K : GgmlType::kIQ2_XXS;
      },
      {{GgmlType::kIQ2_XXS, 13}, {GgmlType::kQ6_K, 1}}, {"iq2_xxs", "q6_k"});
}

// An IQ1_S mix: IQ1_S for every matrix but output (Q6_K).
TEST(GgufModel, IQ1SMatricesStayQuantizedAndComputeLikeTheirF32Values) {
  expect_kquant_mix_computes_like_f32(
      [](const std::string &name) {
        return name == "output.weight" ? GgmlType::kQ6_K : GgmlType::kIQ1_S;
      },
      {{GgmlType::kIQ1_S, 13}, {GgmlType::kQ6_K, 1}}, {"iq1_s", "q6_k"});
}

// What `dsv3 info` reports per tensor: k-quant, IQ4_XS, IQ2_XXS and IQ1_S
// matrices (and stacked experts) are kept quantized at their tiles' size, their vectors and
// kv_b halves are decoded to float32.
TEST(GgufModel, ResidencyOfKQuantTensors) {
  for (GgmlType type : {GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K,
                        GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kIQ4_XS,
                        GgmlType::kIQ2_XXS, GgmlType::kIQ1_S}) {
    SCOPED_TRACE(std::string(ggml_type_name(type)));
    GgufTensor t;
    t.name = "blk.3.ffn_up_exps.weight";
    t.type = type;
    t.ne = {512, 20, 4};
    GgufResidency r = gguf_residency(t);
    ASSERT_TRUE(kquant_format_of(type));
    EXPECT_EQ(r.how, GgufHolding::kKeptQuantized);
    EXPECT_EQ(r.format, *kquant_format_of(type));
    // 20 rows pad to 2 tiles of 16 in each of the 4 experts.
    EXPECT_EQ(r.bytes, 4 * 2 * 2 * kquant_block_bytes(r.format));
    t.ne = {512};
    EXPECT_EQ(gguf_residency(t).how, GgufHolding::kDecodedF32);
    t.name = "blk.0.attn_k_b.weight";
    t.ne = {512, 16};
    EXPECT_EQ(gguf_residency(t).how, GgufHolding::kDecodedF32);
  }
  EXPECT_EQ(gguf_holding_name(GgufHolding::kKeptQuantized), "kept quantized");
}

INSTANTIATE_TEST_SUITE_P(Golden, GgufGolden,
                         ::testing::Values("v3-tiny", "v2lite-tiny"));

// A minimal deepseek2 file for the refusal tests: metadata of a 1-layer dense
// model.
GgufWriter tiny_writer(const std::string &arch = "deepseek2",
                       uint32_t blocks = 1) {
  GgufWriter w;
  w.add_string("general.architecture", arch);
  const std::string a = "deepseek2.";
  w.add_uint32(a + "block_count", blocks);
  w.add_uint32(a + "embedding_length", 32);
  w.add_uint32(a + "feed_forward_length", 64);
  w.add_uint32(a + "vocab_size", 16);
  w.add_uint32(a + "attention.head_count", 2);
  w.add_uint32(a + "attention.kv_lora_rank", 32);
  w.add_uint32(a + "attention.key_length_mla", 24);
  w.add_uint32(a + "attention.value_length_mla", 16);
  w.add_uint32(a + "rope.dimension_count", 8);
  return w;
}

std::string open_error(GgufWriter &w, const std::string &name) {
  TempFile f(name);
  EXPECT_TRUE(w.write(f.path).ok());
  auto m = open_gguf_model(f.path);
  return m.ok() ? "" : m.error().message;
}

TEST(GgufModel, RefusesWhatIsNotADeepseek2Model) {
  {
    GgufWriter w = tiny_writer("llama");
    EXPECT_NE(
        open_error(w, "arch.gguf")
            .find("general.architecture is 'llama', expected 'deepseek2'"),
        std::string::npos);
  }
  {
    GgufWriter w = tiny_writer();
    w.add_uint32("deepseek2.expert_count", 4);
    w.add_uint32("deepseek2.expert_used_count", 2);
    w.add_uint32("deepseek2.expert_feed_forward_length", 16);
    w.add_uint32("deepseek2.expert_gating_func", 2);
    const std::string err = open_error(w, "bias.gguf");
    EXPECT_NE(err.find("sigmoid but no exp_probs_b.bias"), std::string::npos)
        << err;
  }
  {
    GgufWriter w = tiny_writer();
    w.add_uint32("deepseek2.expert_gating_func", 3);
    w.add_uint32("deepseek2.expert_count", 4);
    w.add_uint32("deepseek2.expert_used_count", 2);
    w.add_uint32("deepseek2.expert_feed_forward_length", 16);
    const std::string err = open_error(w, "gating.gguf");
    EXPECT_NE(err.find("expert_gating_func = 3 is not supported"),
              std::string::npos)
        << err;
  }
  {
    GgufWriter w = tiny_writer();
    w.add_tensor("blk.0.attn_mystery.weight", GgmlType::kF32, {32},
                 std::vector<uint8_t>(128));
    const std::string err = open_error(w, "unknown.gguf");
    EXPECT_NE(err.find("tensor 'blk.0.attn_mystery.weight' is not part of a "
                       "deepseek2 model"),
              std::string::npos)
        << err;
  }
  {
    GgufWriter w = tiny_writer();
    w.add_tensor("blk.0.attn_output.weight", GgmlType::kTQ2_0, {256, 32},
                 std::vector<uint8_t>(
                     size_t(ggml_row_bytes(GgmlType::kTQ2_0, 256)) * 32));
    const std::string err = open_error(w, "tq2.gguf");
    EXPECT_NE(err.find("tensor 'blk.0.attn_output.weight' is TQ2_0, which dsv3 "
                       "cannot decode"),
              std::string::npos)
        << err;
  }
  {
    GgufWriter w = tiny_writer("deepseek2", 0);
    const std::string err = open_error(w, "zero.gguf");
    EXPECT_NE(err.find("num_hidden_layers"), std::string::npos)
        << err; // config validation
  }
}

// The metadata keys read and written as one config field each name fields of
// the config table, each once.
TEST(GgufModel, ConfigKeysNameFieldsOfTheTable) {
  std::set<std::string> keys;
  for (const ConfigField &f : config_fields())
    keys.insert(std::string(f.key));
  const std::vector<std::string> fields = gguf_config_key_fields();
  EXPECT_GE(fields.size(), 19u);
  std::set<std::string> seen;
  for (const std::string &f : fields) {
    EXPECT_TRUE(keys.count(f)) << f;
    EXPECT_TRUE(seen.insert(f).second) << f;
  }
}

// Sizes the reader subtracts (block_count - nextn_predict_layers, key length -
// rope.dimension_count) are checked first: a file can hold any int64 there.
TEST(GgufModel, RefusesSizesThatDoNotFitTogether) {
  const auto i64 = [](int64_t v) {
    GgufValue value;
    value.type = GgufValueType::kI64;
    value.scalar = v;
    return value;
  };
  const int64_t min = std::numeric_limits<int64_t>::min();
  {
    GgufWriter w = tiny_writer("deepseek2", 1);
    w.add_uint32("deepseek2.nextn_predict_layers", 2);
    const std::string err = open_error(w, "nextn.gguf");
    EXPECT_NE(err.find("deepseek2.nextn_predict_layers = 2 is outside "
                       "0..deepseek2.block_count (1)"),
              std::string::npos)
        << err;
  }
  for (const bool min_blocks : {true, false}) {
    // tiny_writer's keys, with block_count or key_length_mla the smallest int64.
    GgufWriter w;
    w.add_string("general.architecture", "deepseek2");
    const std::string a = "deepseek2.";
    w.add_value(a + "block_count", i64(min_blocks ? min : 1));
    w.add_uint32(a + "nextn_predict_layers", 1);
    w.add_uint32(a + "embedding_length", 32);
    w.add_uint32(a + "feed_forward_length", 64);
    w.add_uint32(a + "vocab_size", 16);
    w.add_uint32(a + "attention.head_count", 2);
    w.add_uint32(a + "attention.kv_lora_rank", 32);
    w.add_value(a + "attention.key_length_mla", i64(min_blocks ? 24 : min));
    w.add_uint32(a + "attention.value_length_mla", 16);
    w.add_uint32(a + "rope.dimension_count", 8);
    const std::string err = open_error(w, "min.gguf");
    const std::string expected =
        min_blocks ? "deepseek2.nextn_predict_layers = 1 is outside "
                     "0..deepseek2.block_count (-9223372036854775808)"
                   : "deepseek2.attention.key_length_mla = "
                     "-9223372036854775808 cannot hold "
                     "deepseek2.rope.dimension_count = 8";
    EXPECT_NE(err.find(expected), std::string::npos) << err;
  }
}

TEST(GgufModel, NamesMapBothWays) {
  EXPECT_EQ(gguf_name_of("model.layers.3.self_attn.q_a_proj.weight"),
            "blk.3.attn_q_a.weight");
  EXPECT_EQ(gguf_name_of("model.layers.61.eh_proj.weight"),
            "blk.61.nextn.eh_proj.weight");
  EXPECT_EQ(gguf_name_of("model.layers.5.mlp.gate.e_score_correction_bias"),
            "blk.5.exp_probs_b.bias");
  EXPECT_EQ(gguf_name_of("lm_head.weight"), "output.weight");
  EXPECT_FALSE(
      gguf_name_of("model.layers.3.mlp.experts.7.up_proj.weight").has_value());
  EXPECT_TRUE(is_gguf_path("/x/DeepSeek-V3-Q8_0-00001-of-00016.gguf"));
  EXPECT_FALSE(is_gguf_path("/x/DeepSeek-V3"));
}

} // namespace
} // namespace dsv3
