// dsv3 info: what a checkpoint is and what running it costs; with --ranks, what each rank of
// an expert-parallel job would hold (planning, no mpirun needed), also from a config alone.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "command.h"
#include "model/gguf_model.h"
#include "model/memory_plan.h"
#include "model/presets.h"
#include "model/synth.h"
#include "model/weights.h"

namespace dsv3::cli {

namespace {

struct InfoFlags {
  ModelFlags model;
  std::string preset, config_path, dtype;
  int ranks = 0;
  bool fields = false;  // also every config.json field, one per line
};

void print_config(const ModelConfig& c, const InfoFlags& f) {
  std::printf("%s", describe(c).c_str());
  if (f.fields) std::printf("config.json fields:\n%s", describe_fields(c).c_str());
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %s", b, units[u]);
  return buf;
}

std::string human_count(double n) {
  char buf[64];
  if (n >= 1e9) std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
  else if (n >= 1e6) std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
  else std::snprintf(buf, sizeof buf, "%.0f", n);
  return buf;
}

void print_parameters(const ModelConfig& c) {
  const ParameterCounts p = count_parameters(c);
  std::printf("parameters            %s total (%s in MTP), %s active per token\n",
              human_count(double(p.total)).c_str(), human_count(double(p.mtp)).c_str(),
              human_count(double(p.active_per_token)).c_str());
}

// Per-rank memory of an expert-parallel job over `ranks` ranks.
void print_rank_plan(const ModelConfig& c, std::span<const TensorBytes> tensors, int ranks,
                     const ModelFlags& flags) {
  const ExpertPlacement placement = unwrap(parallel::plan_placement(c, ranks, flags.placement));
  ExpertLoad load;
  if (!flags.placement.expert_load_path.empty()) {
    load = unwrap(read_expert_load(flags.placement.expert_load_path, c));
  }
  const int64_t kv_value_bytes =
      format_row_bytes(format_from_name(flags.kv_type).value_or(WeightFormat::kF32), 1);
  const auto plan = plan_rank_memory(c, placement, tensors, flags.context, load, kv_value_bytes);
  const bool balanced = !flags.placement.expert_load_path.empty() || flags.placement.redundant_experts > 0;
  std::printf("expert parallelism    %d ranks, %s placement, %d redundant expert copies per MoE "
              "layer; KV cache for %ld tokens on rank 0\n",
              ranks, balanced ? "balanced" : "contiguous", flags.placement.redundant_experts,
              long(flags.context));
  std::printf("%-6s %8s %8s %14s %14s %14s %14s\n", "rank", "experts", "load", "experts",
              "dense part", "KV cache", "total");
  for (const RankPlan& r : plan) {
    std::printf("%-6d %8ld %7.1f%% %14s %14s %14s %14s\n", r.rank, long(r.experts),
                100 * r.load_share, human_bytes(r.expert_bytes).c_str(),
                human_bytes(r.dense_bytes).c_str(), human_bytes(r.kv_bytes).c_str(),
                human_bytes(r.total()).c_str());
  }
  const TrafficEstimate t = estimate_traffic(c, placement);
  std::printf("network per token     %s expected per decoded token (uniform routing: %.2f expert "
              "ranks reached per MoE layer, hidden state out and partial sum back, f32)\n",
              human_bytes(t.bytes_per_token).c_str(), t.ranks_per_layer);
}

// What a GGUF file holds as stored, and how each of its types is held in memory.
void print_gguf_summary(const std::string& path) {
  const GgufModelFiles files = unwrap(GgufModelFiles::open(path));
  std::map<std::string, int> types;
  // (type, how it is held) -> tensors, resident bytes
  std::map<std::pair<std::string, std::string>, std::pair<int, int64_t>> held;
  int64_t resident = 0;
  for (const auto& [name, t] : files.tensors()) {
    const std::string type(ggml_type_name(t.type));
    ++types[type];
    const GgufResidency r = gguf_residency(t);
    std::string how(gguf_holding_name(r.how));
    if (r.how == GgufHolding::kKeptQuantized) how += " (" + std::string(format_name(r.format)) + ")";
    auto& [count, bytes] = held[{type, how}];
    ++count;
    bytes += r.bytes;
    resident += r.bytes;
  }
  std::string list;
  for (const auto& [name, n] : types) list += (list.empty() ? "" : ", ") + name + " (" + std::to_string(n) + ")";
  std::printf("GGUF                  %s: %zu part(s), %zu tensors, %s on disk; types %s\n",
              path.c_str(), files.num_parts(), files.tensors().size(),
              human_bytes(double(files.total_bytes())).c_str(), list.c_str());
  std::printf("GGUF loading          F32/F16/BF16 mapped, Q8_0 matrices repacked into q8, Q2_K/Q3_K/"
              "Q4_K/Q5_K/Q6_K/IQ4_XS/IQ2_XXS/IQ1_S matrices kept quantized (q2_k/q3_k/q4_k/q5_k/"
              "q6_k/iq4_xs/iq2_xxs/iq1_s), other types decoded to f32 at load\n");
  for (const auto& [key, value] : held) {
    std::printf("GGUF held             %-8s %4d tensors %s, %s resident\n", key.first.c_str(),
                value.first, key.second.c_str(), human_bytes(double(value.second)).c_str());
  }
  std::printf("GGUF resident         %s\n", human_bytes(double(resident)).c_str());
}

void run_checkpoint(const InfoFlags& f) {
  // Not ModelFlags::load: info plans, it never joins an expert-parallel job.
  const ModelFlags& flags = f.model;
  auto model = unwrap(Model::load(flags.model_dir, flags.options(/*with_mtp=*/true)));
  const ModelConfig& c = model->config();
  const double weight_bytes = double(model->checkpoint().total_bytes());
  // The main model's cache as the engine allocates it: latent rows in --kv-type, plus the
  // lightning indexer's FP8 keys and scales for V3.2.
  const KvCache one_token = model->new_cache(1);
  const int64_t kv_per_token = one_token.bytes_per_token();
  const double kv_total = double(kv_per_token) * double(flags.context);
  print_config(c, f);
  if (is_gguf_path(flags.model_dir)) print_gguf_summary(flags.model_dir);
  std::printf("stored formats        %s\n", model->weights().format_summary.c_str());
  print_parameters(c);
  std::printf("KV cache              %ld values per token per layer (%ld bytes per token, %s)\n",
              long(c.kv_cache_width()), long(kv_per_token),
              std::string(format_name(one_token.format())).c_str());
  if (c.has_indexer()) {
    std::printf("indexer key cache     %ld FP8 codes + a float32 scale per token per layer"
                " (included above)\n",
                long(c.index_head_dim));
  }
  std::printf("checkpoint bytes      %s (%s)\n", human_bytes(weight_bytes).c_str(),
              is_gguf_path(flags.model_dir) ? "GGUF: F32/F16/BF16 mapped, the rest repacked or decoded"
                                            : "mapped, not copied");
  std::printf("memory to run         %s = weights %s + KV cache %s for %ld tokens\n",
              human_bytes(weight_bytes + kv_total).c_str(), human_bytes(weight_bytes).c_str(),
              human_bytes(kv_total).c_str(), long(flags.context));
  if (f.ranks == 0) return;
  std::vector<TensorBytes> tensors;
  for (const auto& [name, t] : model->checkpoint().tensors()) tensors.push_back({name, t.nbytes});
  print_rank_plan(c, tensors, f.ranks, flags);
}

// A config without weights: the tensors are those `dsv3 synth` would write for it.
void run_config(const InfoFlags& f) {
  ModelConfig c;
  std::string origin;
  if (!f.preset.empty()) {
    c = unwrap(preset_config(f.preset));
    origin = "preset " + f.preset;
  } else {
    std::ifstream in(f.config_path);
    if (!in) throw CommandError("cannot read " + f.config_path);
    std::stringstream text;
    text << in.rdbuf();
    c = unwrap(parse_model_config(text.str(), f.config_path));
    origin = f.config_path;
  }
  if (!f.dtype.empty()) c.fp8_block_quantized = unwrap(parse_synth_dtype(f.dtype)) == SynthDType::kFP8;
  std::vector<TensorBytes> tensors;
  double total = 0;
  for (const SynthTensor& t : synth_tensors(c)) {
    tensors.push_back({t.spec.name, t.spec.bytes()});
    total += double(t.spec.bytes());
  }
  print_config(c, f);
  std::printf("planned from          %s, weights %s (%s)\n", origin.c_str(),
              c.fp8_block_quantized ? "FP8 e4m3 with 128x128 block scales as released" : "BF16",
              human_bytes(total).c_str());
  print_parameters(c);
  if (f.ranks > 0) print_rank_plan(c, tensors, f.ranks, f.model);
}

}  // namespace

void add_info_command(CLI::App& root) {
  auto f = std::make_shared<InfoFlags>();
  CLI::App* cmd = root.add_subcommand("info", "print a checkpoint's config, sizes and memory needs");
  f->model.add_to(cmd, /*model_required=*/false);
  cmd->add_option("--ranks", f->ranks,
                  "plan an expert-parallel job of this many ranks: memory per rank, traffic")
      ->check(CLI::Range(1, 1 << 16));
  auto* preset = cmd->add_option("--preset", f->preset,
                                 "plan from a named config instead of a checkpoint (v3-671b, ...)");
  auto* config = cmd->add_option("--config", f->config_path,
                                 "plan from a config.json instead of a checkpoint");
  cmd->add_option("--dtype", f->dtype, "with --preset/--config: bf16 or fp8 weights");
  cmd->add_flag("--fields", f->fields,
                "also list every config.json field: key, value and what it means");
  preset->excludes(config);
  cmd->callback([f, preset, config] {
    const bool from_config = *preset || *config;
    if (from_config == !f->model.model_dir.empty()) {
      throw CommandError("pass exactly one of --model DIR, --preset NAME or --config FILE");
    }
    if (from_config) return run_config(*f);
    run_checkpoint(*f);
  });
}

}  // namespace dsv3::cli
