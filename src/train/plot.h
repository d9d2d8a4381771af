// `dsv3 plot`: SVG charts of training metrics (metrics.jsonl written by `dsv3 train`): loss
// curves, learning rate, gradient norm, per-layer MaxVio, and a per-layer expert-load
// heatmap. Several runs can be drawn on the same axes (the balancing experiment).
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace dsv3::train {

// One run's metrics, column by column.
struct MetricsSeries {
  std::string label;                 // legend name
  std::vector<double> steps;         // x of every per-step column below
  std::vector<double> loss, main_loss, mtp_loss, lr, grad_norm;
  std::vector<int64_t> layers;       // MoE layer indices, in the order of the next two
  std::vector<std::vector<double>> max_vio;  // [layer][step]
  std::vector<std::vector<std::vector<double>>> load;  // [layer][step][expert]
  std::vector<double> eval_steps, eval_main_loss;      // validation points
  std::vector<double> eval_max_vio;  // MaxVio over the validation set, mean of the MoE layers
  std::vector<double> eval_mtp_loss;  // first MTP depth; NaN where not recorded
  std::vector<int64_t> eval_layers;   // MoE layer indices of the next rows' entries
  std::vector<std::vector<double>> eval_layer_max_vio;  // [eval][layer]; empty if not recorded
};

// Reads a metrics.jsonl file; the error names the line that does not parse.
Result<MetricsSeries> read_metrics(const std::string& path, const std::string& label);

struct Series {
  std::string name;
  std::vector<double> x, y;
  bool points = false;  // markers instead of a line
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool log_y = false;
};

std::string line_chart_svg(const LineChart& chart);

// Rows = experts, columns = steps (binned to at most `max_columns`), colour = load / mean
// load of the step (white 0, grey 1, red >= 2): one panel per MoE layer.
std::string load_heatmap_svg(const MetricsSeries& run, int max_columns = 240);

// A Markdown table with a row per run of its last validation record: step, loss, MTP loss,
// MaxVio over the validation set per MoE layer and their mean, and the mean batch MaxVio of
// the last tenth of training (mean of layers). Empty when no run has a validation record.
std::string validation_table_md(const std::vector<MetricsSeries>& runs);

// Writes loss.svg, lr.svg, grad_norm.svg, max_vio.svg and expert_load_<label>.svg into dir,
// and validation.md (validation_table_md) when a run has validation records; returns the
// paths written.
Result<std::vector<std::string>> write_plots(const std::vector<MetricsSeries>& runs,
                                             const std::string& dir, int heatmap_columns = 240);

}  // namespace dsv3::train
