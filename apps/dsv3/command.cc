#include "command.h"

#include <charconv>

#include "dist/communicator.h"
#include "kernels/kernels.h"
#include "parallel/expert_worker.h"
#include "util/check.h"

namespace dsv3::cli {

std::vector<int32_t> parse_token_list(const std::string& text, const std::string& flag) {
  std::vector<int32_t> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find(',', pos), text.size());
    int32_t v = 0;
    const char* first = text.data() + pos;
    const char* last = text.data() + end;
    auto [ptr, ec] = std::from_chars(first, last, v);
    if (first == last || ec != std::errc() || ptr != last || v < 0) {
      throw CommandError(flag + " '" + text + "': expected comma-separated non-negative token ids");
    }
    out.push_back(v);
    pos = end + 1;
  }
  return out;
}

void ModelFlags::add_to(CLI::App* cmd, bool model_required) {
  auto* opt = cmd->add_option("--model,-m", model_dir, "checkpoint directory (Hugging Face layout)");
  if (model_required) opt->required();
  cmd->add_option("--ctx,-c", context, "context length in tokens (KV cache and RoPE table size)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 24));
  cmd->add_flag("--mlock", mlock, "pin the mapped weights in RAM");
  cmd->add_option("--kv-type", kv_type,
                  "KV cache storage: f32, bf16 or f16 (half the memory), fp8 (e4m3, a quarter)")
      ->check(CLI::IsMember({"f32", "bf16", "f16", "fp8"}))
      ->capture_default_str();
  add_activations_flag(cmd, activations);
  add_placement_flags(cmd, placement);
}

void add_activations_flag(CLI::App* cmd, std::string& activations) {
  cmd->add_option("--activations", activations,
                  "q8/q4 weights: int8 activations with integer dot products (faster prefill) "
                  "or f32 activations (more accurate)")
      ->check(CLI::IsMember({"int8", "f32"}))
      ->capture_default_str();
}

void apply_activations(const std::string& activations) {
  kernels::set_matmul_options({.int8_activations = activations == "int8"});
}

namespace {

bool g_expert_parallel = false;
// Rank 0 of an expert-parallel job: whether its command loaded the model, which the expert
// ranks wait for.
bool g_front_end_loaded = false;
ExpertRankFlags g_expert_rank_flags;

// This rank's share of an expert-parallel job (a collective of every rank). Errors: the job's,
// known to every rank.
Result<parallel::RankModel> load_share(const ModelFlags& flags, bool with_mtp) {
  apply_activations(flags.activations);
  return parallel::load_rank_model(dist::world(), flags.model_dir, flags.options(with_mtp),
                                   flags.placement);
}

}  // namespace

void set_expert_parallel(bool on) { g_expert_parallel = on; }

void set_model_command_callback(CLI::App* cmd, const ModelFlags& model, std::function<void()> run,
                                const int* threads) {
  cmd->callback([&model, run = std::move(run), threads] {
    if (!g_expert_parallel) return run();
    const dist::Comm& world = dist::world();
    if (!world.is_root()) {
      g_expert_rank_flags = {.model = &model, .threads = threads};
      return;
    }
    run();
    // A command that ends without loading would leave the expert ranks waiting for it.
    if (!g_front_end_loaded) world.abort("the command ended without loading the model");
  });
}

const ExpertRankFlags& expert_rank_flags() { return g_expert_rank_flags; }

int run_expert_rank(const ExpertRankFlags& flags) {
  DSV3_CHECK(flags.model != nullptr, "no model command was parsed on this expert rank");
  if (flags.threads && *flags.threads > 0) kernels::set_num_threads(*flags.threads);
  // Whether to load the MTP layers is rank 0's choice: load_rank_model shares it.
  auto share = load_share(*flags.model, /*with_mtp=*/true);
  if (!share.ok()) return 1;  // rank 0 prints the job's error
  parallel::serve_experts(dist::world(), *share->model, share->placement);
  return 0;
}

void add_placement_flags(CLI::App* cmd, parallel::PlacementOptions& placement) {
  cmd->add_option("--expert-load", placement.expert_load_path,
                  "under mpirun: measured tokens per expert (JSON, as bench --save-expert-load "
                  "writes) to balance the experts over the ranks")
      ->group("Expert parallelism");
  cmd->add_option("--redundant-experts", placement.redundant_experts,
                  "under mpirun: second copies of the N hottest experts of each MoE layer")
      ->check(CLI::Range(0, 1 << 16))
      ->group("Expert parallelism");
}

std::unique_ptr<Model> ModelFlags::load(bool with_mtp) const {
  const dist::Comm& world = dist::world();
  if (!world.distributed() || !g_expert_parallel) {
    apply_activations(activations);
    return unwrap(Model::load(model_dir, options(with_mtp)));
  }
  // The expert ranks join one load_rank_model, from run_expert_rank.
  DSV3_CHECK(world.is_root(), "an expert rank loads its share in run_expert_rank");
  DSV3_CHECK(!g_front_end_loaded, "rank 0 loads the model once per job");
  g_front_end_loaded = true;
  auto loaded = load_share(*this, with_mtp);
  if (!loaded.ok()) throw JobError(loaded.error().message);
  return std::move(loaded->model);
}

ModelOptions ModelFlags::options(bool with_mtp) const {
  return ModelOptions{.max_positions = context, .load_mtp = with_mtp, .mlock = mlock,
                      .kv_format = format_from_name(kv_type).value_or(WeightFormat::kF32)};
}

}  // namespace dsv3::cli
