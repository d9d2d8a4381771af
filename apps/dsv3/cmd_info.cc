// dsv3 info: what a checkpoint is and what running it costs.
#include <cstdio>

#include "command.h"
#include "model/weights.h"

namespace dsv3::cli {

namespace {

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

void run(const ModelFlags& flags) {
  auto model = flags.load(/*with_mtp=*/true);
  const ModelConfig& c = model->config();
  const ParameterCounts p = count_parameters(c);
  const double weight_bytes = double(model->checkpoint().total_bytes());
  const int64_t kv_per_token = c.num_hidden_layers * c.kv_cache_width() * int64_t(sizeof(float));
  const double kv_total = double(kv_per_token) * double(flags.context);
  std::printf("%s", describe(c).c_str());
  std::printf("stored formats        %s\n", model->weights().format_summary.c_str());
  std::printf("parameters            %s total (%s in MTP), %s active per token\n",
              human_count(double(p.total)).c_str(), human_count(double(p.mtp)).c_str(),
              human_count(double(p.active_per_token)).c_str());
  std::printf("KV cache              %ld values per token per layer (%ld bytes per token, f32)\n",
              long(c.kv_cache_width()), long(kv_per_token));
  std::printf("checkpoint bytes      %s (mapped, not copied)\n", human_bytes(weight_bytes).c_str());
  std::printf("memory to run         %s = weights %s + KV cache %s for %ld tokens\n",
              human_bytes(weight_bytes + kv_total).c_str(), human_bytes(weight_bytes).c_str(),
              human_bytes(kv_total).c_str(), long(flags.context));
}

}  // namespace

void add_info_command(CLI::App& root) {
  auto flags = std::make_shared<ModelFlags>();
  CLI::App* cmd = root.add_subcommand("info", "print a checkpoint's config, sizes and memory needs");
  flags->add_to(cmd);
  cmd->callback([flags] { run(*flags); });
}

}  // namespace dsv3::cli
