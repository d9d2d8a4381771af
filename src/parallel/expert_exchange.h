// Rank 0's side of expert parallelism: the RemoteExperts that sends each MoE layer's pairs to
// the ranks holding their experts and adds the partial sums they send back.
//
// Per MoE layer and per expert rank r that holds one of a token's chosen experts, rank 0
// sends the token's normalised hidden state once (hidden x 4 bytes) with its pairs
// (12 bytes each) and receives one row of partial sums (hidden x 4 bytes). Ranks that hold
// none of a step's experts get no message at all. A pair whose expert has copies on several
// ranks goes to the holder with the fewest pairs so far in this layer (the lower rank on a
// tie), so each pair is computed exactly once.
#pragma once

#include <memory>
#include <vector>

#include "dist/communicator.h"
#include "model/expert_placement.h"
#include "model/remote_experts.h"
#include "model/transformer.h"
#include "parallel/protocol.h"

namespace dsv3::parallel {

class ExpertExchange : public RemoteExperts {
 public:
  // `model` is rank 0's (for its own memory figures); `placement` is the job's.
  ExpertExchange(const dist::Comm& comm, ExpertPlacement placement, const Model& model);
  // Releases the expert ranks (they leave their loop and exit).
  ~ExpertExchange() override;

  int ranks() const override { return comm_.size(); }
  void dispatch(const MoeDispatch& d, uint8_t* local) override;
  void combine(float* out) override;
  std::vector<RankTraffic> traffic() const override { return traffic_; }
  std::vector<RankMemoryUse> memory_use() override;
  int64_t prefault() override;

 private:
  // What goes to, and comes back from, one expert rank in the current layer.
  struct Outbox {
    std::vector<int32_t> rows;        // rows of the layer input sent, in increasing order
    std::vector<ExpertPair> pairs;    // row = index into `rows`
    std::vector<std::byte> message;
    std::vector<float> reply;         // [rows, hidden]
  };

  int choose_holder(int64_t layer, int64_t expert, std::vector<int64_t>& pairs_so_far) const;
  void pack(Outbox& box, const MoeDispatch& d, int32_t layer);
  // Sends a payload-free request to every expert rank and gathers a fixed-size reply.
  template <typename Reply>
  std::vector<Reply> ask_every_rank(RequestKind kind);

  const dist::Comm& comm_;
  ExpertPlacement placement_;
  const Model& model_;
  int64_t hidden_ = 0;
  std::vector<Outbox> outboxes_;     // per rank (0 unused)
  // Scratch of dispatch, kept so that a decode step allocates nothing once warm.
  std::vector<int64_t> pairs_so_far_;
  std::vector<int32_t> slot_;
  dist::Transfers transfers_;  // the current layer's sends and receives
  bool inflight_ = false;       // between dispatch and combine
  std::vector<RankTraffic> traffic_;
};

}  // namespace dsv3::parallel
