#include "train/evaluation.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "train/balance.h"

namespace dsv3::train {

double EvalReport::mean_max_vio() const {
  if (max_vio.empty()) return 0;
  double sum = 0;
  for (double v : max_vio) sum += v;
  return sum / double(max_vio.size());
}

void set_expert_loads(EvalReport& r, const std::vector<std::vector<int64_t>>& loads_by_layer) {
  r.moe_layers.clear();
  r.max_vio.clear();
  r.loads.clear();
  for (size_t l = 0; l < loads_by_layer.size(); ++l) {
    if (loads_by_layer[l].empty()) continue;
    r.moe_layers.push_back(int64_t(l));
    r.max_vio.push_back(max_violation(loads_by_layer[l]));
    r.loads.push_back(loads_by_layer[l]);
  }
}

std::string eval_json(const EvalReport& r) {
  // Ordered: "step" first, as a person (or grep) expects.
  using json = nlohmann::ordered_json;
  json layers = json::array();
  for (size_t i = 0; i < r.moe_layers.size(); ++i) {
    layers.push_back({{"layer", r.moe_layers[i]}, {"max_vio", r.max_vio[i]}, {"load", r.loads[i]}});
  }
  const json eval = {{"main_loss", r.main_loss}, {"mtp_loss", r.mtp_loss},
                     {"mtp_agreement", r.mtp_agreement},
                     {"windows", r.windows},     {"tokens", r.tokens},
                     {"max_vio_mean", r.mean_max_vio()}, {"layers", layers}};
  return json{{"step", r.step}, {"eval", eval}}.dump();
}

std::string eval_text(const EvalReport& r) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "validation at step %ld (%ld tokens in %ld sequences): main loss %.4f",
                long(r.step), long(r.tokens), long(r.windows), r.main_loss);
  std::string s = buf;
  for (size_t k = 0; k < r.mtp_loss.size(); ++k) {
    std::snprintf(buf, sizeof buf, ", mtp%s loss %.4f",
                  r.mtp_loss.size() > 1 ? std::to_string(k + 1).c_str() : "", r.mtp_loss[k]);
    s += buf;
  }
  for (size_t k = 0; k < r.mtp_agreement.size(); ++k) {
    std::snprintf(buf, sizeof buf, ", mtp%s agrees with the main model on %.1f%%",
                  r.mtp_agreement.size() > 1 ? std::to_string(k + 1).c_str() : "",
                  100 * r.mtp_agreement[k]);
    s += buf;
  }
  if (r.moe_layers.empty()) return s + "\n";
  s += "\n  MaxVio over the set:";
  for (size_t i = 0; i < r.moe_layers.size(); ++i) {
    std::snprintf(buf, sizeof buf, " layer %ld %.3f,", long(r.moe_layers[i]), r.max_vio[i]);
    s += buf;
  }
  std::snprintf(buf, sizeof buf, " mean %.3f\n", r.mean_max_vio());
  return s + buf;
}

}  // namespace dsv3::train
