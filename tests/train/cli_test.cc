// `dsv3 train` end to end through the binary: a short run stopped half way, resumed, and the
// checkpoint loaded by the inference engine. Skipped when the dsv3 binary is not built yet
// (train_tests does not depend on it).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "micro_model.h"
#include "model/transformer.h"

namespace dsv3::train {
namespace {

namespace fs = std::filesystem;

int run(const std::string& args, const std::string& log) {
  const std::string cmd = std::string(DSV3_BINARY) + " " + args + " > " + log + " 2>&1";
  return std::system(cmd.c_str());
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int count_lines(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

// The loss of the first update recorded in a metrics.jsonl.
double first_loss(const std::string& metrics) {
  const std::string text = read(metrics);
  const size_t at = text.find("\"loss\":");
  return at == std::string::npos ? 1e9 : std::atof(text.c_str() + at + 7);
}

TEST(TrainCli, StopResumeAndLoad) {
  ASSERT_TRUE(fs::exists(DSV3_BINARY)) << DSV3_BINARY << " is not built";
  const fs::path dir = fs::temp_directory_path() / ("dsv3_train_cli_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string config = (dir / "config.json").string(), data = (dir / "ids.txt").string();
  const std::string out = (dir / "run").string(), log = (dir / "log.txt").string();
  std::ofstream(config) << testing::micro_config_json();
  {
    std::ofstream ids(data);
    for (int i = 0; i < 2000; ++i) ids << (i * 7 + i / 13) % 64 << (i % 20 == 19 ? "\n" : " ");
  }
  const std::string common = "train --config " + config + " --data " + data + " --out " + out +
                             " --steps 6 --batch 2 --seq 16 --warmup 2 --lr 0.01 -t 2";
  ASSERT_EQ(run(common + " --stop-after 3", log), 0) << read(log);
  EXPECT_EQ(count_lines(out + "/metrics.jsonl"), 3);
  // A second fresh run into the same directory is refused.
  EXPECT_NE(run(common, log), 0);
  EXPECT_NE(read(log).find("--resume"), std::string::npos) << read(log);
  ASSERT_EQ(run(common + " --resume --val-data " + data + " --eval-every 2", log), 0) << read(log);
  EXPECT_NE(read(log).find("validation at step 4"), std::string::npos) << read(log);
  EXPECT_NE(read(log).find("validation at step 6"), std::string::npos) << read(log);
  EXPECT_EQ(count_lines(out + "/metrics.jsonl"), 8);  // 6 steps + evaluations at 4 and 6
  const std::string metrics = read(out + "/metrics.jsonl");
  for (const char* key : {"\"loss\"", "\"mtp_loss\"", "\"lr\"", "\"grad_norm\"", "\"max_vio\"",
                          "\"load\"", "\"tok_per_s\"", "\"eval\""}) {
    EXPECT_NE(metrics.find(key), std::string::npos) << key;
  }
  // --eval-only re-evaluates the saved run without its training data.
  ASSERT_EQ(run("train --eval-only --out " + out + " --val-data " + data, log), 0) << read(log);
  EXPECT_NE(read(log).find("MaxVio over the set"), std::string::npos) << read(log);
  EXPECT_NE(read(log).find("{\"step\":6,\"eval\":"), std::string::npos) << read(log);
  EXPECT_EQ(count_lines(out + "/metrics.jsonl"), 8);  // untouched
  EXPECT_NE(run("train --eval-only --out " + out, log), 0);
  EXPECT_NE(read(log).find("--val-data"), std::string::npos) << read(log);
  Result<std::unique_ptr<Model>> model = Model::load(out, {.max_positions = 64});
  ASSERT_TRUE(model.ok()) << model.error().message;
  EXPECT_EQ((*model)->mtp_depth(), 1);
  // --init-from: a new run (longer sequences) that starts from the trained weights begins with
  // a lower loss than the same run from fresh weights.
  const std::string tuned = (dir / "tuned").string(), fresh = (dir / "fresh").string();
  const std::string longer = " --data " + data + " --steps 2 --batch 2 --seq 32 --lr 0.001 -t 2";
  ASSERT_EQ(run("train --init-from " + out + " --out " + tuned + longer, log), 0) << read(log);
  ASSERT_EQ(run("train --config " + config + " --out " + fresh + longer, log), 0) << read(log);
  EXPECT_LT(first_loss(tuned + "/metrics.jsonl"), first_loss(fresh + "/metrics.jsonl") - 0.05);
  EXPECT_NE(run("train --init-from " + out + " --config " + config + " --out " +
                    (dir / "y").string() + longer,
                log),
            0);
  EXPECT_NE(read(log).find("--init-from"), std::string::npos) << read(log);
  EXPECT_NE(run("train --init-from " + out + " --resume --out " + tuned + longer, log), 0);
  EXPECT_NE(read(log).find("--init-from"), std::string::npos) << read(log);
  // Bad input is reported, not crashed on.
  const std::string bad = (dir / "bad.txt").string();
  std::ofstream(bad) << "1 2 hello";
  EXPECT_NE(run("train --config " + config + " --data " + bad + " --out " + (dir / "x").string(),
                log),
            0);
  EXPECT_NE(read(log).find("expected a token id"), std::string::npos) << read(log);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsv3::train
