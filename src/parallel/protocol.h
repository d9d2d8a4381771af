// The messages between rank 0 and the expert ranks of an expert-parallel job. Rank 0 sends
// requests; an expert rank answers each one before taking the next. Messages are plain bytes
// (all ranks run the same dsv3 build on the same kind of CPU: little-endian, same layout).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "model/remote_experts.h"

namespace dsv3::parallel {

inline constexpr int kTagRequest = 101;
inline constexpr int kTagReply = 102;

enum class RequestKind : int32_t {
  // header | x [rows, hidden] f32 | pairs [pairs] ExpertPair (row indexes the rows sent)
  // reply: [rows, hidden] f32, sum over the pairs of each row of weight * expert(x[row])
  kExperts = 1,
  kPrefault = 2,  // reply: int64 bytes walked
  kMemory = 3,    // reply: RankMemoryUse
  kShutdown = 4,  // no reply: the rank leaves its loop
};

struct RequestHeader {
  RequestKind kind = RequestKind::kShutdown;
  int32_t layer = 0;  // checkpoint layer index
  int32_t rows = 0;
  int32_t pairs = 0;
};
static_assert(sizeof(RequestHeader) == 16);

inline std::span<const std::byte> as_bytes_of(const auto& value) {
  return std::as_bytes(std::span(&value, 1));
}

// A request without payload.
inline std::vector<std::byte> simple_request(RequestKind kind) {
  const RequestHeader h{.kind = kind};
  const auto b = as_bytes_of(h);
  return {b.begin(), b.end()};
}

}  // namespace dsv3::parallel
