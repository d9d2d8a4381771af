// Weights that pass every file check but hold NaN must not give NaN logits with exit status 0:
// the commands that run the model refuse non-finite logits by name.
#include <gtest/gtest.h>

#include <filesystem>

#include "run_dsv3.h"
#include "support/golden.h"
#include "support/nan_checkpoint.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;
using testing::nan_checkpoint;
using testing::run_dsv3;

TEST(NonFiniteLogits, CommandsFailInsteadOfPrintingNaN) {
  const fs::path dir = testing::nan_checkpoint_dir("dsv3_nan_ckpt");
  const std::string model = nan_checkpoint(dir);
  const std::string out = (dir / "logits.bin").string();
  auto r = run_dsv3("logits --model " + model + " --tokens 0,5,17 --out " + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("non-finite logit"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("row 0, token id 0"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out)) << "nothing is written from a broken forward";
  r = run_dsv3("generate --model " + model + " --tokens 0,5,17 --max-new-tokens 3");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("non-finite logit"), std::string::npos) << r.err;
  // bench measures nothing from a broken model: it says why instead of printing speeds.
  r = run_dsv3("bench --model " + model + " -p 8 -n 4 -r 1 --probe-mib 0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("non-finite logit"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("tok/s"), std::string::npos) << r.out;
  // The intact checkpoint passes the same guard.
  r = run_dsv3("logits --model " + testing::GoldenCase("v3-tiny").checkpoint_dir() +
               " --tokens 0,5,17 --out " + out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsv3
