// dsv3 bench: prefill and decode speed, bytes read per decoded token, and decode speed as a
// share of the memory-bandwidth roofline.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "command.h"
#include "engine/bench.h"
#include "engine/bench_text.h"
#include "engine/text_model.h"
#include "kernels/kernels.h"
#include "text_flags.h"
#include "util/atomic_file.h"

namespace dsv3::cli {

namespace {

struct BenchFlags {
  ModelFlags model;
  BenchOptions options;
  int64_t probe_mib = 1024;
  bool json = false;
  std::string mtp = "on";
  int draft = 1;
  std::string save_expert_load;
  std::string prompt_file, tokenizer_dir;
  bool random_prompt = false;
};

nlohmann::ordered_json ranks_json(const BenchResult& r) {
  nlohmann::ordered_json ranks = nlohmann::ordered_json::array();
  for (const RankBench& b : r.ranks) {
    ranks.push_back({{"rank", b.memory.rank},
                     {"experts", b.memory.experts},
                     {"weight_bytes", b.memory.weight_bytes},
                     {"resident_bytes", b.memory.resident_bytes},
                     {"bytes_sent_per_token", b.sent_per_token},
                     {"bytes_received_per_token", b.received_per_token},
                     {"prefill_bytes_sent_per_token", b.prefill_sent_per_token}});
  }
  return ranks;
}

// Everything on the wire per decoded token (each byte is sent by one rank).
double network_bytes_per_token(const BenchResult& r) {
  double total = 0;
  for (const RankBench& b : r.ranks) total += b.sent_per_token;
  return total;
}

void print_ranks(const BenchResult& r) {
  if (r.ranks.empty()) return;
  const double mb = 1e6;
  std::printf("ranks          %zu (expert parallelism); network %.3f MB per decoded token\n",
              r.ranks.size(), network_bytes_per_token(r) / mb);
  std::printf("%-6s %8s %14s %14s %16s %16s\n", "rank", "experts", "weights MB", "resident MB",
              "sent B/token", "received B/token");
  for (const RankBench& b : r.ranks) {
    std::printf("%-6d %8ld %14.1f %14.1f %16.0f %16.0f\n", b.memory.rank, long(b.memory.experts),
                double(b.memory.weight_bytes) / mb, double(b.memory.resident_bytes) / mb,
                b.sent_per_token, b.received_per_token);
  }
}

void print_json(const BenchResult& r, const ModelFlags& m, const std::string& weights,
                const std::string& prompt, const BenchOptions& o) {
  const DecodeBytes& b = r.bytes_per_token;
  nlohmann::ordered_json j;
  j["model"] = m.model_dir;
  j["weights"] = weights;
  j["kv_type"] = m.kv_type;
  j["activations"] = m.activations;
  j["threads"] = r.threads;
  j["prompt"] = prompt;
  j["prompt_tokens"] = r.prompt_tokens;
  j["gen_tokens"] = r.gen_tokens;
  j["repeats"] = r.repeats;
  j["prefill_tok_s"] = r.prefill_tok_s.median;
  j["prefill_tok_s_min"] = r.prefill_tok_s.min;
  j["prefill_tok_s_max"] = r.prefill_tok_s.max;
  j["decode_tok_s"] = r.decode_tok_s.median;
  j["decode_tok_s_min"] = r.decode_tok_s.min;
  j["decode_tok_s_max"] = r.decode_tok_s.max;
  j["bytes_per_token"] = b.total();
  j["bytes_per_token_detail"] = {{"embedding", b.embedding},
                                 {"attention", b.attention},
                                 {"dense_ffn", b.dense_ffn},
                                 {"router", b.router},
                                 {"shared_experts", b.shared_experts},
                                 {"routed_experts", b.routed_experts},
                                 {"head", b.head},
                                 {"kv_cache", b.kv_cache}};
  j["experts_per_moe_layer"] = r.experts_per_moe_layer;
  j["bandwidth_gb_s"] = r.bandwidth_bytes_s / 1e9;
  j["bandwidth_probe_bytes"] = o.probe.bytes;
  j["roofline_tok_s"] = r.roofline_tok_s;
  j["roofline_pct"] = r.roofline_pct;
  if (!r.ranks.empty()) {
    j["network_bytes_per_token"] = network_bytes_per_token(r);
    j["ranks"] = ranks_json(r);
  }
  j["mtp"] = r.mtp;
  if (r.mtp) {
    j["mtp_acceptance"] = r.mtp_acceptance;
    j["tokens_per_forward"] = r.tokens_per_forward;
    j["mtp_decode_tok_s"] = r.mtp_decode_tok_s.median;
    j["mtp_plain_decode_tok_s"] = r.mtp_plain_decode_tok_s.median;
    j["mtp_speedup"] = r.mtp_speedup;
    j["mtp_allowed_speedup"] = r.mtp_allowed_speedup;
    j["t1_ms"] = r.t1_ms;
    j["t2_ms"] = r.t2_ms;
    if (r.mtp_auto) {
      j["mtp_auto_decode_tok_s"] = r.mtp_auto_decode_tok_s.median;
      j["mtp_auto_speedup"] = r.mtp_auto_speedup;
      j["mtp_auto_speculating_runs"] = r.mtp_auto_speculating_runs;
      j["mtp_auto_choice"] = r.mtp_auto_report.speculating ? "on" : "off";
      j["mtp_auto_measured_speedup"] = r.mtp_auto_report.speedup;
    }
  }
  if (o.profile) {
    // Milliseconds per token of each phase, slowest first.
    auto phases = [](const PhaseTimes& t, double tokens) {
      nlohmann::ordered_json p;
      for (const auto& [name, seconds] : t.sorted()) p[name] = 1e3 * seconds / tokens;
      return p;
    };
    j["profile_ms_per_token"] = {
        {"prefill", phases(r.prefill_phases, double(r.prompt_tokens) * r.repeats)},
        {"decode", phases(r.decode_phases, double(r.gen_tokens) * r.repeats)}};
  }
  std::printf("%s\n", j.dump().c_str());
}

// Where the time of a measured phase went (--profile), next to the measured speed: the gap
// between the two is what no phase covers (argmax, sampling, the loop itself).
void print_profile(const char* name, const PhaseTimes& t, double tokens, double tok_s) {
  std::printf("%s profile: %.3f ms/token measured, %.3f in these phases\n%s", name,
              tok_s > 0 ? 1e3 / tok_s : 0.0, 1e3 * t.total_seconds() / tokens,
              t.report(tokens, "token").c_str());
}

void print_table(const BenchResult& r, const ModelFlags& m, const std::string& weights,
                 const std::string& prompt, const BenchOptions& o) {
  const DecodeBytes& b = r.bytes_per_token;
  const double mb = 1e6;
  std::printf("model          %s\n", m.model_dir.c_str());
  std::printf("weights        %s; KV cache %s; q8/q4 activations %s\n", weights.c_str(),
              m.kv_type.c_str(), m.activations.c_str());
  std::printf("threads        %d\n", r.threads);
  std::printf("prompt         %s\n", prompt.c_str());
  std::printf("%-14s %8s %12s %12s %12s\n", "", "tokens", "tok/s", "min", "max");
  if (o.synthetic_context) {
    std::printf("%-14s %8ld %38s\n", "context", long(r.prompt_tokens),
                "random cache entries, not prefilled");
  } else {
    std::printf("%-14s %8ld %12.2f %12.2f %12.2f\n", "prefill", long(r.prompt_tokens),
                r.prefill_tok_s.median, r.prefill_tok_s.min, r.prefill_tok_s.max);
  }
  std::printf("%-14s %8ld %12.2f %12.2f %12.2f\n", "decode", long(r.gen_tokens),
              r.decode_tok_s.median, r.decode_tok_s.min, r.decode_tok_s.max);
  std::printf("(median of %d repeats)\n", r.repeats);
  std::printf("bytes/token    %.1f MB: attention %.1f, dense FFN %.1f, router %.1f, shared %.1f, "
              "routed experts %.1f (%.1f per MoE layer), head %.1f, embedding %.3f, KV cache "
              "%.2f\n",
              b.total() / mb, b.attention / mb, b.dense_ffn / mb, b.router / mb,
              b.shared_experts / mb, b.routed_experts / mb, r.experts_per_moe_layer, b.head / mb,
              b.embedding / mb, b.kv_cache / mb);
  if (r.mtp) {
    std::printf("MTP decode     %.2f tok/s (min %.2f, max %.2f) against %.2f without drafts (the "
                "same loop, run by turns), speedup %.2fx; acceptance",
                r.mtp_decode_tok_s.median, r.mtp_decode_tok_s.min, r.mtp_decode_tok_s.max,
                r.mtp_plain_decode_tok_s.median, r.mtp_speedup);
    for (double a : r.mtp_acceptance) std::printf(" %.1f%%", 100 * a);
    std::printf(", %.2f tokens per main forward\n", r.tokens_per_forward);
    std::printf("MTP bound      %.2fx allowed (t1 %.2f ms one-token forward, t2 %.2f ms verify + "
                "draft); reached %.0f%% of it\n",
                r.mtp_allowed_speedup, r.t1_ms, r.t2_ms,
                r.mtp_allowed_speedup > 0 ? 100 * r.mtp_speedup / r.mtp_allowed_speedup : 0.0);
  }
  if (r.mtp_auto) {
    std::printf("MTP auto       %.2f tok/s (min %.2f, max %.2f), %.2fx plain (run by turns); "
                "drafting chosen in %d of %d runs; last run: %s\n",
                r.mtp_auto_decode_tok_s.median, r.mtp_auto_decode_tok_s.min,
                r.mtp_auto_decode_tok_s.max, r.mtp_auto_speedup, r.mtp_auto_speculating_runs,
                r.repeats, mtp_auto_summary(r.mtp_auto_report).c_str());
  }
  print_ranks(r);
  if (o.profile) {
    print_profile("prefill", r.prefill_phases, double(r.prompt_tokens) * r.repeats,
                  r.prefill_tok_s.median);
    print_profile("decode", r.decode_phases, double(r.gen_tokens) * r.repeats,
                  r.decode_tok_s.median);
  }
  if (o.probe.bytes == 0) {
    std::printf("bandwidth      not measured (--probe-mib 0)\n");
    return;
  }
  std::printf("bandwidth      %.1f GB/s (read probe, %d threads, %zu MiB, best of %d)\n",
              r.bandwidth_bytes_s / 1e9, std::max(1, r.threads), o.probe.bytes >> 20,
              o.probe.runs);
  std::printf("roofline       %.2f tok/s; decode reaches %.1f%%\n", r.roofline_tok_s,
              r.roofline_pct);
}

// English text where the model has a tokenizer (--prompt-file, else a built-in passage),
// random token ids otherwise or with --random-prompt. Returns what the prompt is, for the
// report.
std::string choose_prompt(BenchFlags& flags, const ModelConfig& c) {
  const std::string dir = flags.tokenizer_dir.empty() ? flags.model.model_dir : flags.tokenizer_dir;
  const bool has_tokenizer = std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json");
  if (flags.random_prompt || (!has_tokenizer && flags.prompt_file.empty())) return "random";
  const Tokenizer tok = unwrap(load_tokenizer(dir));
  std::string text(bench_passage());
  if (!flags.prompt_file.empty()) {
    std::ifstream in(flags.prompt_file, std::ios::binary);
    if (!in) throw CommandError("cannot read " + flags.prompt_file);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  flags.options.prompt = unwrap(tok.encode_checked(text, /*add_bos=*/true));
  if (flags.options.prompt.empty()) throw CommandError("the prompt text is empty");
  unwrap(check_tokens(c, flags.options.prompt));
  return flags.prompt_file.empty() ? "text (built-in passage)" : "text (" + flags.prompt_file + ")";
}

void run(BenchFlags& flags) {
  BenchOptions& o = flags.options;
  o.probe.bytes = size_t(flags.probe_mib) << 20;
  kernels::set_num_threads(o.threads);
  o.threads = kernels::num_threads();
  flags.model.context = std::max(flags.model.context, o.prompt_tokens + o.gen_tokens + 9);
  o.mtp_draft = flags.mtp != "off" ? flags.draft : 0;
  o.mtp_auto = flags.mtp == "auto";
  auto model = flags.model.load(/*with_mtp=*/o.mtp_draft > 0);
  const std::string prompt_kind = choose_prompt(flags, model->config());
  touch_weights(*model);
  const BenchResult r = unwrap(run_bench(*model, o));
  if (!flags.save_expert_load.empty()) {
    unwrap(write_file_atomically(flags.save_expert_load, expert_load_json(r.expert_load)));
  }
  const std::string& weights = model->weights().format_summary;
  if (flags.json) {
    print_json(r, flags.model, weights, prompt_kind, o);
  } else {
    print_table(r, flags.model, weights, prompt_kind, o);
  }
}

}  // namespace

void add_bench_command(CLI::App& root) {
  auto flags = std::make_shared<BenchFlags>();
  flags->options.threads = int(std::max(1u, std::thread::hardware_concurrency()));
  CLI::App* cmd = root.add_subcommand(
      "bench", "prefill/decode speed, bytes per token and the memory-bandwidth roofline");
  flags->model.add_to(cmd);
  BenchOptions& o = flags->options;
  cmd->add_option("-p,--prompt", o.prompt_tokens, "prefill length in tokens")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  cmd->add_option("-n,--gen", o.gen_tokens, "decode steps")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  cmd->add_option("-t,--threads", o.threads,
                  "threads of the kernels and the probe (default: every core)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--repeats,-r", o.repeats, "runs; the median is reported with min/max")
      ->check(CLI::Range(1, 10000));
  cmd->add_option("--seed", o.seed, "seed of the random prompt");
  cmd->add_option("--prompt-file", flags->prompt_file,
                  "text whose tokens (repeated to -p) are the prompt (default: a built-in "
                  "English passage when the model has a tokenizer)");
  cmd->add_option("--tokenizer", flags->tokenizer_dir,
                  "directory with tokenizer.json (default: --model)");
  cmd->add_flag("--synthetic-context", o.synthetic_context,
                "fill the KV cache with -p random entries instead of a prefill: decode speed at "
                "a depth whose prompt would take too long (no prefill figure, no MTP run)");
  cmd->add_flag("--random-prompt", flags->random_prompt,
                "random token ids as the prompt even when the model has a tokenizer");
  cmd->add_option("--probe-mib", flags->probe_mib,
                  "bandwidth probe buffer in MiB (0: skip the probe)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  cmd->add_flag("--json", flags->json, "print one JSON object");
  cmd->add_option("--mtp", flags->mtp,
                  "also decode with MTP speculation when the model has an MTP layer; auto: "
                  "with --mtp auto's choice too, all three by turns")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  cmd->add_option("--draft", flags->draft, "MTP drafts per step")->check(CLI::Range(1, 8));
  cmd->add_flag("--profile", flags->options.profile,
                "also print the time per phase (attention, experts, head, ...) of prefill and "
                "decode (JSON: profile_ms_per_token)");
  cmd->add_option("--save-expert-load", flags->save_expert_load,
                  "write the decoded tokens per routed expert (JSON) for --expert-load");
  set_model_command_callback(cmd, flags->model, [flags] { run(*flags); }, &o.threads);
}

}  // namespace dsv3::cli
