// The collectives of dist::Comm. Every Collectives.* test runs twice: by ctest as a plain
// process (a group of one: copies), and under `mpirun -np 2` and `-np 3` through the
// launcher tests below, which start this same binary as the ranks of a job. Tests that only
// mean something with several ranks live in suites named MultiRank*: ctest's discovery
// leaves them out (tests/CMakeLists.txt), and only the MpiJob tests run them, as ranks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>

#include "dist/communicator.h"
#include "support/mpi_environment.h"
#include "support/mpirun.h"

namespace dsv3 {
namespace {

using dist::world;

TEST(Collectives, RankAndSize) {
  const auto& w = world();
  EXPECT_GE(w.size(), 1);
  EXPECT_GE(w.rank(), 0);
  EXPECT_LT(w.rank(), w.size());
  EXPECT_EQ(w.is_root(), w.rank() == 0);
  EXPECT_EQ(w.distributed(), w.size() > 1);
  EXPECT_NE(w.describe().find("rank " + std::to_string(w.rank())), std::string::npos);
}

TEST(Collectives, AllreduceSumsInRankOrderOnEveryRank) {
  const auto& w = world();
  const int R = w.size();
  // Lengths below, at and above the rank count, so some ranks own empty chunks.
  for (size_t n : {size_t(1), size_t(2), size_t(3), size_t(7), size_t(1000)}) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = float(w.rank() + 1) * 0.1f + float(i);
    w.allreduce_sum(std::span(v));
    for (size_t i = 0; i < n; ++i) {
      float want = 0;
      for (int r = 0; r < R; ++r) want += float(r + 1) * 0.1f + float(i);  // rank order
      ASSERT_EQ(v[i], want) << "n " << n << " element " << i;
    }
    // Every rank holds the same bits.
    const auto all = w.allgather(std::span<const float>(v));
    for (int r = 1; r < R; ++r) {
      ASSERT_EQ(std::memcmp(all.data(), all.data() + r * n, n * sizeof(float)), 0);
    }
  }
  std::vector<int64_t> counts = {int64_t(w.rank()), 1};
  w.allreduce_sum(std::span(counts));
  EXPECT_EQ(counts[0], int64_t(R) * (R - 1) / 2);
  EXPECT_EQ(counts[1], R);
  std::vector<double> d = {0.5};
  w.allreduce_sum(std::span(d));
  EXPECT_EQ(d[0], 0.5 * R);
}

TEST(Collectives, BroadcastFromAnyRoot) {
  const auto& w = world();
  for (int root = 0; root < w.size(); ++root) {
    std::vector<int32_t> v(5, w.rank() == root ? 42 + root : -1);
    w.broadcast(std::span(v), root);
    for (int32_t x : v) EXPECT_EQ(x, 42 + root);
  }
  std::vector<float> sized = w.is_root() ? std::vector<float>{1, 2, 3} : std::vector<float>{};
  w.broadcast(sized);
  EXPECT_EQ(sized, (std::vector<float>{1, 2, 3}));
  std::string text = w.is_root() ? "placement" : "";
  w.broadcast(text);
  EXPECT_EQ(text, "placement");
}

TEST(Collectives, AllgatherAndAllgatherv) {
  const auto& w = world();
  const int64_t mine = 10 * w.rank();
  const auto all = w.allgather(std::span(&mine, 1));
  ASSERT_EQ(all.size(), size_t(w.size()));
  for (int r = 0; r < w.size(); ++r) EXPECT_EQ(all[size_t(r)], 10 * r);

  // Rank r contributes r + 1 copies of r.
  std::vector<int32_t> part(size_t(w.rank() + 1), w.rank());
  std::vector<int64_t> counts;
  const auto joined = w.allgatherv(std::span<const int32_t>(part), &counts);
  size_t at = 0;
  for (int r = 0; r < w.size(); ++r) {
    EXPECT_EQ(counts[size_t(r)], r + 1);
    for (int j = 0; j <= r; ++j) EXPECT_EQ(joined[at++], r);
  }
  EXPECT_EQ(at, joined.size());
}

TEST(Collectives, AlltoallvDeliversEachRankItsPart) {
  const auto& w = world();
  const int R = w.size();
  // Rank s sends d + 1 values "100 s + d" to rank d.
  std::vector<int64_t> send_counts(static_cast<size_t>(R));
  std::vector<float> send;
  for (int d = 0; d < R; ++d) {
    send_counts[size_t(d)] = d + 1;
    for (int j = 0; j <= d; ++j) send.push_back(float(100 * w.rank() + d));
  }
  std::vector<int64_t> recv_counts;
  const auto got = w.alltoallv(std::span<const float>(send), std::span<const int64_t>(send_counts),
                               recv_counts);
  size_t at = 0;
  for (int s = 0; s < R; ++s) {
    EXPECT_EQ(recv_counts[size_t(s)], w.rank() + 1);
    for (int j = 0; j <= w.rank(); ++j) EXPECT_EQ(got[at++], float(100 * s + w.rank()));
  }
  EXPECT_EQ(at, got.size());
}

TEST(Collectives, AgreeNamesEveryFailedRank) {
  const auto& w = world();
  EXPECT_TRUE(w.agree(OkStatus()).ok());
  const Status mine = w.rank() == w.size() - 1 ? Status(Err("shard missing")) : OkStatus();
  const Status all = w.agree(mine);
  ASSERT_FALSE(all.ok());
  EXPECT_NE(all.error().message.find("rank " + std::to_string(w.size() - 1) + " of " +
                                     std::to_string(w.size())),
            std::string::npos)
      << all.error().message;
  EXPECT_NE(all.error().message.find("shard missing"), std::string::npos);
}

TEST(MultiRankCollectives, PointToPointMessagesOfUnknownSize) {
  const auto& w = world();
  if (!w.distributed()) GTEST_SKIP() << "needs two ranks (run by MpiJob.CollectivesOn*Ranks)";
  if (w.is_root()) {
    for (int r = 1; r < w.size(); ++r) {
      std::vector<std::byte> bytes(size_t(1000 * r), std::byte(r));
      w.send(r, 7, bytes);
    }
  } else {
    const dist::Message m = w.receive_any_size(0);
    EXPECT_EQ(m.tag, 7);
    ASSERT_EQ(m.bytes.size(), size_t(1000 * w.rank()));
    EXPECT_EQ(m.bytes.back(), std::byte(w.rank()));
  }
  w.barrier();
}

// --- The same tests as the ranks of real jobs.

// What each rank of the collectives jobs runs.
const std::string kCollectives = "'Collectives.*:MultiRankCollectives.*'";

TEST(MpiJob, CollectivesOnTwoRanks) {
  const auto r = testing::run_mpi(2, testing::self_exe() + " --gtest_filter=" + kCollectives, 120);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASSED"), std::string::npos) << r.out;
}

TEST(MpiJob, CollectivesOnThreeRanks) {
  const auto r = testing::run_mpi(3, testing::self_exe() + " --gtest_filter=" + kCollectives, 120);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(MpiJob, AbortOnOneRankEndsTheJobWithItsMessage) {
  // Rank 1 aborts while rank 0 waits in a collective that can never complete: the launcher
  // must end the job (not hang), and the message must name the rank.
  const auto r = testing::run_mpi(2, testing::self_exe() + " --gtest_filter='MultiRankAbortProbe.*'", 60);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 124) << "the job hung until the timeout";
  EXPECT_NE(r.err.find("rank 1 of 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("probe failure"), std::string::npos) << r.err;
}

// Only meaningful as a rank of the job above (alone it skips; ctest never runs it alone).
TEST(MultiRankAbortProbe, RankOneAborts) {
  const auto& w = world();
  if (!w.distributed()) GTEST_SKIP() << "run by MpiJob.AbortOnOneRankEndsTheJobWithItsMessage";
  if (w.rank() == 1) w.abort("probe failure");
  w.barrier();
}

}  // namespace
}  // namespace dsv3
