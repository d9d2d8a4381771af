// dsv3 plot: SVG charts of one or more training runs' metrics.jsonl (loss, learning rate,
// gradient norm, MaxVio, expert-load heatmaps).
#include <cstdio>
#include <filesystem>

#include "command.h"
#include "train/plot.h"

namespace dsv3::cli {

namespace {

struct PlotFlags {
  std::vector<std::string> metrics, labels;
  std::string out;
  int heatmap_columns = 240;
};

void run(const PlotFlags& f) {
  if (!f.labels.empty() && f.labels.size() != f.metrics.size()) {
    throw CommandError("give one --label per --metrics file (or none)");
  }
  std::vector<train::MetricsSeries> runs;
  for (size_t i = 0; i < f.metrics.size(); ++i) {
    std::string label = i < f.labels.size() ? f.labels[i] : "";
    if (label.empty()) {  // the run directory's name
      const std::filesystem::path p = std::filesystem::absolute(f.metrics[i]);
      label = p.parent_path().filename().string();
    }
    runs.push_back(unwrap(train::read_metrics(f.metrics[i], label)));
  }
  for (const std::string& path : unwrap(train::write_plots(runs, f.out, f.heatmap_columns))) {
    std::printf("%s\n", path.c_str());
  }
}

}  // namespace

void add_plot_command(CLI::App& root) {
  auto f = std::make_shared<PlotFlags>();
  CLI::App* cmd = root.add_subcommand(
      "plot", "draw SVG charts of training metrics (loss, lr, grad norm, MaxVio, expert load)");
  cmd->add_option("--metrics,-m", f->metrics, "metrics.jsonl of a run (repeat to compare runs)")
      ->required();
  cmd->add_option("--label", f->labels, "legend name of each run (default: its directory)");
  cmd->add_option("--out,-o", f->out, "directory for the SVG files")->required();
  cmd->add_option("--heatmap-columns", f->heatmap_columns,
                  "steps are binned into at most N columns of the expert-load heatmaps "
                  "(fewer: smaller files)")
      ->check(CLI::Range(1, 100000));
  cmd->callback([f] { run(*f); });
}

}  // namespace dsv3::cli
