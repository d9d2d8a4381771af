#include "engine/bench.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <random>
#include <vector>

#include "engine/session.h"
#include "engine/speculative.h"
#include "kernels/kernels.h"
#include "model/logits_guard.h"

namespace dsv3 {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Spread spread_of(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  const double median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return {.median = median, .min = v.front(), .max = v.back()};
}

double mlp_bytes(const MlpWeights& m) { return double(m.w1.bytes() + m.w2.bytes() + m.w3.bytes()); }
double floats_bytes(const std::vector<float>& v) { return double(v.size() * sizeof(float)); }

// What a decode step reads apart from the routed experts and the cache, plus each routed
// expert's size so the trace of a step can add the ones it chose.
struct WeightBytes {
  DecodeBytes fixed;
  std::vector<std::vector<double>> expert;  // [layer][expert], empty for dense layers
};

WeightBytes weight_bytes(const Model& model) {
  const ModelWeights& w = model.weights();
  WeightBytes b;
  b.fixed.embedding = double(format_row_bytes(w.embed.format, w.embed.cols));
  b.expert.resize(w.layers.size());
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const BlockWeights& bw = w.layers[l];
    const AttentionWeights& a = bw.attn;
    b.fixed.attention += double(a.wq.bytes() + a.wq_a.bytes() + a.wq_b.bytes() + a.wkv_a.bytes() +
                                a.wkv_b.bytes() + a.wo.bytes()) +
                         floats_bytes(a.q_norm) + floats_bytes(a.kv_norm) +
                         floats_bytes(bw.attn_norm) + floats_bytes(bw.ffn_norm);
    if (!bw.is_moe) {
      b.fixed.dense_ffn += mlp_bytes(bw.mlp);
      continue;
    }
    b.fixed.router += double(bw.moe.gate.weight.bytes()) + floats_bytes(bw.moe.gate.bias);
    if (bw.moe.has_shared) b.fixed.shared_experts += mlp_bytes(bw.moe.shared);
    // Under expert parallelism the experts of other ranks are not mapped here; a layer's
    // routed experts all have one shape and format, so they count as the ones held here.
    double held_size = 0;
    for (const MlpWeights& e : bw.moe.experts) held_size = std::max(held_size, mlp_bytes(e));
    for (size_t e = 0; e < bw.moe.experts.size(); ++e) b.expert[l].push_back(held_size);
  }
  b.fixed.head = double(w.head.bytes()) + floats_bytes(w.norm);
  return b;
}

// Adds up, over decode steps, the routed experts each MoE layer reads: the distinct ids of the
// step's route_ids trace (one token per step reads k experts; a batch may share some).
class ExpertCounter {
 public:
  explicit ExpertCounter(const WeightBytes& wb) : wb_(wb) {
    size_t n = 0;
    for (const auto& l : wb.expert) n = std::max(n, l.size());
    seen_.assign(n, 0);
  }

  TraceFn trace_fn() {
    return [this](const std::string& name, int64_t layer, std::span<const float> ids) {
      if (name != "route_ids" || layer < 0 || size_t(layer) >= wb_.expert.size()) return;
      const auto& sizes = wb_.expert[size_t(layer)];
      std::vector<double>& load = load_[layer];
      load.resize(sizes.size());
      for (float f : ids) {
        const size_t e = size_t(f);
        if (e < load.size()) load[e] += 1;
        if (e < sizes.size() && !seen_[e]) {
          seen_[e] = 1;
          bytes_ += sizes[e];
          ++experts_;
        }
      }
      for (float f : ids) {
        if (size_t(f) < seen_.size()) seen_[size_t(f)] = 0;
      }
      ++layer_steps_;
    };
  }

  double bytes() const { return bytes_; }
  const ExpertLoad& load() const { return load_; }
  double experts_per_layer_step() const {
    return layer_steps_ ? double(experts_) / double(layer_steps_) : 0;
  }

 private:
  const WeightBytes& wb_;
  std::vector<char> seen_;
  ExpertLoad load_;  // tokens per expert per MoE layer
  double bytes_ = 0;
  int64_t experts_ = 0, layer_steps_ = 0;
};

std::vector<int32_t> random_tokens(const ModelConfig& c, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> token(0, int32_t(c.vocab_size - 1));
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& t : v) t = token(rng);
  return v;
}

std::vector<int32_t> repeated_to(const std::vector<int32_t>& tokens, int64_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = tokens[size_t(i) % tokens.size()];
  return v;
}

// Median times of each step over `runs` rounds that run every step once, by turns (so a
// drifting machine slows them alike), in seconds.
template <size_t N>
std::array<double, N> median_seconds(int runs, const std::array<std::function<void()>, N>& steps) {
  std::array<std::vector<double>, N> t;
  for (int i = 0; i < runs; ++i) {
    for (size_t s = 0; s < N; ++s) {
      const auto start = Clock::now();
      steps[s]();
      t[s].push_back(seconds_since(start));
    }
  }
  std::array<double, N> medians;
  for (size_t s = 0; s < N; ++s) medians[s] = spread_of(t[s]).median;
  return medians;
}

// Tokens/s of greedy decoding of n tokens after the prompt through `session` (what generate
// and chat run), drafting `draft` tokens per step (0: none), or with `mtp_auto` only the
// steps it asks to (as generate_text() does); adds the drafts' statistics.
Result<double> session_decode_speed(Session& session, const std::vector<int32_t>& prompt,
                                    const BenchOptions& o, int64_t draft, MtpStats& stats,
                                    MtpAuto* mtp_auto = nullptr) {
  session.reset();
  DSV3_TRY(session.append(prompt, o.prefill_chunk));
  Sampler greedy({.temperature = 0});
  TokenDecoder decoder(session, greedy, int(draft));
  const auto start = Clock::now();
  int64_t produced = 0;
  while (produced < o.gen_tokens) {
    const DecodeMode mode = mtp_auto ? mtp_auto->next() : DecodeMode::kSpeculative;
    if (mtp_auto) decoder.set_speculative(mode == DecodeMode::kSpeculative);
    const auto step_start = Clock::now();
    DSV3_ASSIGN_OR_RETURN(auto tokens, decoder.step(o.gen_tokens - produced));
    produced += int64_t(tokens.size());
    if (mtp_auto && decoder.drafted() == (mode == DecodeMode::kSpeculative)) {
      mtp_auto->record(seconds_since(step_start), int64_t(tokens.size()));
    }
  }
  const double speed = double(produced) / seconds_since(start);
  stats.add(decoder.stats());
  return speed;
}

// Greedy decoding with MTP drafts against the same decoding without them, run by turns so
// that both see the same machine (these drift by 20% within minutes); and the one-token /
// (1 + drafts)-token forward times that bound the speedup.
Status run_mtp_bench(const Model& model, const BenchOptions& o, const std::vector<int32_t>& prompt,
                     BenchResult& r) {
  const int64_t p = int64_t(prompt.size()), n = o.gen_tokens, draft = o.mtp_draft;
  Session session(model, SessionOptions{.context = p + n + draft + 1, .mtp = true});
  Session plain_session(model, SessionOptions{.context = p + n + 1, .mtp = false});
  MtpStats total, none, auto_stats;
  std::vector<double> speeds, plain_speeds, ratios, auto_speeds, auto_ratios;
  for (int rep = 0; rep < o.repeats; ++rep) {
    DSV3_ASSIGN_OR_RETURN(const double plain, session_decode_speed(plain_session, prompt, o, 0, none));
    DSV3_ASSIGN_OR_RETURN(const double drafted, session_decode_speed(session, prompt, o, draft, total));
    plain_speeds.push_back(plain);
    speeds.push_back(drafted);
    ratios.push_back(drafted / plain);
    if (!o.mtp_auto) continue;
    MtpAuto mtp_auto;  // a fresh one per run, as each generation has
    DSV3_ASSIGN_OR_RETURN(const double automatic,
                          session_decode_speed(session, prompt, o, draft, auto_stats, &mtp_auto));
    auto_speeds.push_back(automatic);
    auto_ratios.push_back(automatic / plain);
    r.mtp_auto_report = mtp_auto.report();
    r.mtp_auto_speculating_runs += r.mtp_auto_report.speculating;
  }
  r.mtp_auto = o.mtp_auto;
  r.mtp_auto_decode_tok_s = spread_of(auto_speeds);
  r.mtp_auto_speedup = spread_of(auto_ratios).median;
  r.mtp = true;
  r.mtp_decode_tok_s = spread_of(speeds);
  r.mtp_plain_decode_tok_s = spread_of(plain_speeds);
  for (size_t j = 0; j < total.drafted.size(); ++j) r.mtp_acceptance.push_back(total.acceptance(j));
  r.tokens_per_forward = total.tokens_per_forward();
  r.mtp_speedup = spread_of(ratios).median;

  // t1: one token through the main model. t2: one speculative step, the verify forward of
  // 1 + draft tokens plus the drafting, whose MTP layer first catches up on the positions
  // the previous step kept: 1 + draft of them after a step that kept every draft, 1 after a
  // rejection. t2 weighs the two by how often the measured steps kept every draft.
  session.reset();
  DSV3_TRY(session.append(prompt, o.prefill_chunk));
  const int64_t at = session.length();
  std::vector<int32_t> step_tokens(prompt.begin(), prompt.begin() + 1 + draft);
  Sampler greedy({.temperature = 0});
  auto speculative_step = [&](int64_t catch_up) {
    return [&, catch_up] {
      session.truncate(at);
      session.mtp_cache().truncate(std::max<int64_t>(at - catch_up, 0));
      TokenDecoder decoder(session, greedy, int(draft));
      (void)decoder.step(draft + 1);
    };
  };
  const auto [t1, t2_kept_all, t2_rejected] = median_seconds<3>(
      32, {[&] {
             session.truncate(at);
             (void)session.append_all(std::span(step_tokens).first(1));
           },
           speculative_step(1 + draft), speculative_step(1)});
  const double kept_all = total.drafted.empty() || total.drafted[0] == 0
                              ? 0.0
                              : double(total.accepted.back()) / double(total.drafted[0]);
  const double t2 = kept_all * t2_kept_all + (1 - kept_all) * t2_rejected;
  r.t1_ms = t1 * 1e3;
  r.t2_ms = t2 * 1e3;
  r.mtp_allowed_speedup = t2 > 0 ? r.tokens_per_forward * t1 / t2 : 0;
  return OkStatus();
}

}  // namespace

size_t touch_weights(const Model& model) {
  size_t total = 0;
  volatile uint8_t sink = 0;
  for (const auto& [name, t] : model.checkpoint().tensors()) {
    for (size_t i = 0; i < t.nbytes; i += 4096) sink = sink ^ t.data[i];
    total += t.nbytes;
  }
  if (RemoteExperts* remote = model.remote_experts()) total += size_t(remote->prefault());
  return total;
}

namespace {

// Network bytes per rank, to subtract snapshots.
class TrafficMeter {
 public:
  explicit TrafficMeter(const Model& model) : remote_(model.remote_experts()) {
    if (remote_) {
      sent_.assign(size_t(remote_->ranks()), 0);
      received_ = sent_;
    }
  }
  // Adds what moved since start() (call around the phase to count).
  void start() { last_ = remote_ ? remote_->traffic() : std::vector<RankTraffic>{}; }
  void stop() {
    if (!remote_) return;
    const auto now = remote_->traffic();
    for (size_t r = 0; r < now.size(); ++r) {
      sent_[r] += double(now[r].bytes_sent - last_[r].bytes_sent);
      received_[r] += double(now[r].bytes_received - last_[r].bytes_received);
    }
  }
  const std::vector<double>& sent() const { return sent_; }
  const std::vector<double>& received() const { return received_; }

 private:
  RemoteExperts* remote_;
  std::vector<RankTraffic> last_;
  std::vector<double> sent_, received_;
};

// Per-rank memory and traffic per token of an expert-parallel job.
std::vector<RankBench> rank_figures(const Model& model, const TrafficMeter& prefill,
                                    const TrafficMeter& decode, double prompt_tokens,
                                    double decoded_tokens) {
  RemoteExperts* remote = model.remote_experts();
  if (!remote) return {};
  std::vector<RankBench> ranks;
  for (const RankMemoryUse& m : remote->memory_use()) {
    const size_t r = size_t(m.rank);
    ranks.push_back({.memory = m,
                     .sent_per_token = decode.sent()[r] / decoded_tokens,
                     .received_per_token = decode.received()[r] / decoded_tokens,
                     .prefill_sent_per_token = prefill.sent()[r] / prompt_tokens});
  }
  return ranks;
}

// Positions [0, n) of every layer of the cache as a prompt could have left them: c_kv and
// k_pe ~ N(0, 1) (kv_a_layernorm's and RoPE's scale) and, for V3.2, indexer keys of e4m3 codes
// of N(0, 64) values with scale 1/64. Only the speed of decoding after them is measured.
void fill_random_context(KvCache& cache, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> row(size_t(cache.width()));
  std::vector<uint8_t> codes(size_t(cache.index_dim()));
  for (int64_t l = 0; l < cache.n_layers(); ++l) {
    for (int64_t pos = 0; pos < n; ++pos) {
      for (float& v : row) v = normal(rng);
      cache.write(l, pos, row.data());
      if (codes.empty()) continue;
      for (uint8_t& code : codes) code = kernels::fp8_e4m3_code(64.0f * normal(rng));
      cache.write_index_key(l, pos, codes.data(), 1.0f / 64.0f);
    }
  }
  cache.set_length(n);
}

}  // namespace

Result<BenchResult> run_bench(const Model& model, const BenchOptions& o) {
  const ModelConfig& c = model.config();
  const int64_t p = o.prompt_tokens, n = o.gen_tokens;
  if (p < 1 || n < 1 || o.repeats < 1) {
    return Err("bench needs at least 1 prompt token, 1 generated token and 1 repeat");
  }
  if (p + n > model.max_positions()) {
    return Err(p, " prompt + ", n, " generated tokens exceed the context of ",
               model.max_positions(), " (raise --ctx)");
  }
  BenchResult r;
  r.prompt_tokens = p;
  r.gen_tokens = n;
  r.repeats = o.repeats;
  r.threads = o.threads;
  const WeightBytes wb = weight_bytes(model);
  ExpertCounter experts(wb);
  const TraceFn trace = experts.trace_fn();

  const std::vector<int32_t> prompt =
      o.prompt.empty() ? random_tokens(c, p, o.seed) : repeated_to(o.prompt, p);

  KvCache cache = model.new_cache(p + n);
  Arena arena;
  std::vector<float> logits(size_t(c.vocab_size));
  std::vector<double> prefill, decode;
  double kv_bytes = 0;
  TrafficMeter prefill_traffic(model), decode_traffic(model);
  for (int rep = 0; rep < o.repeats; ++rep) {
    cache.truncate(0);
    prefill_traffic.start();
    auto start = Clock::now();
    if (o.synthetic_context) {
      fill_random_context(cache, p, o.seed + uint64_t(rep));
      logits.assign(logits.size(), 0.0f);
      logits[size_t(prompt.back())] = 1.0f;  // decoding starts from the prompt's last token
    }
    for (int64_t pos = o.synthetic_context ? p : 0; pos < p; pos += o.prefill_chunk) {
      const int64_t len = std::min(o.prefill_chunk, p - pos);
      model.forward({.tokens = std::span(prompt).subspan(size_t(pos), size_t(len)),
                     .cache = &cache, .arena = &arena,
                     .logits_out = pos + len == p ? logits.data() : nullptr,
                     .last_logits_only = true,
                     .phases = o.profile ? &r.prefill_phases : nullptr});
    }
    prefill.push_back(o.synthetic_context ? 0.0 : double(p) / seconds_since(start));
    prefill_traffic.stop();

    // Speeds of a model whose logits are not finite would measure nothing worth reporting.
    DSV3_TRY(check_logits_finite(logits, c.vocab_size, "the forward pass"));
    int32_t next = argmax(logits);
    decode_traffic.start();
    start = Clock::now();
    for (int64_t i = 0; i < n; ++i) {
      // The step attends over every cached position plus its own; under V3.2's sparse
      // attention it reads the latent rows of the index_topk it keeps, after its indexer
      // read every cached key.
      const int64_t seen = cache.length() + 1;
      const int64_t kept = c.has_indexer() ? std::min(seen, c.index_topk) : seen;
      kv_bytes += double(kept) * double(cache.latent_bytes_per_token()) +
                  double(seen) * double(cache.index_bytes_per_token());
      model.forward({.tokens = std::span(&next, 1), .cache = &cache, .arena = &arena,
                     .logits_out = logits.data(), .last_logits_only = true, .trace = &trace,
                     .phases = o.profile ? &r.decode_phases : nullptr});
      DSV3_TRY(check_logits_finite(logits, c.vocab_size, "the forward pass"));
      next = argmax(logits);
    }
    decode.push_back(double(n) / seconds_since(start));
    decode_traffic.stop();
  }
  r.prefill_tok_s = spread_of(prefill);
  r.decode_tok_s = spread_of(decode);

  const double steps = double(n) * o.repeats;
  r.bytes_per_token = wb.fixed;
  r.bytes_per_token.routed_experts = experts.bytes() / steps;
  r.bytes_per_token.kv_cache = kv_bytes / steps;
  r.experts_per_moe_layer = experts.experts_per_layer_step();
  r.expert_load = experts.load();
  if (o.probe.bytes > 0) {
    BandwidthProbe probe = o.probe;
    probe.threads = std::max(1, o.threads);
    r.bandwidth_bytes_s = measure_read_bandwidth(probe);
    r.roofline_tok_s = r.bandwidth_bytes_s / r.bytes_per_token.total();
    r.roofline_pct = 100.0 * r.decode_tok_s.median / r.roofline_tok_s;
  }
  r.ranks = rank_figures(model, prefill_traffic, decode_traffic, double(p) * o.repeats, steps);
  if (o.mtp_draft > 0 && model.mtp_depth() > 0 && !o.synthetic_context) {
    DSV3_TRY(run_mtp_bench(model, o, prompt, r));
  }
  return r;
}

}  // namespace dsv3
