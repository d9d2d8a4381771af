// What every layer's forward needs besides its weights and inputs.
#pragma once

#include <functional>
#include <span>
#include <string>

#include "model/config.h"
#include "model/remote_experts.h"
#include "model/rope.h"
#include "util/arena.h"
#include "util/phase_times.h"

namespace dsv3 {

class KvCache;

// Rows [row, row + count) of a batch are new tokens of one sequence at positions
// [start_pos, start_pos + count), attending causally over that sequence's own cache.
struct SequenceSlice {
  int64_t row = 0;
  int64_t count = 0;
  int64_t start_pos = 0;
  KvCache* cache = nullptr;
};

// Naive: expand the cached latent with kv_b into per-head keys and values (the textbook form).
// Absorbed: fold kv_b into the query and the output (DeepSeek-V2 report, section 2.1.2): same
// math, no per-head K/V ever materialised. Both read the same latent cache.
enum class AttentionImpl { kNaive, kAbsorbed };

// Receives named activations ("layer_out", "route_ids", ...) to find the first divergence from
// a reference. `layer` is -1 for model-level tensors.
using TraceFn = std::function<void(const std::string& name, int64_t layer,
                                   std::span<const float> values)>;

struct LayerContext {
  const ModelConfig* config = nullptr;
  const RopeTable* rope = nullptr;
  AttentionImpl attention = AttentionImpl::kAbsorbed;
  Arena* arena = nullptr;
  const TraceFn* trace = nullptr;  // may be null
  int64_t layer = 0;               // index of the layer being run (for traces)
  RemoteExperts* remote_experts = nullptr;  // expert parallelism: experts held by other ranks
  PhaseTimes* phases = nullptr;             // time per phase (bench --profile); may be null

  void emit(const std::string& name, std::span<const float> values) const {
    if (trace && *trace) (*trace)(name, layer, values);
  }
};

}  // namespace dsv3
