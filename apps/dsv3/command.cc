#include "command.h"

#include <charconv>

#include "dist/communicator.h"
#include "kernels/kernels.h"
#include "parallel/expert_worker.h"

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
}  // namespace

void set_expert_parallel(bool on) { g_expert_parallel = on; }

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
  apply_activations(activations);
  const ModelOptions o = options(with_mtp);
  const dist::Comm& world = dist::world();
  if (!world.distributed() || !g_expert_parallel) return unwrap(Model::load(model_dir, o));
  auto loaded = parallel::load_rank_model(world, model_dir, o, placement);
  if (!loaded.ok()) throw JobError(loaded.error().message);
  if (world.is_root()) return std::move(loaded->model);
  parallel::serve_experts(world, *loaded->model, loaded->placement);
  throw ExpertRankFinished{};
}

ModelOptions ModelFlags::options(bool with_mtp) const {
  return ModelOptions{.max_positions = context, .load_mtp = with_mtp, .mlock = mlock,
                      .kv_format = format_from_name(kv_type).value_or(WeightFormat::kF32)};
}

}  // namespace dsv3::cli
