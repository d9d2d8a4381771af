#include "model/synth.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>
#include <thread>

#include "model/tensor_table.h"

namespace dsv3 {

namespace {

using nlohmann::ordered_json;

// --- Counter-based random numbers: value i of a tensor depends only on (key, i).

// splitmix64 (Steele, Lea, Flood 2014): a strong 64-bit mix of a counter.
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// FNV-1a of the name, mixed with the seed.
uint64_t tensor_key(uint64_t seed, const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : name) h = (h ^ ch) * 0x100000001b3ull;
  return splitmix64(splitmix64(seed) ^ h);
}

// Values [first, first + n) of the tensor keyed `key`, N(0, stddev): elements 2j and 2j+1 are
// the Box-Muller pair of counter j (24-bit uniforms, so |value| < 5.8 stddev).
void normal_values(uint64_t key, uint64_t first, uint64_t n, float stddev, float* out) {
  constexpr float kTwoPi = 2.0f * std::numbers::pi_v<float>;
  constexpr float kInv24 = 1.0f / 16777216.0f;
  const uint64_t end = first + n;
  for (uint64_t j = first >> 1; 2 * j < end; ++j) {
    const uint64_t z = splitmix64(key + j);
    const float u1 = float((z >> 40) + 1) * kInv24;  // (0, 1]
    const float u2 = float(z & 0xffffff) * kInv24;   // [0, 1)
    const float r = stddev * std::sqrt(-2.0f * std::log(u1));
    const float a = kTwoPi * u2;
    const float c = std::cos(a), s = std::sin(a);  // one sincos call
    const uint64_t i = 2 * j;
    if (i >= first) out[i - first] = r * c;
    if (i + 1 < end) out[i + 1 - first] = r * s;
  }
}

// Runs fn(begin, end) over [0, n) split into `threads` contiguous parts.
template <typename Fn>
void parallel_for(int threads, int64_t n, const Fn& fn) {
  const int64_t parts = std::clamp<int64_t>(threads, 1, std::max<int64_t>(n, 1));
  std::vector<std::thread> pool;
  for (int64_t p = 1; p < parts; ++p) {
    pool.emplace_back([&fn, p, parts, n] { fn(n * p / parts, n * (p + 1) / parts); });
  }
  fn(0, n / parts);
  for (auto& t : pool) t.join();
}

// f32 -> FP8 e4m3fn code, round to nearest even, saturating at +-448; the same codes as
// f32_to_fp8_e4m3 of tensor/dtype.h (a table search) at a fraction of the cost.
inline uint8_t encode_fp8_e4m3(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint8_t sign = uint8_t((bits >> 24) & 0x80);
  const uint32_t abs_bits = bits & 0x7fffffff;
  if (abs_bits > 0x7f800000) return 0x7f;  // NaN
  const float a = std::bit_cast<float>(abs_bits);
  if (a >= 448.0f) return sign | 0x7e;
  if (a < 0.015625f) {
    // Subnormal range (below 2^-6): codes 0..8 are multiples of 2^-9 (code 8 is 2^-6, the
    // smallest normal). a * 2^9 is exact; adding 2^23 rounds it to an integer, ties to even.
    const float scaled = a * 512.0f + 8388608.0f;
    return sign | uint8_t(std::bit_cast<uint32_t>(scaled) & 0xf);
  }
  // Normal: exponent 1..15 (bias 7), 3 mantissa bits, round to nearest even on the 20 dropped
  // bits; a carry out of the mantissa moves to the next exponent as it should.
  uint32_t code = ((((abs_bits >> 23) & 0xff) - 127 + 7) << 3) | ((abs_bits >> 20) & 0x7);
  const uint32_t rest = abs_bits & 0xfffff;
  if (rest > 0x80000 || (rest == 0x80000 && (code & 1))) ++code;
  return sign | uint8_t(code);
}

// --- The tensor list: the tensor table, each entry with what fills it.

// Vectors: norm weights are ones; the noaux_tc router bias and V3.2's indexer LayerNorm bias
// are small normals in F32 (as the release and some loaders write them).
SynthTensor synth_vector(const TensorEntry& e) {
  const bool bias = e.role == TensorRole::kRouterBias || e.role == TensorRole::kIndexerKNormBias;
  return {.spec = {e.name, bias ? DType::kF32 : DType::kBF16, e.shape},
          .fill = bias ? SynthFill::kBias : SynthFill::kOnes};
}

std::vector<SynthTensor> plan_tensors(const ModelConfig& c) {
  const std::vector<TensorEntry> table = tensor_table(c);
  // The MTP layer's embedding and head hold the main embedding and lm_head (or the tied
  // embedding), as in the release.
  std::string embed_name, head_name;
  for (const TensorEntry& e : table) {
    if (e.role == TensorRole::kEmbedding) embed_name = e.name;
    if (e.role == TensorRole::kHead) head_name = e.name;
  }
  if (head_name.empty()) head_name = embed_name;
  std::vector<SynthTensor> out;
  const int64_t b = c.fp8_block_size;
  for (const TensorEntry& e : table) {
    if (!e.is_matrix()) {
      out.push_back(synth_vector(e));
    } else if (e.fp8_in_release && c.fp8_block_quantized) {
      const int64_t rows = e.shape[0], cols = e.shape[1];
      out.push_back({.spec = {e.name, DType::kF8E4M3, e.shape}, .fill = SynthFill::kNormalFP8});
      out.push_back({.spec = {fp8_scales_name(e.name), DType::kF32,
                              {(rows + b - 1) / b, (cols + b - 1) / b}},
                     .fill = SynthFill::kScaleInv});
    } else {
      const std::string same_values_as = e.role == TensorRole::kMtpEmbedding ? embed_name
                                         : e.role == TensorRole::kMtpHead    ? head_name
                                                                             : "";
      out.push_back({.spec = {e.name, DType::kBF16, e.shape}, .fill = SynthFill::kNormal,
                     .same_values_as = same_values_as});
    }
  }
  return out;
}

// --- Filling tensors, chunk by chunk.

class Generator {
 public:
  Generator(const SynthOptions& o, int64_t block, bool pow2_scales)
      : seed_(o.seed), stddev_(o.stddev), block_(block), pow2_scales_(pow2_scales),
        threads_(o.threads > 0 ? o.threads
                               : int(std::max(1u, std::thread::hardware_concurrency()))) {}

  Status produce(const SynthTensor& t, SafetensorsStreamWriter& out) {
    const std::string& values = t.same_values_as.empty() ? t.spec.name : t.same_values_as;
    const uint64_t key = tensor_key(seed_, values);
    switch (t.fill) {
      case SynthFill::kNormal: return normal_bf16(key, t.spec.numel(), out);
      case SynthFill::kNormalFP8: return normal_fp8(t, key, out);
      case SynthFill::kScaleInv: return scales(t, out);
      case SynthFill::kOnes: {
        const std::vector<uint16_t> ones(t.spec.numel(), f32_to_bf16(1.0f));
        return out.append(ones.data(), ones.size() * 2);
      }
      case SynthFill::kBias: {
        std::vector<float> bias(t.spec.numel());
        normal_values(key, 0, bias.size(), stddev_ * 0.5f, bias.data());
        return out.append(bias.data(), bias.size() * 4);
      }
    }
    return Err("tensor '", t.spec.name, "': unknown fill");
  }

  // Every FP8 tensor's scales must be consumed by the tensor right after it.
  Status finish() const {
    if (!pending_name_.empty()) return Err("scales '", pending_name_, "' were never written");
    return OkStatus();
  }

 private:
  static constexpr uint64_t kChunkElements = uint64_t(1) << 22;

  Status normal_bf16(uint64_t key, uint64_t numel, SafetensorsStreamWriter& out) {
    for (uint64_t first = 0; first < numel; first += kChunkElements) {
      const uint64_t n = std::min(kChunkElements, numel - first);
      bf16_.resize(n);
      parallel_for(threads_, int64_t(n), [&](int64_t begin, int64_t end) {
        float tmp[4096];
        for (int64_t i = begin; i < end; i += 4096) {
          const int64_t m = std::min<int64_t>(4096, end - i);
          normal_values(key, first + uint64_t(i), uint64_t(m), stddev_, tmp);
          for (int64_t j = 0; j < m; ++j) bf16_[i + j] = f32_to_bf16(tmp[j]);
        }
      });
      DSV3_TRY(out.append(bf16_.data(), n * 2));
    }
    return OkStatus();
  }

  // Rows are quantized a band of whole block rows at a time; each thread takes whole tiles,
  // so a tile's amax and its codes are computed together.
  Status normal_fp8(const SynthTensor& t, uint64_t key, SafetensorsStreamWriter& out) {
    if (!pending_name_.empty()) return Err("scales '", pending_name_, "' were never written");
    const int64_t rows = t.spec.shape[0], cols = t.spec.shape[1], b = block_;
    const int64_t tile_cols = (cols + b - 1) / b;
    pending_name_ = fp8_scales_name(t.spec.name);
    pending_scales_.assign(size_t(((rows + b - 1) / b) * tile_cols), 1.0f);
    const int64_t band_rows = std::max<int64_t>(1, int64_t(kChunkElements) / (b * cols)) * b;
    for (int64_t r0 = 0; r0 < rows; r0 += band_rows) {
      const int64_t r1 = std::min(rows, r0 + band_rows);
      const int64_t tiles = ((r1 - r0 + b - 1) / b) * tile_cols;
      fp8_.resize(size_t((r1 - r0) * cols));
      parallel_for(threads_, tiles, [&](int64_t begin, int64_t end) {
        std::vector<float> tile(size_t(b * b));
        for (int64_t i = begin; i < end; ++i) {
          const int64_t tr = r0 / b + i / tile_cols, tc = i % tile_cols;
          const int64_t rs = tr * b, re = std::min(rows, rs + b);
          const int64_t cs = tc * b, w = std::min(cols, cs + b) - cs;
          float amax = 0.0f;
          for (int64_t r = rs; r < re; ++r) {
            float* v = tile.data() + (r - rs) * b;
            normal_values(key, uint64_t(r * cols + cs), uint64_t(w), stddev_, v);
            for (int64_t j = 0; j < w; ++j) amax = std::max(amax, std::fabs(v[j]));
          }
          // weight_scale_inv: real weight = fp8 code * scale (DeepSeek-V3 weight_dequant).
          float scale = amax > 0.0f ? amax / 448.0f : 1.0f;
          if (pow2_scales_) scale = std::exp2(std::ceil(std::log2(scale)));  // ue8m0
          pending_scales_[size_t(tr * tile_cols + tc)] = scale;
          for (int64_t r = rs; r < re; ++r) {
            const float* v = tile.data() + (r - rs) * b;
            uint8_t* q = fp8_.data() + (r - r0) * cols + cs;
            for (int64_t j = 0; j < w; ++j) q[j] = encode_fp8_e4m3(v[j] / scale);
          }
        }
      });
      DSV3_TRY(out.append(fp8_.data(), fp8_.size()));
    }
    return OkStatus();
  }

  Status scales(const SynthTensor& t, SafetensorsStreamWriter& out) {
    if (pending_name_ != t.spec.name || pending_scales_.size() != t.spec.numel()) {
      return Err("tensor '", t.spec.name, "' does not follow the FP8 weight it scales");
    }
    pending_name_.clear();
    return out.append(pending_scales_.data(), pending_scales_.size() * 4);
  }

  uint64_t seed_;
  float stddev_;
  int64_t block_;
  bool pow2_scales_;  // ue8m0: every weight_scale_inv a power of two
  int threads_;
  std::vector<uint16_t> bf16_;
  std::vector<uint8_t> fp8_;
  std::string pending_name_;
  std::vector<float> pending_scales_;
};

// Compared as JSON values: value() with a string default would throw on a non-string field.
bool is_fp8_quantization(const ordered_json& q) {
  return q.is_object() && q.value("quant_method", ordered_json()) == "fp8" &&
         q.value("fmt", ordered_json("e4m3")) == "e4m3";
}

}  // namespace

Result<SynthDType> parse_synth_dtype(std::string_view name) {
  if (name == "bf16") return SynthDType::kBF16;
  if (name == "fp8") return SynthDType::kFP8;
  return Err("unknown dtype '", std::string(name), "' (expected bf16 or fp8)");
}

uint8_t fast_f32_to_fp8_e4m3(float f) { return encode_fp8_e4m3(f); }

std::vector<SynthTensor> synth_tensors(const ModelConfig& c) { return plan_tensors(c); }

Result<std::string> synth_config_json(const std::string& config_json, const std::string& origin,
                                      const SynthOptions& options) {
  ordered_json j = ordered_json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Err(origin, ": not a valid JSON object");
  if (options.layers > 0) j["num_hidden_layers"] = options.layers;
  const bool has_fp8 =
      j.contains("quantization_config") && is_fp8_quantization(j["quantization_config"]);
  const SynthDType dtype = options.dtype.value_or(has_fp8 ? SynthDType::kFP8 : SynthDType::kBF16);
  if (dtype == SynthDType::kBF16) {
    j.erase("quantization_config");
  } else if (!has_fp8) {
    // As the V3 release writes it.
    j["quantization_config"] = {{"activation_scheme", "dynamic"},
                                {"fmt", "e4m3"},
                                {"quant_method", "fp8"},
                                {"weight_block_size", {128, 128}}};
    // The V3.2 release's scales are powers of two, and its own FP8 steps round theirs so.
    if (j.value("model_type", "") == "deepseek_v32") j["quantization_config"]["scale_fmt"] = "ue8m0";
  }
  std::string text = j.dump(2) + "\n";
  DSV3_TRY(parse_model_config(text, origin));
  return text;
}

Result<SynthSummary> synthesize_checkpoint(const std::string& config_json,
                                           const std::string& origin,
                                           const SynthOptions& options) {
  if (options.out_dir.empty()) return Err("no output directory given");
  SynthSummary s;
  DSV3_ASSIGN_OR_RETURN(s.config_json, synth_config_json(config_json, origin, options));
  DSV3_ASSIGN_OR_RETURN(s.config, parse_model_config(s.config_json, origin));
  const std::vector<SynthTensor> tensors = synth_tensors(s.config);
  std::vector<TensorSpec> specs;
  for (const auto& t : tensors) {
    specs.push_back(t.spec);
    s.bytes += t.spec.bytes();
    if (t.fill != SynthFill::kScaleInv) s.parameters += int64_t(t.spec.numel());
  }
  s.tensors = int64_t(tensors.size());
  Generator gen(options, s.config.fp8_block_size,
                s.config.fp8_block_quantized && s.config.fp8_scale_ue8m0);
  const TensorProducer produce = [&](size_t i, SafetensorsStreamWriter& out) {
    return gen.produce(tensors[i], out);
  };
  const size_t shard_bytes = size_t(std::max<uint64_t>(options.max_shard_bytes, 1));
  DSV3_ASSIGN_OR_RETURN(
      const size_t shards,
      write_checkpoint_streaming(options.out_dir, s.config_json, specs, shard_bytes, produce));
  DSV3_TRY(gen.finish());
  s.shards = int64_t(shards);
  return s;
}

}  // namespace dsv3
