// Data-parallel training as users run it: `mpirun -np 2 dsv3 train ...` gives the weights one
// process gives with the same global batch (each rank computes half of every batch; the
// gradients and expert loads are summed), and a batch the ranks cannot split is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cli/run_dsv3.h"
#include "io/checkpoint.h"
#include "support/mpirun.h"
#include "train/micro_model.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;

struct Workdir {
  fs::path dir;
  std::string config, data;
  Workdir() : dir(fs::temp_directory_path() / ("dsv3_dp_train_" + std::to_string(::getpid()))) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    config = (dir / "config.json").string();
    data = (dir / "ids.txt").string();
    std::ofstream(config) << train::testing::micro_config_json();
    std::ofstream ids(data);
    for (int i = 0; i < 3000; ++i) ids << (i * 7 + i / 13) % 64 << (i % 20 == 19 ? "\n" : " ");
  }
  ~Workdir() { fs::remove_all(dir); }
  std::string train_args(const std::string& out, int batch) const {
    return "train --config " + config + " --data " + data + " --out " + (dir / out).string() +
           " --steps 5 --batch " + std::to_string(batch) +
           " --seq 16 --warmup 1 --lr 0.01 --seed 3 -t 1";
  }
};

float value(const TensorView& t, int64_t i) {
  if (t.dtype == DType::kF32) return reinterpret_cast<const float*>(t.data)[i];
  return bf16_to_f32(reinterpret_cast<const uint16_t*>(t.data)[i]);
}

TEST(DataParallelTraining, TwoRanksGiveTheWeightsOfOneProcess) {
  Workdir w;
  auto one = testing::run_dsv3(w.train_args("one", 4));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto two = testing::run_dsv3_mpi(2, w.train_args("two", 4), 300);
  ASSERT_EQ(two.exit_code, 0) << two.out << two.err;
  EXPECT_NE(two.err.find("x 2 ranks"), std::string::npos) << two.err;

  auto a = Checkpoint::open((w.dir / "one").string());
  auto b = Checkpoint::open((w.dir / "two").string());
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok()) << b.error().message;
  ASSERT_EQ(a->tensors().size(), b->tensors().size());
  float worst = 0, largest = 0;
  for (const auto& [name, ta] : a->tensors()) {
    const TensorView& tb = b->tensors().at(name);
    ASSERT_EQ(ta.shape, tb.shape) << name;
    ASSERT_EQ(ta.dtype, tb.dtype) << name;
    for (int64_t i = 0; i < ta.numel(); ++i) {
      worst = std::max(worst, std::fabs(value(ta, i) - value(tb, i)));
      largest = std::max(largest, std::fabs(value(ta, i)));
    }
  }
  // Sums in another order (half-batch gradients added): equal up to float rounding.
  EXPECT_LT(worst, 1e-4f * std::max(largest, 1.0f)) << "largest weight " << largest;
  EXPECT_GT(largest, 0.0f);
  std::printf("[data parallel] largest weight difference %.3g (largest weight %.3g)\n", worst, largest);
  // Both runs logged the same losses (rank 0 writes the metrics).
  std::ifstream ma(w.dir / "one" / "metrics.jsonl"), mb(w.dir / "two" / "metrics.jsonl");
  int lines = 0;
  for (std::string la, lb; std::getline(ma, la) && std::getline(mb, lb); ++lines) {
    const auto loss = [](const std::string& l) {
      return std::stod(l.substr(l.find("\"loss\":") + 7));
    };
    EXPECT_NEAR(loss(la), loss(lb), 1e-4) << la << "\n" << lb;
  }
  EXPECT_EQ(lines, 5);
}

TEST(DataParallelTraining, ABatchTheRanksCannotSplitIsRefused) {
  Workdir w;
  auto r = testing::run_dsv3_mpi(2, w.train_args("odd", 3), 120);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err).find("multiple of the MPI ranks"), std::string::npos)
      << r.out << r.err;
}

}  // namespace
}  // namespace dsv3
