// dsv3 synth: a random-weight checkpoint of a named or given shape, in the real layout.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "command.h"
#include "model/presets.h"
#include "model/synth.h"

namespace dsv3::cli {

namespace {

struct SynthFlags {
  std::string config_file;
  std::string preset;
  std::string out_dir;
  std::string dtype;  // empty: as the config says (fp8 if it has a quantization_config)
  uint64_t seed = 0;
  int64_t layers = 0;
  int64_t shard_mb = 1024;
  int threads = 0;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw CommandError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void run(const SynthFlags& flags) {
  SynthOptions options;
  options.out_dir = flags.out_dir;
  options.seed = flags.seed;
  options.layers = flags.layers;
  options.max_shard_bytes = uint64_t(flags.shard_mb) << 20;
  options.threads = flags.threads;
  if (!flags.dtype.empty()) options.dtype = unwrap(parse_synth_dtype(flags.dtype));
  std::string text, origin;
  if (!flags.preset.empty()) {
    text = unwrap(preset_config_json(flags.preset));
    origin = "preset '" + flags.preset + "'";
  } else {
    text = read_text(flags.config_file);
    origin = flags.config_file;
  }
  const auto start = std::chrono::steady_clock::now();
  const SynthSummary s = unwrap(synthesize_checkpoint(text, origin, options));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("wrote %s: %s weights, %.3f B parameters in %ld tensors, %.2f GiB in %ld shard%s "
              "(%.1f s)\n",
              flags.out_dir.c_str(), s.config.fp8_block_quantized ? "fp8" : "bf16",
              double(s.parameters) / 1e9, long(s.tensors), double(s.bytes) / double(1 << 30),
              long(s.shards), s.shards == 1 ? "" : "s", seconds);
}

}  // namespace

void add_synth_command(CLI::App& root) {
  auto flags = std::make_shared<SynthFlags>();
  CLI::App* cmd = root.add_subcommand(
      "synth", "write a random-weight checkpoint (config, sharded safetensors, index)");
  std::string presets;
  for (const auto& p : list_presets()) presets += "\n  " + p.name + ": " + p.description;
  auto* config = cmd->add_option("--config", flags->config_file, "config.json to follow");
  auto* preset = cmd->add_option("--preset", flags->preset, "named shape:" + presets);
  config->excludes(preset);
  preset->excludes(config);
  cmd->add_option("--out,-o", flags->out_dir, "output directory (created if needed)")->required();
  cmd->add_option("--dtype", flags->dtype,
                  "bf16 or fp8 (e4m3, 128x128 block scales); default: fp8 if the config has a "
                  "quantization_config, else bf16");
  cmd->add_option("--seed", flags->seed, "random seed (same seed, same bytes)");
  cmd->add_option("--layers", flags->layers, "override num_hidden_layers")
      ->check(CLI::Range(int64_t(1), int64_t(1000)));
  cmd->add_option("--shard-size", flags->shard_mb, "shard size in MB (MiB)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  cmd->add_option("--threads,-t", flags->threads, "generator threads (0: every core)")
      ->check(CLI::Range(0, 1024));
  cmd->callback([flags] {
    if (flags->config_file.empty() && flags->preset.empty()) {
      throw CommandError("synth: give --config FILE or --preset NAME");
    }
    run(*flags);
  });
}

}  // namespace dsv3::cli
