// Training checkpoints survive a kill at any moment of a save. `dsv3 train` runs as a
// subprocess and is killed (SIGKILL, via the DSV3_TEST_CRASH_AT hook of io/crash_hook.h) inside
// each file of a checkpoint and between the steps that make it current; `--resume` must then
// succeed and end with the same weight bytes as an uninterrupted run of the same seed, and
// nothing the killed save left may remain.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

#include "micro_model.h"
#include "model/transformer.h"
#include "train/checkpoint_run.h"
#include "train/trainer.h"

namespace dsv3::train {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The raw status of std::system: the test needs to tell "killed" from "exited" (exec, so the
// status is dsv3's own, not the shell's).
int run(const std::string& env, const std::string& args, const std::string& log) {
  const std::string cmd = "exec env " + env + " " + std::string(DSV3_BINARY) + " " + args + " > " + log + " 2>&1";
  return std::system(cmd.c_str());
}
bool killed(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }
bool succeeded(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

// Step directories and leftovers of killed saves in a run folder.
std::vector<std::string> entries(const fs::path& run) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(run)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class KilledSave : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dsv3_killed_save_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "config.json") << testing::micro_config_json();
    std::ofstream ids(dir_ / "ids.txt");
    for (int i = 0; i < 1500; ++i) ids << (i * 7 + i / 13) % 64 << (i % 20 == 19 ? "\n" : " ");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Six updates, a checkpoint every two: saves #1 (step 2), #2 (step 4), #3 (step 6, final).
  std::string train_args(const fs::path& out) const {
    return "train --config " + (dir_ / "config.json").string() + " --data " +
           (dir_ / "ids.txt").string() + " --out " + out.string() +
           " --steps 6 --batch 2 --seq 16 --warmup 2 --lr 0.01 --save-every 2 -t 1";
  }
  std::string log() const { return (dir_ / "log.txt").string(); }

  fs::path dir_;
};

TEST_F(KilledSave, ResumeAlwaysSucceedsAndEndsBitIdentical) {
  ASSERT_TRUE(fs::exists(DSV3_BINARY)) << DSV3_BINARY << " is not built";
  const fs::path base = dir_ / "base";
  ASSERT_TRUE(succeeded(run("", train_args(base), log()))) << read(log());
  const std::string shard = "model-00001-of-00001.safetensors";
  const std::string expected = read(base / shard);
  ASSERT_GT(expected.size(), 1000u);
  const auto optimizer_size = fs::file_size(base / "optimizer.safetensors");

  // Inside each file of the second or third save, and between the steps of the switch; the
  // byte counts inside the big files are drawn from a fixed seed.
  std::mt19937 rng(7);
  auto some_byte = [&rng](uint64_t size) { return std::to_string(rng() % size); };
  const std::vector<std::string> points = {
      shard + "@0#2",
      shard + "@" + some_byte(expected.size()) + "#2",
      shard + "@" + std::to_string(expected.size()) + "#3",  // every byte, not yet renamed
      "model.safetensors.index.json@10#2",
      "config.json@5#3",
      "optimizer.safetensors@" + some_byte(optimizer_size) + "#2",
      "optimizer.safetensors@" + some_byte(optimizer_size) + "#3",
      "checkpoint-written#2",
      "checkpoint-renamed#2",
      "checkpoint-switched#2",
      "checkpoint-switched#3",
  };
  for (const std::string& point : points) {
    SCOPED_TRACE(point);
    const fs::path out = dir_ / "killed";
    fs::remove_all(out);
    const int status = run("DSV3_TEST_CRASH_AT=" + point, train_args(out), log());
    ASSERT_TRUE(killed(status)) << "not killed (status " << status << "): " << read(log());
    ASSERT_TRUE(holds_training_run(out.string()));
    ASSERT_TRUE(succeeded(run("", train_args(out) + " --resume", log()))) << read(log());
    EXPECT_EQ(read(out / shard), expected) << "weights differ from the uninterrupted run";
    EXPECT_EQ(read(out / "optimizer.safetensors"), read(base / "optimizer.safetensors"));
    EXPECT_EQ(entries(out), entries(base)) << "leftovers of the killed save";
  }
  EXPECT_EQ(entries(base),
            (std::vector<std::string>{"config.json", "current", "metrics.jsonl",
                                      "model-00001-of-00001.safetensors",
                                      "model.safetensors.index.json", "optimizer.safetensors",
                                      "step-00000006"}));
}

// A kill during the very first save leaves no checkpoint: --resume says so, and a fresh run
// into the same folder starts over without tripping on the leftovers.
TEST_F(KilledSave, FirstSaveKilledLeavesAFolderAFreshRunCanUse) {
  ASSERT_TRUE(fs::exists(DSV3_BINARY)) << DSV3_BINARY << " is not built";
  const fs::path out = dir_ / "first";
  ASSERT_TRUE(killed(run("DSV3_TEST_CRASH_AT=checkpoint-renamed", train_args(out), log())));
  EXPECT_FALSE(holds_training_run(out.string()));
  EXPECT_FALSE(succeeded(run("", train_args(out) + " --resume", log())));
  EXPECT_NE(read(log()).find("no training run"), std::string::npos) << read(log());
  ASSERT_TRUE(succeeded(run("", train_args(out), log()))) << read(log());
  EXPECT_TRUE(fs::is_directory(out / "step-00000006"));
  EXPECT_FALSE(fs::exists(out / "step-00000002"));
}

// The run folder is a model directory (links to the current checkpoint's files) for every
// command that takes one; a finished run resumed with nothing left to do stays as it is.
TEST_F(KilledSave, RunFolderIsAModelDirectory) {
  ASSERT_TRUE(fs::exists(DSV3_BINARY)) << DSV3_BINARY << " is not built";
  const fs::path out = dir_ / "run";
  ASSERT_TRUE(succeeded(run("", train_args(out), log()))) << read(log());
  EXPECT_TRUE(fs::is_symlink(out / "config.json"));
  EXPECT_EQ(fs::read_symlink(out / kCurrentCheckpointLink), "step-00000006");
  auto model = Model::load(out.string(), {.max_positions = 32});
  ASSERT_TRUE(model.ok()) << model.error().message;
  const std::string q = (dir_ / "q").string();
  ASSERT_TRUE(succeeded(run("", "quantize --model " + out.string() + " --to bf16 --out " + q, log())))
      << read(log());
  ASSERT_TRUE(succeeded(run("", "train --eval-only --out " + out.string() + " --val-data " +
                                    (dir_ / "ids.txt").string(), log())))
      << read(log());
  const fs::path tuned = dir_ / "tuned";
  ASSERT_TRUE(succeeded(run("", "train --init-from " + out.string() + " --data " +
                                    (dir_ / "ids.txt").string() + " --out " + tuned.string() +
                                    " --steps 1 --batch 2 --seq 16 -t 1", log())))
      << read(log());
  ASSERT_TRUE(succeeded(run("", train_args(out) + " --resume", log()))) << read(log());
  EXPECT_EQ(fs::read_symlink(out / kCurrentCheckpointLink), "step-00000006");
}

// A run written by an older dsv3 (checkpoint files directly in the folder) resumes, and its
// first save moves it to the new layout.
TEST_F(KilledSave, RunOfTheOlderFlatLayoutResumes) {
  ASSERT_TRUE(fs::exists(DSV3_BINARY)) << DSV3_BINARY << " is not built";
  const fs::path base = dir_ / "base", out = dir_ / "flat";
  ASSERT_TRUE(succeeded(run("", train_args(base), log()))) << read(log());
  ASSERT_TRUE(succeeded(run("", train_args(out) + " --stop-after 4", log()))) << read(log());
  const fs::path step = out / "step-00000004";
  for (const auto& e : fs::directory_iterator(step)) {
    fs::remove(out / e.path().filename());
    fs::copy_file(e.path(), out / e.path().filename());
  }
  fs::remove(out / kCurrentCheckpointLink);
  fs::remove_all(step);
  ASSERT_TRUE(holds_training_run(out.string()));
  ASSERT_TRUE(succeeded(run("", train_args(out) + " --resume", log()))) << read(log());
  EXPECT_EQ(read(out / "model-00001-of-00001.safetensors"),
            read(base / "model-00001-of-00001.safetensors"));
  EXPECT_TRUE(fs::is_symlink(out / "optimizer.safetensors"));
  EXPECT_EQ(entries(out), entries(base));
}

// Saving twice at the same step writes the second copy beside the current one, which stays
// until the new one is complete.
TEST(CheckpointRun, SavingTheSameStepTwiceNeverOverwritesTheCurrentOne) {
  const ModelConfig c = testing::micro_config();
  TrainOptions o;
  o.steps = 2;
  o.batch = 1;
  o.seq = 8;
  auto t = Trainer::create(c, o, std::vector<int32_t>(200, 3));
  ASSERT_TRUE(t.ok()) << t.error().message;
  (*t)->step();
  const fs::path run = fs::temp_directory_path() / ("dsv3_same_step_" + std::to_string(::getpid()));
  fs::remove_all(run);
  for (const char* expected : {"step-00000001", "step-00000001-b", "step-00000001"}) {
    const Status s = (*t)->save(run.string());
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(fs::read_symlink(run / kCurrentCheckpointLink), expected);
    EXPECT_EQ(entries(run).size(), 6u) << "one step directory, its links and current";
  }
  auto resumed = Trainer::resume(run.string(), std::vector<int32_t>(200, 3), 0, 0);
  ASSERT_TRUE(resumed.ok()) << resumed.error().message;
  EXPECT_EQ((*resumed)->steps_done(), 1);
  fs::remove_all(run);
}

// clean_run_dir removes temporary entries and step directories that are not current, and
// restores missing links; a run written by an older dsv3 (files directly in the folder) is
// still read from the folder itself.
TEST(CheckpointRun, CleanRemovesLeftoversAndRepairsLinks) {
  const fs::path run = fs::temp_directory_path() / ("dsv3_clean_run_" + std::to_string(::getpid()));
  fs::remove_all(run);
  fs::create_directories(run / "step-00000004");
  fs::create_directories(run / "step-00000002");
  fs::create_directories(run / "step-00000006.tmp.123");
  std::ofstream(run / "step-00000004" / "config.json") << "{}";
  std::ofstream(run / "step-00000004" / "optimizer.safetensors") << "x";
  std::ofstream(run / "metrics.jsonl.tmp.99") << "x";
  std::ofstream(run / "notes.txt") << "mine";
  EXPECT_EQ(checkpoint_files_dir(run.string()), run.string()) << "no current link yet";
  fs::create_directory_symlink("step-00000004", run / kCurrentCheckpointLink);
  ASSERT_TRUE(clean_run_dir(run.string()).ok());
  EXPECT_EQ(entries(run), (std::vector<std::string>{"config.json", "current", "notes.txt",
                                                    "optimizer.safetensors", "step-00000004"}));
  EXPECT_EQ(fs::read_symlink(run / "config.json"), fs::path("current/config.json"));
  EXPECT_EQ(checkpoint_files_dir(run.string()), (run / "step-00000004").string());
  EXPECT_TRUE(holds_training_run(run.string()));
  fs::remove_all(run / "step-00000004");
  const Status damaged = clean_run_dir(run.string());
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.error().message.find("step-00000004"), std::string::npos);
  fs::remove_all(run);
}

}  // namespace
}  // namespace dsv3::train
