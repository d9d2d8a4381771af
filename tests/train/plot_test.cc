// dsv3 plot's pieces: reading metrics.jsonl and drawing SVG files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "train/plot.h"
#include "train/trainer.h"

namespace dsv3::train {
namespace {

namespace fs = std::filesystem;

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Plot, ReadsMetricsAndWritesSvg) {
  const fs::path dir = fs::temp_directory_path() / ("dsv3_plot_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "metrics.jsonl").string();
  {
    std::ofstream out(path);
    for (int64_t s = 1; s <= 5; ++s) {
      StepMetrics m{.step = s, .loss = 5.0 - 0.1 * double(s), .main_loss = 4.0, .mtp_loss = 4.5,
                    .lr = 1e-3, .grad_norm = 0.5, .tokens = 64, .seconds = 0.1};
      m.moe_layers = {1, 2};
      m.max_vio = {0.5, 1.0};
      m.loads = {{10, 20, 30, 4}, {16, 16, 16, 16}};
      out << metrics_json(m) << "\n";
    }
    // The evaluation record of today, and the older one with a bare list of MaxVio.
    EvalReport eval{.step = 5, .windows = 2, .tokens = 64, .main_loss = 4.2, .mtp_loss = {4.6}};
    set_expert_loads(eval, {{}, {10, 30, 10, 14}, {16, 16, 16, 16}});
    out << eval_json(eval) << "\n";
    out << "{\"step\":5,\"eval\":{\"main_loss\":4.1,\"mtp_loss\":[4.6],\"max_vio\":[0.4,0.2]}}\n";
  }
  Result<MetricsSeries> m = read_metrics(path, "run");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->steps.size(), 5u);
  EXPECT_EQ(m->layers, (std::vector<int64_t>{1, 2}));
  ASSERT_EQ(m->load.size(), 2u);
  EXPECT_EQ(m->load[0][4], (std::vector<double>{10, 20, 30, 4}));
  EXPECT_EQ(m->eval_main_loss, (std::vector<double>{4.2, 4.1}));
  ASSERT_EQ(m->eval_max_vio.size(), 2u);
  EXPECT_DOUBLE_EQ(m->eval_max_vio[0], (30.0 - 16) / 16 / 2);  // layers 1 and 2, mean
  EXPECT_DOUBLE_EQ(m->eval_max_vio[1], 0.3);

  auto files = write_plots({*m, *m}, (dir / "plots").string());
  ASSERT_TRUE(files.ok()) << files.error().message;
  EXPECT_EQ(files->size(), 7u);  // validation.md, loss, lr, grad_norm, max_vio, a heatmap per run
  // The table shows each run's last validation record (the older format: no per-layer cells).
  const std::string table = read((dir / "plots" / "validation.md").string());
  EXPECT_NE(table.find("| MaxVio layer 1 | MaxVio layer 2 | MaxVio mean |"), std::string::npos) << table;
  EXPECT_NE(table.find("| run | 5 | 4.1000 | 4.6000 | - | - | 0.300 |"), std::string::npos) << table;
  EXPECT_EQ(validation_table_md({}), "");
  EXPECT_TRUE(fs::exists(dir / "plots" / "expert_load_run_1.svg"));
  const std::string loss = read((dir / "plots" / "loss.svg").string());
  EXPECT_EQ(loss.rfind("<svg", 0), 0u);
  EXPECT_NE(loss.find("<polyline"), std::string::npos);
  EXPECT_NE(loss.find("validation"), std::string::npos);
  EXPECT_NE(read((dir / "plots" / "max_vio.svg").string()).find("validation"), std::string::npos);
  EXPECT_NE(read((dir / "plots" / "expert_load_run.svg").string()).find("layer 2"),
            std::string::npos);

  std::ofstream(path, std::ios::app) << "not json\n";
  Result<MetricsSeries> bad = read_metrics(path, "run");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find(":8:"), std::string::npos) << bad.error().message;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsv3::train
