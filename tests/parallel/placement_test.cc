// Expert placement and the per-rank memory plan (no MPI involved).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "io/checkpoint.h"
#include "model/memory_plan.h"
#include "model/presets.h"
#include "parallel/launch.h"
#include "support/golden.h"

namespace dsv3 {
namespace {

ModelConfig v3_tiny() {
  auto c = load_model_config(testing::GoldenCase("v3-tiny").checkpoint_dir());
  EXPECT_TRUE(c.ok());
  return c.value();
}

TEST(Placement, ContiguousBlocksCoverEveryExpertOnce) {
  const ModelConfig c = v3_tiny();  // 16 experts, MoE layer 1 and MTP layer 2
  EXPECT_EQ(moe_layer_indices(c), (std::vector<int64_t>{1, 2}));
  for (int R : {1, 2, 3, 16, 20}) {
    const ExpertPlacement p = contiguous_placement(c, R);
    EXPECT_FALSE(p.is_moe_layer(0));
    for (int64_t l : {1, 2}) {
      for (int64_t e = 0; e < 16; ++e) {
        ASSERT_EQ(p.owners(l, e).size(), 1u);
        if (e > 0) {
          EXPECT_GE(p.owners(l, e)[0], p.owners(l, e - 1)[0]) << "blocks, in rank order";
        }
      }
    }
    int64_t total = 0;
    for (int r = 0; r < R; ++r) total += p.experts_held(r);
    EXPECT_EQ(total, 32);
  }
  const ExpertPlacement two = contiguous_placement(c, 2);
  EXPECT_TRUE(two.holds(0, 1, 7));
  EXPECT_TRUE(two.holds(1, 1, 8));
  EXPECT_FALSE(two.holds(0, 1, 8));
}

TEST(Placement, BalancesMeasuredLoadAndCopiesTheHottest) {
  const ModelConfig c = v3_tiny();
  ExpertLoad load;
  load[1] = std::vector<double>(16, 1.0);
  load[1][3] = 40;  // one very hot expert
  load[1][5] = 10;
  const ExpertPlacement p = balanced_placement(c, 2, load, /*redundant=*/1);
  EXPECT_EQ(p.owners(1, 3).size(), 2u) << "the hottest expert gets a second copy";
  EXPECT_EQ(p.owners(1, 5).size(), 1u);
  // Memory stays balanced: (16 + 1) copies over 2 ranks, at most 9 each.
  int64_t held0 = 0, held1 = 0;
  for (int64_t e = 0; e < 16; ++e) {
    held0 += p.holds(0, 1, e);
    held1 += p.holds(1, 1, e);
  }
  EXPECT_EQ(held0 + held1, 17);
  EXPECT_LE(std::max(held0, held1), 9);
  // The load splits close to even (the hot expert is shared).
  const std::vector<double> shares = load_shares(p, {{1, load[1]}, {2, std::vector<double>(16, 1.0)}});
  EXPECT_NEAR(shares[0], 0.5, 0.05);
  EXPECT_NEAR(shares[1], 0.5, 0.05);
  // Deterministic.
  EXPECT_EQ(balanced_placement(c, 2, load, 1).to_ints(), p.to_ints());
}

TEST(Placement, TravelsAsIntsAndRefusesAnotherConfig) {
  const ModelConfig c = v3_tiny();
  const ExpertPlacement p = balanced_placement(c, 3, {}, 2);
  const auto ints = p.to_ints();
  auto back = ExpertPlacement::from_ints(ints, c);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->to_ints(), ints);
  ModelConfig other = c;
  other.num_hidden_layers = 5;
  auto bad = ExpertPlacement::from_ints(ints, other);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("config.json"), std::string::npos) << bad.error().message;
}

TEST(Placement, ExpertLoadFileErrorsNameTheLayer) {
  const ModelConfig c = v3_tiny();
  const std::string path = (std::filesystem::temp_directory_path() /
                           ("dsv3_load_test_" + std::to_string(::getpid()) + ".json")).string();
  std::ofstream(path) << R"({"expert_load": {"0": [1]}})";
  auto r = read_expert_load(path, c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("expert_load['0'] is not a MoE layer"), std::string::npos)
      << r.error().message;
  std::ofstream(path) << R"({"expert_load": {"1": [1, 2]}})";
  r = read_expert_load(path, c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("16 counts"), std::string::npos) << r.error().message;
  ExpertLoad good;
  good[1] = std::vector<double>(16, 2.0);
  std::ofstream(path) << expert_load_json(good);
  r = read_expert_load(path, c);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value(), good);
  EXPECT_FALSE(parallel::plan_placement(c, 2, {.expert_load_path = "/nonexistent.json"}).ok());
}

TEST(MemoryPlan, RanksAddUpToTheCheckpoint) {
  const testing::GoldenCase g("v3-tiny");
  const ModelConfig c = v3_tiny();
  auto ck = Checkpoint::open(g.checkpoint_dir());
  ASSERT_TRUE(ck.ok());
  std::vector<TensorBytes> tensors;
  for (const auto& [name, t] : ck->tensors()) tensors.push_back({name, t.nbytes});
  const auto plan = plan_rank_memory(c, contiguous_placement(c, 2), tensors, 100);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].expert_bytes + plan[1].expert_bytes + plan[0].dense_bytes,
            double(ck->total_bytes()));
  EXPECT_EQ(plan[1].dense_bytes, 0);
  EXPECT_EQ(plan[0].expert_bytes, plan[1].expert_bytes);
  EXPECT_EQ(plan[0].kv_bytes, 3.0 * double(c.kv_cache_width()) * 4 * 100);  // 2 layers + MTP
  EXPECT_EQ(plan[1].kv_bytes, 0);
  // Alone, nothing travels; with 2 ranks a token reaches rank 1 most of the time.
  EXPECT_EQ(estimate_traffic(c, contiguous_placement(c, 1)).bytes_per_token, 0);
  const TrafficEstimate t = estimate_traffic(c, contiguous_placement(c, 2));
  EXPECT_GT(t.ranks_per_layer, 0.9);  // 1 - C(8,4)/C(16,4) = 0.96
  EXPECT_LT(t.ranks_per_layer, 1.0);
}

// A rank opens only the shards holding its tensors.
TEST(MemoryPlan, FilteredCheckpointOpensOnlyNeededShards) {
  const testing::GoldenCase g("v3-tiny");  // shard 2 holds the MTP layer (layer 2)
  auto all = Checkpoint::open(g.checkpoint_dir());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->num_shards_open(), 2u);
  auto main_only = Checkpoint::open(g.checkpoint_dir(), [](const std::string& name) {
    return name.rfind("model.layers.2.", 0) != 0;
  });
  ASSERT_TRUE(main_only.ok()) << main_only.error().message;
  EXPECT_EQ(main_only->num_shards_open(), 1u);
  EXPECT_FALSE(main_only->has("model.layers.2.eh_proj.weight"));
}

}  // namespace
}  // namespace dsv3
