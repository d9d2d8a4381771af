#include "model/expert_placement.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

namespace dsv3 {

std::vector<int64_t> moe_layer_indices(const ModelConfig& c) {
  std::vector<int64_t> layers;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    if (c.is_moe_layer(l)) layers.push_back(l);
  }
  // The MTP blocks are MoE blocks (weights.cc binds them so).
  if (c.n_routed_experts > 0) {
    for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
      layers.push_back(c.num_hidden_layers + k);
    }
  }
  return layers;
}

ExpertPlacement::ExpertPlacement(const ModelConfig& c, int ranks) : ranks_(ranks) {
  owners_.resize(size_t(c.num_hidden_layers + c.num_nextn_predict_layers));
  for (int64_t l : moe_layer_indices(c)) owners_[size_t(l)].resize(size_t(c.n_routed_experts));
}

bool ExpertPlacement::holds(int rank, int64_t layer, int64_t expert) const {
  if (!is_moe_layer(layer) || expert < 0 || expert >= num_experts(layer)) return false;
  const auto& o = owners(layer, expert);
  return std::find(o.begin(), o.end(), rank) != o.end();
}

void ExpertPlacement::add_owner(int64_t layer, int64_t expert, int rank) {
  DSV3_CHECK(is_moe_layer(layer) && rank >= 0 && rank < ranks_, "layer %ld rank %d",
             long(layer), rank);
  if (!holds(rank, layer, expert)) owners_[size_t(layer)][size_t(expert)].push_back(rank);
}

int64_t ExpertPlacement::experts_held(int rank) const {
  int64_t n = 0;
  for (const auto& layer : owners_) {
    for (const auto& o : layer) n += std::count(o.begin(), o.end(), rank);
  }
  return n;
}

// Layout: ranks, layers, then per layer its expert count and per expert its owner count
// followed by the owners.
std::vector<int32_t> ExpertPlacement::to_ints() const {
  std::vector<int32_t> v = {ranks_, int32_t(owners_.size())};
  for (const auto& layer : owners_) {
    v.push_back(int32_t(layer.size()));
    for (const auto& o : layer) {
      v.push_back(int32_t(o.size()));
      v.insert(v.end(), o.begin(), o.end());
    }
  }
  return v;
}

Result<ExpertPlacement> ExpertPlacement::from_ints(std::span<const int32_t> v,
                                                   const ModelConfig& c) {
  size_t at = 0;
  auto next = [&](int32_t& out) {
    if (at >= v.size()) return false;
    out = v[at++];
    return true;
  };
  int32_t ranks = 0, layers = 0;
  if (!next(ranks) || !next(layers) || ranks < 1) return Err("expert placement: truncated header");
  ExpertPlacement p(c, ranks);
  if (layers != p.num_layers()) {
    return Err("expert placement has ", layers, " layers, this checkpoint's config.json has ",
               p.num_layers(), " (different checkpoints on different ranks?)");
  }
  for (int64_t l = 0; l < layers; ++l) {
    int32_t experts = 0;
    if (!next(experts)) return Err("expert placement: truncated at layer ", l);
    if (experts != (p.is_moe_layer(l) ? p.num_experts(l) : 0)) {
      return Err("expert placement: layer ", l, " has ", experts, " experts, config.json says ",
                 p.is_moe_layer(l) ? p.num_experts(l) : 0);
    }
    for (int64_t e = 0; e < experts; ++e) {
      int32_t count = 0;
      if (!next(count) || count < 1) return Err("expert placement: expert ", e, " of layer ", l, " has no owner");
      for (int32_t i = 0; i < count; ++i) {
        int32_t r = 0;
        if (!next(r) || r < 0 || r >= ranks) return Err("expert placement: bad owner of expert ", e);
        p.add_owner(l, e, r);
      }
    }
  }
  if (at != v.size()) return Err("expert placement: ", v.size() - at, " values left over");
  return p;
}

ExpertPlacement contiguous_placement(const ModelConfig& c, int ranks) {
  ExpertPlacement p(c, ranks);
  const int64_t n = c.n_routed_experts;
  for (int64_t l : moe_layer_indices(c)) {
    for (int r = 0; r < ranks; ++r) {
      for (int64_t e = n * r / ranks; e < n * (r + 1) / ranks; ++e) p.add_owner(l, e, r);
    }
  }
  return p;
}

Result<ExpertLoad> read_expert_load(const std::string& path, const ModelConfig& c) {
  std::ifstream in(path);
  if (!in) return Err("cannot read the expert load file ", path);
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("expert_load") ||
      !j["expert_load"].is_object()) {
    return Err(path, ": expected a JSON object {\"expert_load\": {\"LAYER\": [count per expert]}}");
  }
  const std::vector<int64_t> moe = moe_layer_indices(c);
  ExpertLoad load;
  for (const auto& [key, counts] : j["expert_load"].items()) {
    int64_t layer = -1;
    try {
      size_t used = 0;
      layer = std::stoll(key, &used);
      if (used != key.size()) layer = -1;
    } catch (...) {
    }
    if (std::find(moe.begin(), moe.end(), layer) == moe.end()) {
      return Err(path, ": expert_load['", key, "'] is not a MoE layer of this model");
    }
    if (!counts.is_array() || int64_t(counts.size()) != c.n_routed_experts) {
      return Err(path, ": expert_load['", key, "'] must be an array of ", c.n_routed_experts,
                 " counts (one per routed expert)");
    }
    std::vector<double>& v = load[layer];
    for (const auto& x : counts) {
      if (!x.is_number() || x.get<double>() < 0) {
        return Err(path, ": expert_load['", key, "'] holds ", x.dump(),
                   ", expected non-negative numbers");
      }
      v.push_back(x.get<double>());
    }
  }
  return load;
}

std::string expert_load_json(const ExpertLoad& load) {
  nlohmann::ordered_json j;
  j["expert_load"] = nlohmann::ordered_json::object();
  for (const auto& [layer, counts] : load) j["expert_load"][std::to_string(layer)] = counts;
  return j.dump() + "\n";
}

namespace {

// The load of one layer, uniform when it was not measured.
std::vector<double> layer_load(const ExpertLoad& load, int64_t layer, int64_t n) {
  auto it = load.find(layer);
  if (it != load.end()) return it->second;
  return std::vector<double>(size_t(n), 1.0);
}

void place_layer(ExpertPlacement& p, int64_t layer, const std::vector<double>& load,
                 int redundant) {
  const int R = p.ranks();
  const int64_t n = int64_t(load.size());
  std::vector<int64_t> by_load(static_cast<size_t>(n));
  std::iota(by_load.begin(), by_load.end(), 0);
  std::stable_sort(by_load.begin(), by_load.end(),
                   [&](int64_t a, int64_t b) { return load[size_t(a)] > load[size_t(b)]; });
  // A second copy only helps when there is another rank to put it on.
  const int64_t extra = R > 1 ? std::min<int64_t>(redundant, n) : 0;
  std::vector<int> copies(size_t(n), 1);
  for (int64_t i = 0; i < extra; ++i) copies[size_t(by_load[size_t(i)])] = 2;

  struct Piece {
    int64_t expert;
    double load;
  };
  std::vector<Piece> pieces;
  for (int64_t e = 0; e < n; ++e) {
    for (int k = 0; k < copies[size_t(e)]; ++k) {
      pieces.push_back({e, load[size_t(e)] / copies[size_t(e)]});
    }
  }
  std::stable_sort(pieces.begin(), pieces.end(),
                   [](const Piece& a, const Piece& b) { return a.load > b.load; });
  const int64_t capacity = (int64_t(pieces.size()) + R - 1) / R;
  std::vector<double> rank_load(size_t(R), 0.0);
  std::vector<int64_t> rank_pieces(size_t(R), 0);
  for (const Piece& piece : pieces) {
    int best = -1;
    for (int r = 0; r < R; ++r) {
      if (rank_pieces[size_t(r)] >= capacity || p.holds(r, layer, piece.expert)) continue;
      if (best < 0 || rank_load[size_t(r)] < rank_load[size_t(best)]) best = r;
    }
    DSV3_CHECK(best >= 0, "no rank can take expert %ld of layer %ld", long(piece.expert),
               long(layer));
    p.add_owner(layer, piece.expert, best);
    rank_load[size_t(best)] += piece.load;
    ++rank_pieces[size_t(best)];
  }
}

}  // namespace

ExpertPlacement balanced_placement(const ModelConfig& c, int ranks, const ExpertLoad& load,
                                   int redundant) {
  ExpertPlacement p(c, ranks);
  for (int64_t l : moe_layer_indices(c)) {
    place_layer(p, l, layer_load(load, l, c.n_routed_experts), redundant);
  }
  return p;
}

std::vector<double> load_shares(const ExpertPlacement& p, const ExpertLoad& load) {
  std::vector<double> shares(size_t(p.ranks()), 0.0);
  int64_t layers = 0;
  for (int64_t l = 0; l < p.num_layers(); ++l) {
    if (!p.is_moe_layer(l)) continue;
    const std::vector<double> v = layer_load(load, l, p.num_experts(l));
    const double total = std::accumulate(v.begin(), v.end(), 0.0);
    if (total <= 0) continue;
    for (int64_t e = 0; e < p.num_experts(l); ++e) {
      const auto& o = p.owners(l, e);
      for (int32_t r : o) shares[size_t(r)] += v[size_t(e)] / total / double(o.size());
    }
    ++layers;
  }
  for (double& s : shares) s = layers ? s / double(layers) : 0.0;
  return shares;
}

}  // namespace dsv3
