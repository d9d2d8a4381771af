// `dsv3 bench`: prefill and decode speed of a model, the bytes a decoded token reads, and how
// close decoding comes to the memory-bandwidth roofline (bandwidth / bytes per token).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/memory_bandwidth.h"
#include "engine/mtp_auto.h"
#include "model/expert_placement.h"
#include "model/transformer.h"
#include "util/phase_times.h"

namespace dsv3 {

struct BenchOptions {
  int64_t prompt_tokens = 512;  // prefill length
  // The prompt's tokens, repeated or cut to prompt_tokens (a tokenized text); empty: random
  // token ids from `seed`.
  std::vector<int32_t> prompt;
  int64_t gen_tokens = 128;     // decode steps after it, one token each (greedy)
  int repeats = 3;
  uint64_t seed = 1234;
  int64_t prefill_chunk = 512;
  int threads = 1;          // reported, and the probe's thread count
  BandwidthProbe probe;     // probe.bytes == 0: skip the probe
  int mtp_draft = 0;        // > 0: also decode with MTP speculation, this many drafts per step
  bool mtp_auto = false;    // with mtp_draft: also decode as `--mtp auto` does, by turns
  bool profile = false;     // time each phase of the forward passes (BenchResult::*_phases)
  // Fill the KV cache with random entries for the prompt's positions instead of prefilling
  // it: decode speed at a depth whose prompt would cost O(depth^2) to compute. No prefill
  // figure then (0), and no MTP run.
  bool synthetic_context = false;
};

// Median over the repeats with the spread around it.
struct Spread {
  double median = 0, min = 0, max = 0;
};

// Bytes one decode step reads, averaged over the steps: weights as stored (scales included)
// for the parts of the model a token touches, plus the latent KV cache it attends over.
struct DecodeBytes {
  double embedding = 0;  // one row
  double attention = 0;  // all layers' MLA projections and norms
  double dense_ffn = 0;  // dense layers
  double router = 0;     // MoE gate weights and bias
  double shared_experts = 0;
  double routed_experts = 0;  // distinct experts chosen in the step, each read once
  double head = 0;            // final norm and lm_head
  double kv_cache = 0;        // every layer's cache up to the current position
  double total() const {
    return embedding + attention + dense_ffn + router + shared_experts + routed_experts + head +
           kv_cache;
  }
};

// One rank of an expert-parallel job (under mpirun).
struct RankBench {
  RankMemoryUse memory;
  double sent_per_token = 0;      // network bytes per decoded token
  double received_per_token = 0;
  double prefill_sent_per_token = 0;  // per prompt token
};

struct BenchResult {
  int64_t prompt_tokens = 0, gen_tokens = 0;
  int repeats = 0, threads = 0;
  Spread prefill_tok_s, decode_tok_s;
  DecodeBytes bytes_per_token;
  double experts_per_moe_layer = 0;  // distinct routed experts read per layer per step
  ExpertLoad expert_load;            // decoded tokens per routed expert, per MoE layer
  double bandwidth_bytes_s = 0;      // measured by the probe
  double roofline_tok_s = 0;         // bandwidth / bytes per token
  double roofline_pct = 0;           // median decode speed as a share of it

  // With MTP speculation (options.mtp_draft > 0 and a model with an MTP layer):
  bool mtp = false;
  Spread mtp_decode_tok_s;
  std::vector<double> mtp_acceptance;  // per draft position
  double tokens_per_forward = 0;
  Spread mtp_plain_decode_tok_s;  // the same decoding loop without drafts, run by turns with it
  double mtp_speedup = 0;  // median over repeats of speculative / plain speed (paired runs)
  // What the acceptance allows: tokens per forward x t1 / t2, where t1 is a one-token main
  // forward and t2 a (1 + drafts)-token main forward plus the drafting.
  double mtp_allowed_speedup = 0;
  double t1_ms = 0, t2_ms = 0;
  // With options.mtp_auto: the same decoding under `--mtp auto` (MtpAuto choosing per step),
  // run by turns with the plain and speculative runs.
  bool mtp_auto = false;
  Spread mtp_auto_decode_tok_s;
  double mtp_auto_speedup = 0;  // median over repeats of auto / plain speed (paired runs)
  int mtp_auto_speculating_runs = 0;  // repeats whose final choice was to draft
  MtpAutoReport mtp_auto_report;      // the last repeat's

  // With options.profile: wall time per phase over every repeat's prefill / decode steps.
  PhaseTimes prefill_phases, decode_phases;

  // Expert parallelism: every rank, rank 0 first (empty when the model runs alone).
  std::vector<RankBench> ranks;
};

// Runs the benchmark. Errors: prompt plus generation exceed the model's context.
Result<BenchResult> run_bench(const Model& model, const BenchOptions& options);

// Reads one byte of every page of the mapped weights so the first timed run does not pay for
// page faults (the other ranks' too, under expert parallelism). Returns the bytes walked.
size_t touch_weights(const Model& model);

}  // namespace dsv3
