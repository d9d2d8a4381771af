#include "train/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "util/atomic_file.h"

namespace dsv3::train {

namespace {

using nlohmann::json;

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      default: out += ch;
    }
  }
  return out;
}

// About `count` round tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int count) {
  const double span = hi - lo;
  if (!(span > 0)) return {lo};
  const double raw = span / count, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 1.5 ? mag : raw / mag < 3 ? 2 * mag : raw / mag < 7 ? 5 * mag : 10 * mag;
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) t.push_back(v);
  return t;
}

std::string tick_label(double v) {
  const double a = std::abs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e5)) return fmt("%.0e", v);
  return fmt("%g", std::round(v * 1e6) / 1e6);
}

// max_vio_mean, or for records written before it the mean of the per-layer list.
double mean_eval_max_vio(const json& eval) {
  if (eval.contains("max_vio_mean")) return eval.value("max_vio_mean", 0.0);
  if (!eval.contains("max_vio") || !eval["max_vio"].is_array() || eval["max_vio"].empty()) return NAN;
  double sum = 0;
  for (const json& v : eval["max_vio"]) sum += v.get<double>();
  return sum / double(eval["max_vio"].size());
}

}  // namespace

Result<MetricsSeries> read_metrics(const std::string& path, const std::string& label) {
  std::ifstream in(path);
  if (!in) return Err("cannot read metrics file ", path);
  MetricsSeries m;
  m.label = label;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step")) {
      return Err(path, ":", number, ": not a metrics record (a JSON object with \"step\")");
    }
    const double step = j["step"].get<double>();
    if (j.contains("eval")) {
      m.eval_steps.push_back(step);
      m.eval_main_loss.push_back(j["eval"].value("main_loss", 0.0));
      m.eval_max_vio.push_back(mean_eval_max_vio(j["eval"]));
      const json& mtp = j["eval"].value("mtp_loss", json::array());
      m.eval_mtp_loss.push_back(mtp.empty() ? NAN : mtp[0].get<double>());
      std::vector<int64_t> layers;
      std::vector<double> per_layer;
      for (const json& layer : j["eval"].value("layers", json::array())) {
        layers.push_back(layer.value("layer", int64_t(-1)));
        per_layer.push_back(layer.value("max_vio", 0.0));
      }
      if (m.eval_layers.empty()) m.eval_layers = layers;
      m.eval_layer_max_vio.push_back(per_layer);
      continue;
    }
    m.steps.push_back(step);
    m.loss.push_back(j.value("loss", 0.0));
    m.main_loss.push_back(j.value("main_loss", 0.0));
    m.mtp_loss.push_back(j.value("mtp_loss", 0.0));
    m.lr.push_back(j.value("lr", 0.0));
    m.grad_norm.push_back(j.value("grad_norm", 0.0));
    if (!j.contains("layers")) continue;
    for (const json& layer : j["layers"]) {
      const int64_t index = layer.value("layer", int64_t(-1));
      auto it = std::find(m.layers.begin(), m.layers.end(), index);
      size_t slot = size_t(it - m.layers.begin());
      if (it == m.layers.end()) {
        m.layers.push_back(index);
        m.max_vio.emplace_back();
        m.load.emplace_back();
      }
      m.max_vio[slot].push_back(layer.value("max_vio", 0.0));
      m.load[slot].push_back(layer.value("load", std::vector<double>{}));
    }
  }
  if (m.steps.empty()) return Err(path, ": no training steps recorded");
  return m;
}

std::string line_chart_svg(const LineChart& chart) {
  const double W = 850, H = 440, left = 70, right = 220, top = 40, bottom = 50;
  const double pw = W - left - right, ph = H - top - bottom;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Series& s : chart.series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      const double y = s.y[i];
      if (!std::isfinite(y) || (chart.log_y && y <= 0)) continue;
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, chart.log_y ? std::log10(y) : y);
      y1 = std::max(y1, chart.log_y ? std::log10(y) : y);
    }
  }
  if (!(x1 >= x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y0 -= 0.5, y1 += 0.5;
  const double pad = 0.04 * (y1 - y0);
  y0 -= pad;
  y1 += pad;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return top + (1 - ((chart.log_y ? std::log10(y) : y) - y0) / (y1 - y0)) * ph; };

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", W) +
                    "\" height=\"" + fmt("%.0f", H) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + fmt("%.0f", left + pw / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" +
         escape(chart.title) + "</text>\n";
  for (double t : ticks(x0, x1, 8)) {
    svg += "<line x1=\"" + fmt("%.1f", px(t)) + "\" y1=\"" + fmt("%.1f", top) + "\" x2=\"" +
           fmt("%.1f", px(t)) + "\" y2=\"" + fmt("%.1f", top + ph) + "\" stroke=\"#eee\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", px(t)) + "\" y=\"" + fmt("%.1f", top + ph + 16) +
           "\" text-anchor=\"middle\">" + tick_label(t) + "</text>\n";
  }
  for (double t : ticks(y0, y1, 6)) {
    const double v = chart.log_y ? std::pow(10.0, t) : t;
    svg += "<line x1=\"" + fmt("%.1f", left) + "\" y1=\"" + fmt("%.1f", py(v)) + "\" x2=\"" +
           fmt("%.1f", left + pw) + "\" y2=\"" + fmt("%.1f", py(v)) + "\" stroke=\"#eee\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", left - 6) + "\" y=\"" + fmt("%.1f", py(v) + 4) +
           "\" text-anchor=\"end\">" + tick_label(v) + "</text>\n";
  }
  svg += "<rect x=\"" + fmt("%.1f", left) + "\" y=\"" + fmt("%.1f", top) + "\" width=\"" +
         fmt("%.1f", pw) + "\" height=\"" + fmt("%.1f", ph) + "\" fill=\"none\" stroke=\"#444\"/>\n";
  svg += "<text x=\"" + fmt("%.1f", left + pw / 2) + "\" y=\"" + fmt("%.1f", H - 10) +
         "\" text-anchor=\"middle\">" + escape(chart.x_label) + "</text>\n";
  svg += "<text transform=\"translate(16," + fmt("%.1f", top + ph / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + escape(chart.y_label) + "</text>\n";
  for (size_t k = 0; k < chart.series.size(); ++k) {
    const Series& s = chart.series[k];
    const std::string color = kColors[k % std::size(kColors)];
    std::string points;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i]) || (chart.log_y && s.y[i] <= 0)) continue;
      if (s.points) {
        svg += "<circle cx=\"" + fmt("%.1f", px(s.x[i])) + "\" cy=\"" + fmt("%.1f", py(s.y[i])) +
               "\" r=\"4\" fill=\"" + color + "\"/>\n";
      } else {
        points += fmt("%.1f", px(s.x[i])) + "," + fmt("%.1f", py(s.y[i])) + " ";
      }
    }
    if (!points.empty()) {
      svg += "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"1.5\" points=\"" +
             points + "\"/>\n";
    }
    const double ly = top + 14 + 18 * double(k);
    svg += "<rect x=\"" + fmt("%.1f", left + pw + 12) + "\" y=\"" + fmt("%.1f", ly - 9) +
           "\" width=\"14\" height=\"10\" fill=\"" + color + "\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", left + pw + 32) + "\" y=\"" + fmt("%.1f", ly) + "\">" +
           escape(s.name) + "</text>\n";
  }
  return svg + "</svg>\n";
}

std::string load_heatmap_svg(const MetricsSeries& run, int max_columns) {
  const double left = 70, top = 40, cell_h = 8, gap = 34, width = 720;
  double height = top;
  for (const auto& layer : run.load) {
    const size_t experts = layer.empty() ? 0 : layer.front().size();
    height += double(experts) * cell_h + gap;
  }
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    fmt("%.0f", left + width + 150) + "\" height=\"" + fmt("%.0f", height + 20) +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n"
                    "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + fmt("%.0f", left) + "\" y=\"22\" font-size=\"15\">Expert load / mean load, " +
         escape(run.label) + " (rows: experts, columns: steps)</text>\n";
  double y = top;
  for (size_t l = 0; l < run.load.size(); ++l) {
    const auto& steps = run.load[l];
    if (steps.empty()) continue;
    const size_t experts = steps.front().size(), columns = std::min<size_t>(max_columns, steps.size());
    const double cell_w = width / double(columns);
    svg += "<text x=\"8\" y=\"" + fmt("%.1f", y + 12) + "\">layer " + std::to_string(run.layers[l]) + "</text>\n";
    for (size_t col = 0; col < columns; ++col) {
      const size_t s0 = col * steps.size() / columns, s1 = std::max(s0 + 1, (col + 1) * steps.size() / columns);
      std::vector<double> load(experts, 0.0);
      for (size_t s = s0; s < s1; ++s) {
        for (size_t e = 0; e < experts && e < steps[s].size(); ++e) load[e] += steps[s][e];
      }
      double mean = 0;
      for (double v : load) mean += v / double(experts);
      for (size_t e = 0; e < experts; ++e) {
        const double r = mean > 0 ? load[e] / mean : 0;
        // white (0) -> grey (1) -> red (>= 2)
        int red, green, blue;
        if (r <= 1) {
          red = green = blue = int(255 - 100 * r);
        } else {
          const double t = std::min(1.0, r - 1);
          red = int(155 + 100 * t), green = blue = int(155 - 155 * t);
        }
        char color[16];
        std::snprintf(color, sizeof color, "#%02x%02x%02x", red, green, blue);
        svg += "<rect x=\"" + fmt("%.2f", left + double(col) * cell_w) + "\" y=\"" +
               fmt("%.1f", y + double(e) * cell_h) + "\" width=\"" + fmt("%.2f", cell_w + 0.3) +
               "\" height=\"" + fmt("%.1f", cell_h) + "\" fill=\"" + color + "\"/>\n";
      }
    }
    svg += "<text x=\"" + fmt("%.0f", left + width + 8) + "\" y=\"" + fmt("%.1f", y + 12) +
           "\">steps " + fmt("%.0f", run.steps.front()) + "-" + fmt("%.0f", run.steps.back()) + "</text>\n";
    y += double(experts) * cell_h + gap;
  }
  const double ly = y - gap + 20;
  svg += "<text x=\"" + fmt("%.0f", left) + "\" y=\"" + fmt("%.1f", ly) +
         "\">white: idle, grey: mean load, red: twice the mean or more</text>\n";
  return svg + "</svg>\n";
}

namespace {

// Mean over the MoE layers of the batch MaxVio, averaged over the last tenth of the steps.
double late_batch_max_vio(const MetricsSeries& r) {
  if (r.max_vio.empty() || r.steps.empty()) return NAN;
  const size_t count = r.steps.size(), first = count - std::max<size_t>(1, count / 10);
  double sum = 0;
  for (const auto& layer : r.max_vio) {
    for (size_t i = first; i < layer.size(); ++i) sum += layer[i];
  }
  return sum / double(r.max_vio.size() * (count - first));
}

std::string cell(double v, const char* format) { return std::isfinite(v) ? fmt(format, v) : "-"; }

}  // namespace

std::string validation_table_md(const std::vector<MetricsSeries>& runs) {
  std::vector<int64_t> layers;
  bool any = false;
  for (const MetricsSeries& r : runs) {
    any |= !r.eval_steps.empty();
    if (layers.empty()) layers = r.eval_layers;
  }
  if (!any) return "";
  std::string head = "| run | step | val loss | val MTP loss |", rule = "| --- | ---: | ---: | ---: |";
  for (int64_t l : layers) {
    head += " MaxVio layer " + std::to_string(l) + " |";
    rule += " ---: |";
  }
  head += " MaxVio mean | batch MaxVio, last 10% |\n";
  rule += " ---: | ---: |\n";
  std::string table = head + rule;
  for (const MetricsSeries& r : runs) {
    if (r.eval_steps.empty()) continue;
    const size_t last = r.eval_steps.size() - 1;
    table += "| " + r.label + " | " + fmt("%.0f", r.eval_steps[last]) + " | " +
             cell(r.eval_main_loss[last], "%.4f") + " | " + cell(r.eval_mtp_loss[last], "%.4f") + " |";
    const std::vector<double>& per_layer = r.eval_layer_max_vio[last];
    for (size_t l = 0; l < layers.size(); ++l) {
      table += " " + cell(l < per_layer.size() ? per_layer[l] : NAN, "%.3f") + " |";
    }
    table += " " + cell(r.eval_max_vio[last], "%.3f") + " | " + cell(late_batch_max_vio(r), "%.3f") + " |\n";
  }
  return table;
}

Result<std::vector<std::string>> write_plots(const std::vector<MetricsSeries>& runs,
                                             const std::string& dir, int heatmap_columns) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Err("cannot create ", dir, ": ", ec.message());
  std::vector<std::string> written;
  auto write = [&](const std::string& name, const std::string& svg) -> Status {
    const std::string path = (std::filesystem::path(dir) / name).string();
    DSV3_TRY(write_file_atomically(path, svg));
    written.push_back(path);
    return OkStatus();
  };
  const bool several = runs.size() > 1;
  LineChart loss{.title = "Training loss", .x_label = "step", .y_label = "cross-entropy"};
  LineChart lr{.title = "Learning rate", .x_label = "step", .y_label = "lr"};
  LineChart grad{.title = "Gradient norm (before clipping)", .x_label = "step",
                 .y_label = "global L2 norm", .log_y = true};
  LineChart vio{.title = several ? "MaxVio, mean of the MoE layers: batches (lines), validation set (points)"
                                 : "MaxVio: batches per layer (lines), validation set (points, mean of layers)",
                .x_label = "step",
                .y_label = "(max load - mean) / mean"};
  for (const MetricsSeries& r : runs) {
    const std::string p = several ? r.label + " " : "";
    loss.series.push_back({p + "next token", r.steps, r.main_loss});
    bool has_mtp = false;
    for (double v : r.mtp_loss) has_mtp |= v != 0;
    // Several runs: their MTP curves would crowd the chart past its eight colours.
    if (has_mtp && !several) loss.series.push_back({p + "MTP", r.steps, r.mtp_loss});
    if (!r.eval_steps.empty()) {
      loss.series.push_back({p + "validation", r.eval_steps, r.eval_main_loss, true});
    }
    lr.series.push_back({r.label, r.steps, r.lr});
    grad.series.push_back({r.label, r.steps, r.grad_norm});
    if (!r.eval_steps.empty()) {
      vio.series.push_back({p + "validation", r.eval_steps, r.eval_max_vio, true});
    }
    if (several) {  // one line per run: the mean over layers
      std::vector<double> mean(r.steps.size(), 0.0);
      for (const auto& layer : r.max_vio) {
        for (size_t i = 0; i < mean.size() && i < layer.size(); ++i) {
          mean[i] += layer[i] / double(r.max_vio.size());
        }
      }
      vio.series.push_back({r.label + " batches", r.steps, mean});
    } else {
      for (size_t l = 0; l < r.layers.size(); ++l) {
        vio.series.push_back({"layer " + std::to_string(r.layers[l]), r.steps, r.max_vio[l]});
      }
    }
  }
  const std::string table = validation_table_md(runs);
  if (!table.empty()) DSV3_TRY(write("validation.md", table));
  DSV3_TRY(write("loss.svg", line_chart_svg(loss)));
  DSV3_TRY(write("lr.svg", line_chart_svg(lr)));
  DSV3_TRY(write("grad_norm.svg", line_chart_svg(grad)));
  if (!vio.series.empty()) DSV3_TRY(write("max_vio.svg", line_chart_svg(vio)));
  std::vector<std::string> names;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].load.empty()) continue;
    std::string name;
    for (char ch : runs[i].label) {
      name += std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' ? ch : '_';
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) name += "_" + std::to_string(i);
    names.push_back(name);
    DSV3_TRY(write("expert_load_" + name + ".svg", load_heatmap_svg(runs[i], heatmap_columns)));
  }
  return written;
}

}  // namespace dsv3::train
