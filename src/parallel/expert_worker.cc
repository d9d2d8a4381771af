#include "parallel/expert_worker.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "model/moe.h"
#include "parallel/process_memory.h"
#include "parallel/protocol.h"

namespace dsv3::parallel {

namespace {

// The MoE weights of checkpoint layer `layer`: a main layer or an MTP layer's block.
const MoeWeights* moe_of(const Model& model, int64_t layer) {
  const ModelWeights& w = model.weights();
  const int64_t n = int64_t(w.layers.size());
  if (layer >= 0 && layer < n && w.layers[size_t(layer)].is_moe) return &w.layers[size_t(layer)].moe;
  if (layer >= n && layer - n < int64_t(w.mtp.size())) return &w.mtp[size_t(layer - n)].block.moe;
  return nullptr;
}

// Checks the request against what this rank holds; an empty string when it can be served.
std::string refuse(const Model& model, const RequestHeader& h, size_t bytes,
                   const MoeWeights* moe) {
  const int64_t d = model.config().hidden_size;
  const size_t want = sizeof h + size_t(h.rows) * size_t(d) * sizeof(float) +
                      size_t(h.pairs) * sizeof(ExpertPair);
  if (h.rows < 0 || h.pairs < 0 || bytes != want) {
    return "malformed expert request (" + std::to_string(bytes) + " bytes, expected " +
           std::to_string(want) + ")";
  }
  if (!moe) {
    return "rank 0 asked for experts of layer " + std::to_string(h.layer) +
           ", which is not a MoE layer loaded here (is the checkpoint the same on every rank?)";
  }
  return "";
}

void serve_expert_request(const dist::Comm& comm, const Model& model, const dist::Message& m,
                          Arena& arena, std::vector<float>& out) {
  RequestHeader h;
  std::memcpy(&h, m.bytes.data(), sizeof h);
  const MoeWeights* moe = moe_of(model, h.layer);
  const std::string problem = refuse(model, h, m.bytes.size(), moe);
  if (!problem.empty()) comm.abort(problem);
  const int64_t d = model.config().hidden_size;
  const auto* x = reinterpret_cast<const float*>(m.bytes.data() + sizeof h);
  const auto* pairs = reinterpret_cast<const ExpertPair*>(x + int64_t(h.rows) * d);
  for (int32_t i = 0; i < h.pairs; ++i) {
    const ExpertPair& p = pairs[i];
    if (p.row < 0 || p.row >= h.rows || p.expert < 0 || p.expert >= int32_t(moe->experts.size()) ||
        !moe->held(p.expert)) {
      comm.abort("rank 0 sent expert " + std::to_string(p.expert) + " of layer " +
                 std::to_string(h.layer) + ", which this rank does not hold (placements differ?)");
    }
  }
  out.assign(size_t(h.rows) * size_t(d), 0.0f);
  experts_forward(*moe, x, d, h.rows, std::span(pairs, size_t(h.pairs)), arena, out.data());
  comm.send(0, kTagReply, std::as_bytes(std::span(out)));
}

// Test hook: DSV3_TEST_DIE_RANK=R makes rank R die (no MPI_Finalize, as a crash or an
// out-of-memory kill would) at its first expert request; the tests check that the launcher
// then ends the job instead of leaving rank 0 waiting.
void die_if_asked(const dist::Comm& comm) {
  const char* v = std::getenv("DSV3_TEST_DIE_RANK");
  if (v && std::atoi(v) == comm.rank()) {
    std::fprintf(stderr, "dsv3: %s: dying on purpose (DSV3_TEST_DIE_RANK)\n", comm.describe().c_str());
    std::_Exit(3);
  }
}

}  // namespace

void serve_experts(const dist::Comm& comm, const Model& model, const ExpertPlacement& placement) {
  Arena arena;
  std::vector<float> out;
  for (;;) {
    const dist::Message m = comm.receive_any_size(0);
    RequestHeader h;
    if (m.tag != kTagRequest || m.bytes.size() < sizeof h) {
      comm.abort("unexpected message from rank 0 (tag " + std::to_string(m.tag) + ", " +
                 std::to_string(m.bytes.size()) + " bytes)");
    }
    std::memcpy(&h, m.bytes.data(), sizeof h);
    switch (h.kind) {
      case RequestKind::kExperts:
        die_if_asked(comm);
        serve_expert_request(comm, model, m, arena, out);
        break;
      case RequestKind::kPrefault: {
        const int64_t bytes = touch_tensors(model.checkpoint());
        comm.send(0, kTagReply, as_bytes_of(bytes));
        break;
      }
      case RequestKind::kMemory: {
        const RankMemoryUse use{.rank = comm.rank(), .experts = placement.experts_held(comm.rank()),
                                .weight_bytes = int64_t(model.checkpoint().total_bytes()),
                                .resident_bytes = resident_set_bytes()};
        comm.send(0, kTagReply, as_bytes_of(use));
        break;
      }
      case RequestKind::kShutdown:
        return;
      default:
        comm.abort("unknown request kind " + std::to_string(int(h.kind)) + " from rank 0");
    }
  }
}

}  // namespace dsv3::parallel
