// Expert-parallel inference as users run it: `mpirun -np 2 dsv3 ...` against the same command
// alone, on the golden models. Each job takes about a second.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/run_dsv3.h"
#include "io/checkpoint.h"
#include "io/safetensors_writer.h"
#include "model/weights.h"
#include "support/files.h"
#include "support/golden.h"
#include "support/mpirun.h"
#include "support/param_names.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;
using testing::GoldenCase;
using testing::run_dsv3;
using testing::run_dsv3_mpi;

using testing::join;
using testing::read_floats;

std::string temp_file(const std::string& name) {
  return (fs::temp_directory_path() / ("dsv3_ep_" + std::to_string(::getpid()) + "_" + name)).string();
}

class ExpertParallel : public ::testing::TestWithParam<const char*> {};

// The logits of every position, prefill and one token at a time, equal the single-process
// ones within float rounding (the partial sums of the experts are added in another order).
TEST_P(ExpertParallel, LogitsEqualTheSingleProcessLogits) {
  GoldenCase g(GetParam());
  const std::string tokens = join(g.array("p2.tokens").i32);
  const std::string alone = temp_file("alone.bin"), job = temp_file("job.bin");
  for (const char* mode : {"prefill", "decode"}) {
    const std::string args = std::string("logits --mode ") + mode + " --model " +
                             g.checkpoint_dir() + " --tokens " + tokens + " --out ";
    auto a = run_dsv3(args + alone);
    ASSERT_EQ(a.exit_code, 0) << a.err;
    auto r = run_dsv3_mpi(2, args + job);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto want = read_floats(alone), got = read_floats(job);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_LT(testing::max_abs_diff(got.data(), want.data(), want.size()), 1e-4f) << mode;
    // And against the reference implementation's goldens, as the single process is tested.
    const auto& golden = g.array("p2.logits_prefill").f32;
    EXPECT_LT(testing::max_abs_diff(got.data(), golden.data(), golden.size()), 1e-3f) << mode;
  }
}

TEST_P(ExpertParallel, GenerationIsIdentical) {
  GoldenCase g(GetParam());
  const std::string args = "generate --model " + g.checkpoint_dir() + " --tokens " +
                           join(g.array("p2.tokens").i32) + " --max-new-tokens 16";
  auto a = run_dsv3(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto r = run_dsv3_mpi(2, args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, a.out);
  // Three ranks, second copies of the hottest experts balanced from a load file.
  const std::string load = temp_file("load.json");
  auto b = run_dsv3_mpi(2, "bench -t 1 -p 16 -n 8 -r 1 --probe-mib 0 --mtp off --model " +
                               g.checkpoint_dir() + " --save-expert-load " + load);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto balanced = run_dsv3_mpi(3, args + " --expert-load " + load + " --redundant-experts 2");
  ASSERT_EQ(balanced.exit_code, 0) << balanced.err;
  EXPECT_EQ(balanced.out, a.out);
}

INSTANTIATE_TEST_SUITE_P(Goldens, ExpertParallel, ::testing::Values("v3-tiny", "v2lite-tiny"),
                         testing::golden_case_test_name);

TEST(ExpertParallelJob, MtpLogitsEqualTheSingleProcessOnes) {
  GoldenCase g("v3-tiny");
  const std::string args = "logits --mtp --model " + g.checkpoint_dir() + " --tokens " +
                           join(g.array("p2.tokens").i32) + " --out ";
  const std::string alone = temp_file("mtp_alone.bin"), job = temp_file("mtp_job.bin");
  ASSERT_EQ(run_dsv3(args + alone).exit_code, 0);
  auto r = run_dsv3_mpi(2, args + job);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto want = read_floats(alone), got = read_floats(job);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_LT(testing::max_abs_diff(got.data(), want.data(), want.size()), 1e-4f);
}

TEST(ExpertParallelJob, BenchReportsMemoryAndTrafficPerRank) {
  GoldenCase g("v3-tiny");
  auto r = run_dsv3_mpi(2, "bench -t 1 -p 16 -n 8 -r 1 --probe-mib 0 --mtp off --json --model " +
                               g.checkpoint_dir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);  // one object, printed by rank 0 only
  ASSERT_EQ(j["ranks"].size(), 2u);
  for (const auto& rank : j["ranks"]) {
    EXPECT_GT(rank["weight_bytes"].get<double>(), 0);
    EXPECT_GT(rank["resident_bytes"].get<double>(), 0);
    EXPECT_GT(rank["bytes_sent_per_token"].get<double>(), 0);
    EXPECT_EQ(rank["experts"].get<int>(), 16);  // 16 experts x 2 MoE layers (main + MTP) / 2
  }
  // Rank 0 holds the dense part; rank 1 only its experts.
  EXPECT_GT(j["ranks"][0]["weight_bytes"].get<double>(), j["ranks"][1]["weight_bytes"].get<double>());
  EXPECT_GT(j["network_bytes_per_token"].get<double>(), 0);
}

// --- How every rank ends: the expert ranks leave when rank 0 is done, with its status.

// `dsv3 <args>` as `ranks` ranks (`launcher_flags` go to mpirun), each rank's exit status
// appended to stderr as "rank R exit S" by a shell around it (which then exits with it).
testing::MpiRunResult run_dsv3_mpi_reporting_exits(int ranks, const std::string& args,
                                                   const std::string& launcher_flags = "") {
  return testing::run_mpi(ranks,
                          launcher_flags + " sh -c '" + std::string(DSV3_BINARY) + " " + args +
                              "; s=$?; echo \"rank $OMPI_COMM_WORLD_RANK exit $s\" >&2; exit $s'",
                          60);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string generate_args() {
  return "generate --model " + GoldenCase("v3-tiny").checkpoint_dir() + " --tokens 0,5,17 -n 4";
}

TEST(ExpertParallelJob, EveryRankExitsZeroWhenRankZeroIsDone) {
  auto r = run_dsv3_mpi_reporting_exits(3, generate_args());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* rank : {"rank 0 exit 0", "rank 1 exit 0", "rank 2 exit 0"}) {
    EXPECT_NE(r.err.find(rank), std::string::npos) << r.err;
  }
  EXPECT_EQ(count(r.out, "\n"), 1u) << "only rank 0 runs the command: " << r.out;
}

// --- Failures end the whole job with a message naming the rank, never a hang.

// A rank that cannot load (a test hook's environment variable makes it fail): every rank
// leaves with status 1, and rank 0 prints the failure once, naming the rank.
void expect_load_failure_ends_every_rank(int failing_rank) {
  auto r = run_dsv3_mpi_reporting_exits(
      2, generate_args(), "-x DSV3_TEST_FAIL_LOAD_RANK=" + std::to_string(failing_rank));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("rank 0 exit 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rank 1 exit 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rank " + std::to_string(failing_rank) + " of 2"), std::string::npos) << r.err;
  EXPECT_EQ(count(r.err, "injected load failure"), 1u) << r.err;
}

TEST(ExpertParallelJob, ARankThatCannotLoadStopsTheJob) { expect_load_failure_ends_every_rank(1); }

TEST(ExpertParallelJob, ALoadFailureOnRankZeroEndsEveryRankWithStatusOne) {
  expect_load_failure_ends_every_rank(0);
}

TEST(ExpertParallelJob, ARankThatDiesStopsTheJob) {
  auto r = testing::run_mpi(2, "-x DSV3_TEST_DIE_RANK=1 " + std::string(DSV3_BINARY) + " " +
                                   generate_args(), 60);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 124) << "the job hung";
  EXPECT_NE(r.err.find("rank 1 of 2"), std::string::npos) << r.err;
}

// An error of the command on rank 0, before it loads the model (the expert ranks wait in the
// loading) and after (they wait for requests): the job ends with status 1 and rank 0's
// message, printed once (the expert ranks never run the command).
TEST(ExpertParallelJob, AnErrorOfTheFrontEndEndsTheJobWithStatusOne) {
  GoldenCase g("v3-tiny");
  const std::string logits = "logits --model " + g.checkpoint_dir() + " --out " + temp_file("err.bin");
  struct Case {
    const char* tokens;
    const char* message;
  };
  for (const Case& c : {Case{"abc", "expected comma-separated non-negative token ids"},
                        Case{"999999", "outside the vocabulary"}}) {
    auto r = run_dsv3_mpi(2, logits + " --tokens " + c.tokens, 60);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(count(r.err, c.message), 1u) << r.err;
    EXPECT_NE(r.err.find("rank 0 of 2"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("rank 1 of 2"), std::string::npos) << r.err;
  }
}

// A copy of v3-tiny whose layer-1 experts 8..15 (rank 1's under the contiguous placement)
// sit in a shard of their own, which is then deleted: rank 0 must not need it (it opens only
// its shards), rank 1 must fail naming the file, and the job must stop.
TEST(ExpertParallelJob, AMissingExpertShardStopsTheJobNamingTheRankAndFile) {
  GoldenCase g("v3-tiny");
  auto ck = Checkpoint::open(g.checkpoint_dir());
  ASSERT_TRUE(ck.ok()) << ck.error().message;
  const std::string dir = temp_file("split_ckpt");
  fs::create_directories(dir);
  fs::copy_file(g.checkpoint_dir() + "/config.json", dir + "/config.json",
                fs::copy_options::overwrite_existing);
  std::vector<TensorToWrite> main_part, rank1_part;
  nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", nlohmann::json::object()}};
  for (const auto& [name, t] : ck->tensors()) {
    const auto expert = routed_expert_of(name);
    const bool rank1 = expert && expert->first == 1 && expert->second >= 8;
    (rank1 ? rank1_part : main_part)
        .push_back({.name = name, .dtype = t.dtype, .shape = t.shape, .bytes = {t.data, t.nbytes}});
    index["weight_map"][name] = rank1 ? "rank1-experts.safetensors" : "main.safetensors";
  }
  ASSERT_TRUE(write_safetensors(dir + "/main.safetensors", main_part).ok());
  std::ofstream(dir + "/model.safetensors.index.json") << index.dump();
  // rank1-experts.safetensors is never written: the disk of rank 1's machine lacks it.
  auto r = run_dsv3_mpi(2, "generate --model " + dir + " --tokens 0,5,17 -n 4", 60);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("rank 1 of 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rank1-experts.safetensors"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("rank 0 of 2"), std::string::npos) << "rank 0 needed the shard: " << r.err;
  fs::remove_all(dir);
}

// --- Planning without mpirun.

TEST(InfoRanks, PlansMemoryPerRankForACheckpoint) {
  GoldenCase g("v3-tiny");
  auto r = run_dsv3("info --model " + g.checkpoint_dir() + " --ranks 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("expert parallelism    2 ranks, contiguous placement"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("network per token"), std::string::npos) << r.out;
}

TEST(InfoRanks, PlansV3_671bFromThePresetAlone) {
  auto r = run_dsv3("info --preset v3-671b --dtype fp8 --ranks 8 --ctx 4096");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The FP8 release holds ~689 GB (641 GiB) of tensors, MTP layer included.
  EXPECT_NE(r.out.find("(641."), std::string::npos) << r.out;
  // 256 experts x 59 MoE layers (58 + MTP) / 8 ranks.
  EXPECT_NE(r.out.find("1888"), std::string::npos) << r.out;
  auto bad = run_dsv3("info --preset v3-671b --model x");
  EXPECT_NE(bad.exit_code, 0);
}

}  // namespace
}  // namespace dsv3
