// dsv3 quantize: rewrites a checkpoint's weights in another stored format (model/requantize.h).
#include "command.h"
#include "model/requantize.h"

namespace dsv3::cli {

namespace {

struct QuantizeFlags {
  std::string model_dir, to = "q8", out_dir;
  int64_t shard_mb = 4096;
  bool experts_only = false;
};

void run(const QuantizeFlags& f) {
  const std::optional<WeightFormat> to = format_from_name(f.to);
  if (!to || (*to != WeightFormat::kBF16 && !is_quantized(*to))) {
    throw CommandError("--to " + f.to + " is not a target format (expected bf16, q8 or q4)");
  }
  const RequantizeSummary s = unwrap(requantize_checkpoint(
      {.in_dir = f.model_dir, .out_dir = f.out_dir, .to = *to, .experts_only = f.experts_only,
       .max_shard_bytes = uint64_t(f.shard_mb) << 20}));
  std::printf("wrote %s: %lld tensors (%lld as %s, %lld kept), %.1f MB in %lld shard(s)\n",
              f.out_dir.c_str(), (long long)s.tensors, (long long)s.converted, f.to.c_str(),
              (long long)s.kept, double(s.bytes) / 1e6, (long long)s.shards);
}

}  // namespace

void add_quantize_command(CLI::App& root) {
  auto f = std::make_shared<QuantizeFlags>();
  CLI::App* cmd = root.add_subcommand("quantize", "rewrite a checkpoint's weights in another format");
  cmd->add_option("--model,-m", f->model_dir, "source checkpoint directory")->required();
  cmd->add_option("--to", f->to,
                  "target format: q8 (8.5 bits/weight), q4 (5 bits/weight) or bf16")
      ->capture_default_str();
  cmd->add_option("--out,-o", f->out_dir, "new checkpoint directory (must be empty or absent)")
      ->required();
  cmd->add_flag("--experts-only", f->experts_only,
                "q8/q4: quantize only the routed experts; attention, dense and shared MLPs, "
                "embeddings and head keep their stored format (FP8 stays FP8)");
  cmd->add_option("--shard-mb", f->shard_mb, "shard size in MiB")->check(CLI::Range(1, 1 << 20));
  cmd->callback([f] { run(*f); });
}

}  // namespace dsv3::cli
