// Loading an expert-parallel job's shares (parallel::load_rank_model) as the ranks of a real
// job: the MpiJob test starts this binary under mpirun, and each rank runs the MultiRankLoad
// tests (ctest never runs those alone; see tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include "parallel/expert_worker.h"
#include "parallel/launch.h"
#include "support/golden.h"
#include "support/mpi_environment.h"
#include "support/mpirun.h"

namespace dsv3 {
namespace {

TEST(MpiJob, EveryRankLoadsTheMtpLayersRankZeroChose) {
  const auto r = testing::run_mpi(2, testing::self_exe() + " --gtest_color=no --gtest_filter='MultiRankLoad.*'", 120);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[  PASSED  ] 1 test"), std::string::npos) << r.out;
}

// Rank 0 asks for the MTP layer and the expert ranks not, then the other way round: every
// rank loads what rank 0 asked for (an expert rank does not know what the command wants), so
// that it holds the experts of the MTP layer exactly when rank 0 runs it.
TEST(MultiRankLoad, ExpertRanksFollowRankZerosMtpChoice) {
  const dist::Comm& w = dist::world();
  if (!w.distributed()) GTEST_SKIP() << "run by MpiJob.EveryRankLoadsTheMtpLayersRankZeroChose";
  const testing::GoldenCase g("v3-tiny");  // one MTP layer
  for (const bool rank0_wants_mtp : {true, false}) {
    ModelOptions o;
    o.load_mtp = w.is_root() ? rank0_wants_mtp : !rank0_wants_mtp;
    auto loaded = parallel::load_rank_model(w, g.checkpoint_dir(), o, {});
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;  // every rank agrees on the outcome
    EXPECT_EQ(loaded->model->mtp_depth(), rank0_wants_mtp ? 1 : 0) << w.describe();
    // Rank 0's model says goodbye to the expert ranks when it goes.
    if (!w.is_root()) parallel::serve_experts(w, *loaded->model, loaded->placement);
  }
}

}  // namespace
}  // namespace dsv3
