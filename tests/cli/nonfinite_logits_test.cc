// Weights that pass every file check but hold NaN must not give NaN logits with exit status 0:
// the commands that run the model refuse non-finite logits by name.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "io/safetensors.h"
#include "run_dsv3.h"
#include "support/golden.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;
using testing::run_dsv3;

// A copy of the v3-tiny golden checkpoint whose final norm weight (BF16) is all NaN.
std::string nan_checkpoint(const fs::path& dir) {
  const std::string src = testing::GoldenCase("v3-tiny").checkpoint_dir();
  fs::remove_all(dir);
  fs::copy(src, dir, fs::copy_options::recursive);
  const std::string shard = (dir / "model-00001-of-00002.safetensors").string();
  uint64_t offset = 0, bytes = 0;
  {
    auto st = SafetensorsFile::open(shard);
    EXPECT_TRUE(st.ok());
    const TensorView& t = st->tensors().at("model.norm.weight");
    EXPECT_EQ(t.dtype, DType::kBF16);
    offset = uint64_t(t.data - st->mapping().data());
    bytes = t.nbytes;
  }
  std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(std::streamoff(offset));
  for (uint64_t i = 0; i < bytes / 2; ++i) f.write("\xc0\x7f", 2);  // BF16 quiet NaN, little-endian
  return dir.string();
}

TEST(NonFiniteLogits, CommandsFailInsteadOfPrintingNaN) {
  const fs::path dir = fs::temp_directory_path() / ("dsv3_nan_ckpt_" + std::to_string(::getpid()));
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
  // The intact checkpoint passes the same guard.
  r = run_dsv3("logits --model " + testing::GoldenCase("v3-tiny").checkpoint_dir() +
               " --tokens 0,5,17 --out " + out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsv3
