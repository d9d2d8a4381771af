#include "parallel/expert_exchange.h"

#include <algorithm>

#include "kernels/kernels.h"
#include "parallel/process_memory.h"

namespace dsv3::parallel {

ExpertExchange::ExpertExchange(const dist::Comm& comm, ExpertPlacement placement,
                               const Model& model)
    : comm_(comm), placement_(std::move(placement)), model_(model),
      hidden_(model.config().hidden_size), outboxes_(size_t(comm.size())),
      traffic_(size_t(comm.size())) {}

ExpertExchange::~ExpertExchange() {
  transfers_.wait();
  const std::vector<std::byte> bye = simple_request(RequestKind::kShutdown);
  for (int r = 1; r < comm_.size(); ++r) comm_.send(r, kTagRequest, bye);
}

int ExpertExchange::choose_holder(int64_t layer, int64_t expert,
                                  std::vector<int64_t>& pairs_so_far) const {
  // The holder with the fewest pairs so far; on a tie the lower rank (rank 0 computes its
  // copy without any traffic).
  int best = -1;
  for (int32_t r : placement_.owners(layer, expert)) {
    if (best < 0 || pairs_so_far[size_t(r)] < pairs_so_far[size_t(best)] ||
        (pairs_so_far[size_t(r)] == pairs_so_far[size_t(best)] && r < best)) {
      best = r;
    }
  }
  ++pairs_so_far[size_t(best)];
  return best;
}

// header | x rows | pairs, in one message.
void ExpertExchange::pack(Outbox& box, const MoeDispatch& d, int32_t layer) {
  const RequestHeader h{.kind = RequestKind::kExperts, .layer = layer,
                        .rows = int32_t(box.rows.size()), .pairs = int32_t(box.pairs.size())};
  const size_t row_bytes = size_t(hidden_) * sizeof(float);
  box.message.resize(sizeof h + box.rows.size() * row_bytes + box.pairs.size() * sizeof(ExpertPair));
  std::byte* at = box.message.data();
  std::memcpy(at, &h, sizeof h);
  at += sizeof h;
  for (int32_t row : box.rows) {
    std::memcpy(at, d.x + int64_t(row) * hidden_, row_bytes);
    at += row_bytes;
  }
  std::memcpy(at, box.pairs.data(), box.pairs.size() * sizeof(ExpertPair));
  box.reply.resize(box.rows.size() * size_t(hidden_));
}

void ExpertExchange::dispatch(const MoeDispatch& d, uint8_t* local) {
  DSV3_CHECK(!inflight_, "dispatch of layer %ld before the last one was combined", long(d.layer));
  const int R = comm_.size();
  for (Outbox& box : outboxes_) {
    box.rows.clear();
    box.pairs.clear();
  }
  std::vector<int64_t>& pairs_so_far = pairs_so_far_;
  pairs_so_far.assign(size_t(R), 0);
  // Rows are visited in order, so each outbox's rows come out sorted; slot[r] is the row's
  // index in rank r's outbox (reset per row).
  std::vector<int32_t>& slot = slot_;
  slot.resize(size_t(R));
  for (int64_t row = 0; row < d.rows; ++row) {
    std::fill(slot.begin(), slot.end(), -1);
    for (int64_t j = 0; j < d.k; ++j) {
      const int64_t i = row * d.k + j;
      const int r = choose_holder(d.layer, d.ids[i], pairs_so_far);
      local[i] = r == 0;
      if (r == 0) continue;
      Outbox& box = outboxes_[size_t(r)];
      if (slot[size_t(r)] < 0) {
        slot[size_t(r)] = int32_t(box.rows.size());
        box.rows.push_back(int32_t(row));
      }
      box.pairs.push_back({.row = slot[size_t(r)], .expert = d.ids[i], .weight = d.weights[i]});
    }
  }
  inflight_ = true;
  for (int r = 1; r < R; ++r) {
    Outbox& box = outboxes_[size_t(r)];
    if (box.pairs.empty()) continue;
    pack(box, d, int32_t(d.layer));
    const auto reply = std::as_writable_bytes(std::span(box.reply));
    transfers_.receive(r, kTagReply, reply);
    transfers_.send(r, kTagRequest, box.message);
    traffic_[0].bytes_sent += int64_t(box.message.size());
    traffic_[size_t(r)].bytes_received += int64_t(box.message.size());
    traffic_[size_t(r)].bytes_sent += int64_t(reply.size());
    traffic_[0].bytes_received += int64_t(reply.size());
  }
}

void ExpertExchange::combine(float* out) {
  DSV3_CHECK(inflight_, "combine without a dispatch");
  transfers_.wait();
  inflight_ = false;
  // Rank order, so the sums do not depend on which rank answered first.
  for (int r = 1; r < comm_.size(); ++r) {
    const Outbox& box = outboxes_[size_t(r)];
    if (box.pairs.empty()) continue;
    for (size_t j = 0; j < box.rows.size(); ++j) {
      kernels::axpy(1.0f, box.reply.data() + j * size_t(hidden_), out + box.rows[j] * hidden_,
                    hidden_);
    }
  }
}

template <typename Reply>
std::vector<Reply> ExpertExchange::ask_every_rank(RequestKind kind) {
  const std::vector<std::byte> request = simple_request(kind);
  std::vector<Reply> replies(size_t(comm_.size()));
  dist::Transfers t;
  for (int r = 1; r < comm_.size(); ++r) {
    t.receive(r, kTagReply, std::as_writable_bytes(std::span(&replies[size_t(r)], 1)));
    t.send(r, kTagRequest, request);
  }
  t.wait();
  return replies;
}

std::vector<RankMemoryUse> ExpertExchange::memory_use() {
  std::vector<RankMemoryUse> all = ask_every_rank<RankMemoryUse>(RequestKind::kMemory);
  all[0] = {.rank = 0, .experts = placement_.experts_held(0),
            .weight_bytes = int64_t(model_.checkpoint().total_bytes()),
            .resident_bytes = resident_set_bytes()};
  return all;
}

int64_t ExpertExchange::prefault() {
  int64_t total = 0;
  for (int64_t b : ask_every_rank<int64_t>(RequestKind::kPrefault)) total += b;
  return total;
}

}  // namespace dsv3::parallel
