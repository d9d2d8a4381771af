#include "model/transformer.h"

#include <algorithm>
#include <vector>

#include "kernels/kernels.h"
#include "model/block.h"
#include "model/gguf_model.h"

namespace dsv3 {

Model::Model(ModelConfig config, Checkpoint ck, int64_t max_positions)
    : config_(std::move(config)), checkpoint_(std::move(ck)), rope_(config_, max_positions) {}

namespace {

// A Hugging Face directory or a GGUF file (model/gguf_model.h), as a config and tensors under
// the HF names.
Result<std::pair<ModelConfig, Checkpoint>> open_checkpoint(const std::string& path,
                                                           const WeightSelection& sel) {
  if (is_gguf_path(path)) {
    DSV3_ASSIGN_OR_RETURN(GgufModel g, open_gguf_model(path));
    return std::pair(std::move(g.config), std::move(g.checkpoint));
  }
  DSV3_ASSIGN_OR_RETURN(ModelConfig config, load_model_config(path));
  TensorFilter wanted;
  if (!sel.dense_part || sel.routed_expert) {
    wanted = [&sel](const std::string& name) { return sel.wants_tensor(name); };
  }
  DSV3_ASSIGN_OR_RETURN(Checkpoint ck, Checkpoint::open(path, wanted));
  return std::pair(std::move(config), std::move(ck));
}

}  // namespace

Result<std::unique_ptr<Model>> Model::load(const std::string& dir, const ModelOptions& options) {
  const WeightSelection& sel = options.selection;
  DSV3_ASSIGN_OR_RETURN(auto opened, open_checkpoint(dir, sel));
  ModelConfig config = std::move(opened.first);
  Checkpoint ck = std::move(opened.second);
  if (options.max_positions <= 0) return Err("context length must be > 0");
  const WeightFormat kv = options.kv_format;
  if (kv != WeightFormat::kF32 && kv != WeightFormat::kBF16 && kv != WeightFormat::kF16 &&
      kv != WeightFormat::kFP8Block) {
    return Err("KV cache type ", format_name(kv),
               " is not supported (expected f32, bf16, f16 or fp8)");
  }
  if (options.mlock) DSV3_TRY(ck.lock_all());
  std::unique_ptr<Model> m(new Model(std::move(config), std::move(ck), options.max_positions));
  m->kv_format_ = kv;
  const bool with_mtp = options.load_mtp && m->config_.num_nextn_predict_layers > 0;
  DSV3_ASSIGN_OR_RETURN(m->weights_, load_weights(m->checkpoint_, m->config_, with_mtp, sel));
  return m;
}

KvCache Model::new_cache(int64_t capacity) const {
  if (capacity <= 0 || capacity > max_positions()) capacity = max_positions();
  return KvCache(config_.num_hidden_layers, config_.kv_cache_width(), capacity, kv_format_,
                 config_.has_indexer() ? config_.index_head_dim : 0);
}

KvCache Model::new_mtp_cache(int64_t capacity) const {
  if (capacity <= 0 || capacity > max_positions()) capacity = max_positions();
  return KvCache(std::max<int64_t>(mtp_depth(), 1), config_.kv_cache_width(), capacity,
                 kv_format_, config_.has_indexer() ? config_.index_head_dim : 0);
}

Status check_tokens(const ModelConfig& c, std::span<const int32_t> tokens) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size) {
      return Err("token id ", tokens[i], " at index ", i, " is outside the vocabulary [0, ",
                 c.vocab_size, ")");
    }
  }
  return OkStatus();
}

namespace {

// Normalises rows [first, T) of x and applies the head: logits [T - first, vocab].
void head_logits(const ModelConfig& c, const std::vector<float>& norm, const Matrix& head,
                 const float* x, int64_t T, int64_t first, Arena& arena, float* hidden_out,
                 float* logits_out) {
  const int64_t d = c.hidden_size;
  Arena::Mark mark(arena);
  float* h = arena.floats(T * d);
  for (int64_t t = 0; t < T; ++t) {
    kernels::rmsnorm(x + t * d, norm.data(), d, float(c.rms_norm_eps), h + t * d);
  }
  if (hidden_out) std::copy_n(h, T * d, hidden_out);
  if (logits_out) kernels::matmul(head, h + first * d, T - first, logits_out);
}

void trace_ints(const LayerContext& ctx, const char* name, const int32_t* v, int64_t n) {
  if (!ctx.trace || !*ctx.trace) return;
  std::vector<float> f(v, v + n);
  ctx.emit(name, f);
}

}  // namespace

void Model::forward(const ForwardArgs& a) const {
  const BatchItem item{.tokens = a.tokens, .cache = a.cache, .hidden_out = a.hidden_out,
                       .logits_out = a.logits_out, .last_logits_only = a.last_logits_only};
  forward_batch(std::span(&item, 1), *a.arena,
                {.attention = a.attention, .trace = a.trace, .phases = a.phases});
}

void Model::forward_batch(std::span<const BatchItem> items, Arena& arena,
                          const BatchOptions& options) const {
  const TraceFn* trace = options.trace;
  PhaseTimes* phases = options.phases;
  const int64_t d = config_.hidden_size, V = config_.vocab_size;
  const int64_t k = config_.num_experts_per_tok;
  Arena::Mark mark(arena);
  std::vector<SequenceSlice> seqs;
  int64_t rows = 0;
  for (const BatchItem& it : items) {
    const int64_t T = int64_t(it.tokens.size()), start = it.cache->length();
    DSV3_CHECK(T > 0 && start + T <= it.cache->capacity(), "%ld tokens at %ld, capacity %ld",
               long(T), long(start), long(it.cache->capacity()));
    seqs.push_back({.row = rows, .count = T, .start_pos = start, .cache = it.cache});
    rows += T;
  }
  float* x = arena.floats(rows * d);
  {
    PhaseScope phase(phases, "embedding");
    for (size_t i = 0; i < items.size(); ++i) {
      for (int64_t t = 0; t < seqs[i].count; ++t) {
        kernels::dequantize_row(weights_.embed, items[i].tokens[t], x + (seqs[i].row + t) * d);
      }
    }
  }

  LayerContext ctx{.config = &config_, .rope = &rope_, .attention = options.attention,
                   .arena = &arena, .trace = trace, .layer = 0, .remote_experts = remote_.get(),
                   .phases = phases};
  const bool tracing = trace && *trace;
  int32_t* ids = tracing ? arena.ints(rows * k) : nullptr;
  float* route_w = tracing ? arena.floats(rows * k) : nullptr;
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    ctx.layer = l;
    const BlockWeights& bw = weights_.layers[l];
    block_forward(ctx, bw, x, rows, seqs, ids, route_w);
    if (tracing) {
      ctx.emit("layer_out", {x, size_t(rows * d)});
      if (bw.is_moe) {
        trace_ints(ctx, "route_ids", ids, rows * k);
        ctx.emit("route_weights", {route_w, size_t(rows * k)});
      }
    }
  }
  for (const SequenceSlice& s : seqs) s.cache->set_length(s.start_pos + s.count);
  ctx.layer = -1;
  ctx.emit("hidden_prenorm", {x, size_t(rows * d)});

  // Final norm on every row; the head on just the rows whose logits are wanted, in one product.
  PhaseScope head_phase(phases, "final norm + head");
  float* h = arena.floats(rows * d);
  for (int64_t r = 0; r < rows; ++r) {
    kernels::rmsnorm(x + r * d, weights_.norm.data(), d, float(config_.rms_norm_eps), h + r * d);
  }
  std::vector<int64_t> wanted;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].hidden_out) std::copy_n(h + seqs[i].row * d, seqs[i].count * d, items[i].hidden_out);
    if (!items[i].logits_out) continue;
    for (int64_t t = items[i].last_logits_only ? seqs[i].count - 1 : 0; t < seqs[i].count; ++t) {
      wanted.push_back(seqs[i].row + t);
    }
  }
  if (wanted.empty()) return;
  float* hw = arena.floats(wanted.size() * d);
  float* logits = arena.floats(wanted.size() * V);
  for (size_t j = 0; j < wanted.size(); ++j) std::copy_n(h + wanted[j] * d, d, hw + j * d);
  kernels::matmul(weights_.head, hw, int64_t(wanted.size()), logits);
  size_t j = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].logits_out) continue;
    const int64_t n = items[i].last_logits_only ? 1 : seqs[i].count;
    std::copy_n(logits + j * V, n * V, items[i].logits_out);
    j += size_t(n);
  }
}

void Model::mtp_forward(const MtpArgs& a) const {
  DSV3_CHECK(a.depth >= 0 && a.depth < mtp_depth(), "MTP depth %ld of %ld", long(a.depth),
             long(mtp_depth()));
  const MtpWeights& w = weights_.mtp[a.depth];
  const int64_t T = int64_t(a.tokens.size()), d = config_.hidden_size;
  const int64_t start = a.cache->length();
  const float eps = float(config_.rms_norm_eps);
  Arena& arena = *a.arena;
  Arena::Mark mark(arena);
  // eh_proj input per slot: [enorm(Emb(t_{i+1})) ; hnorm(h_i)] (embedding first, as the
  // released weights are used; see spec/mtp.md).
  float* cat = arena.floats(T * 2 * d);
  for (int64_t t = 0; t < T; ++t) {
    float* e = cat + t * 2 * d;
    kernels::dequantize_row(w.embed, a.tokens[t], e);
    if (a.mask_first_embedding && start + t == 0) std::fill_n(e, d, 0.0f);
    kernels::rmsnorm(e, w.enorm.data(), d, eps, e);
    kernels::rmsnorm(a.hidden + t * d, w.hnorm.data(), d, eps, e + d);
  }
  float* x = arena.floats(T * d);
  kernels::matmul(w.eh_proj, cat, T, x);

  // The MTP layer's block runs as layer 0 of its own one-layer cache, at index N for traces.
  LayerContext ctx{.config = &config_, .rope = &rope_, .attention = a.attention,
                   .arena = &arena, .trace = a.trace, .layer = a.depth,
                   .remote_experts = remote_.get()};
  const int64_t k = config_.num_experts_per_tok;
  const bool tracing = a.trace && *a.trace;
  int32_t* ids = tracing ? arena.ints(T * k) : nullptr;
  float* route_w = tracing ? arena.floats(T * k) : nullptr;
  const SequenceSlice seq{.row = 0, .count = T, .start_pos = start, .cache = a.cache};
  block_forward(ctx, w.block, x, T, std::span(&seq, 1), ids, route_w);
  if (tracing) {
    trace_ints(ctx, "mtp_route_ids", ids, T * k);
    ctx.emit("mtp_route_weights", {route_w, size_t(T * k)});
  }
  a.cache->set_length(start + T);
  head_logits(config_, w.head_norm, w.head, x, T, a.last_logits_only ? T - 1 : 0, arena, a.hidden_out,
              a.logits_out);
}

}  // namespace dsv3
