#include "train/balance.h"

#include <algorithm>

namespace dsv3::train {

Result<BalanceMode> parse_balance_mode(std::string_view name) {
  if (name == "aux-free") return BalanceMode::kAuxFree;
  if (name == "aux-loss") return BalanceMode::kAuxLoss;
  if (name == "none") return BalanceMode::kNone;
  return Err("unknown balance mode '", std::string(name),
             "' (expected aux-free, aux-loss or none)");
}

std::string_view balance_mode_name(BalanceMode m) {
  switch (m) {
    case BalanceMode::kAuxFree: return "aux-free";
    case BalanceMode::kAuxLoss: return "aux-loss";
    case BalanceMode::kNone: return "none";
  }
  return "none";
}

void update_router_bias(RouterBiases& bias, const std::vector<std::vector<int64_t>>& loads,
                        double gamma, size_t first_layer) {
  for (size_t l = first_layer; l < bias.size() && l < loads.size(); ++l) {
    std::vector<float>& b = bias[l];
    const std::vector<int64_t>& c = loads[l];
    if (b.empty() || c.size() != b.size()) continue;
    double mean = 0;
    for (int64_t v : c) mean += double(v);
    mean /= double(c.size());
    for (size_t i = 0; i < b.size(); ++i) {
      const double gap = mean - double(c[i]);
      b[i] += float(gamma * double((gap > 0) - (gap < 0)));
    }
  }
}

double max_violation(const std::vector<int64_t>& load) {
  if (load.empty()) return 0;
  double mean = 0;
  for (int64_t v : load) mean += double(v);
  mean /= double(load.size());
  if (mean == 0) return 0;
  return (double(*std::max_element(load.begin(), load.end())) - mean) / mean;
}

}  // namespace dsv3::train
