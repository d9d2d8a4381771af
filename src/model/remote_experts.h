// Routed experts computed by other processes (expert parallelism).
//
// Under `mpirun`, rank 0 runs the whole model except the routed experts held by other ranks.
// In each MoE layer, moe_forward routes the tokens, hands the (token, expert) pairs that
// other ranks compute to a RemoteExperts, computes its own pairs and the shared expert, and
// adds the partial sums that come back. The model knows nothing of how they travel (MPI,
// src/parallel/).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace dsv3 {

// One routed choice: row `row` of the layer input goes through `expert`, weighted.
struct ExpertPair {
  int32_t row = 0;
  int32_t expert = 0;
  float weight = 0;
};

// One MoE layer's routing, as moe_forward hands it over.
struct MoeDispatch {
  int64_t layer = 0;         // checkpoint layer index
  const float* x = nullptr;  // [rows, hidden], the normalised layer input
  int64_t rows = 0;
  const int32_t* ids = nullptr;      // [rows, K] chosen experts
  const float* weights = nullptr;    // [rows, K] their gate weights
  int64_t k = 0;
};

// Bytes that crossed the network, as counted on rank 0 (every transfer starts or ends there).
struct RankTraffic {
  int64_t bytes_sent = 0;      // by this rank
  int64_t bytes_received = 0;  // by this rank
};

// What one rank holds.
struct RankMemoryUse {
  int rank = 0;
  int64_t experts = 0;         // routed experts held, over all MoE layers
  int64_t weight_bytes = 0;    // checkpoint tensors bound by this rank
  int64_t resident_bytes = 0;  // resident set size of the process (VmRSS)
};

class RemoteExperts {
 public:
  virtual ~RemoteExperts() = default;

  virtual int ranks() const = 0;
  // Sends the pairs other ranks compute; sets local[i] (i = row * K + j) to 1 for the pairs
  // left to this process, 0 for the others.
  virtual void dispatch(const MoeDispatch& d, uint8_t* local) = 0;
  // Waits for the partial sums of the last dispatch and adds them into out [rows, hidden].
  virtual void combine(float* out) = 0;

  // Per rank, since the start.
  virtual std::vector<RankTraffic> traffic() const = 0;
  // Per rank (this one included); asks the other ranks.
  virtual std::vector<RankMemoryUse> memory_use() = 0;
  // The other ranks read every page of their weights (so a benchmark does not time page
  // faults); returns the bytes they walked.
  virtual int64_t prefault() = 0;
};

}  // namespace dsv3
