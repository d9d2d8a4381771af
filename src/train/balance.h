// Load balancing of the routed experts (DeepSeek-V3 report section 2.1.2; Wang et al. 2024,
// "Auxiliary-loss-free load balancing"). The losses live with the router (gate.h); here are
// the bias update of the aux-loss-free method and the balance metric.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "train/params.h"
#include "util/result.h"

namespace dsv3::train {

// aux-free: the router bias moves after every step (gamma = --bias-update-speed), plus the
//   small complementary sequence-wise loss (alpha = --seq-aux-alpha), as in DeepSeek-V3.
// aux-loss: no bias; the same sequence-wise f*P loss with a classic weight (--aux-alpha).
// none: neither.
enum class BalanceMode { kAuxFree, kAuxLoss, kNone };

Result<BalanceMode> parse_balance_mode(std::string_view name);
std::string_view balance_mode_name(BalanceMode m);

// For every layer from first_layer on with a bias: b_i += gamma * sign(mean_j c_j - c_i),
// c = tokens routed to each expert during the step (loads[layer]).
void update_router_bias(RouterBiases& bias, const std::vector<std::vector<int64_t>>& loads,
                        double gamma, size_t first_layer = 0);

// MaxVio = (max_i c_i - mean c) / mean c (Wang et al. eq. 6); 0 for an empty load.
double max_violation(const std::vector<int64_t>& load);

}  // namespace dsv3::train
