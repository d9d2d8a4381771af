// The dsv3 binary driven as a user would: its command-line contract.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/run_dsv3.h"
#include "model/config.h"
#include "support/files.h"
#include "support/golden.h"
#include "support/param_names.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;
using testing::GoldenCase;

using testing::run_dsv3;

using testing::join;
using testing::read_floats;

class CliGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(CliGolden, LogitsReproduceTheGoldens) {
  GoldenCase g(GetParam());
  const std::string out = (fs::temp_directory_path() /
                           ("dsv3_cli_logits_" + std::to_string(::getpid()) + ".bin")).string();
  for (int p = 0; p < g.num_prompts(); ++p) {
    const auto& tokens = g.array("p" + std::to_string(p) + ".tokens").i32;
    const auto& want = g.array("p" + std::to_string(p) + ".logits_prefill").f32;
    for (const char* mode : {"prefill", "decode"}) {
      auto r = run_dsv3("logits --model " + g.checkpoint_dir() + " --tokens " + join(tokens) +
                        " --mode " + mode + " --out " + out);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      auto got = read_floats(out);
      ASSERT_EQ(got.size(), want.size());
      EXPECT_LT(testing::max_abs_diff(got.data(), want.data(), want.size()), 1e-3f) << mode;
    }
  }
}

TEST_P(CliGolden, GenerateMatchesTheGreedyGoldens) {
  GoldenCase g(GetParam());
  const auto& tokens = g.array("p2.tokens").i32;
  const auto& want = g.array("p2.gen_tokens").i32;
  const auto& margin = g.array("p2.gen_margin").f32;
  auto r = run_dsv3("generate --model " + g.checkpoint_dir() + " --tokens " + join(tokens) +
                    " --max-new-tokens 16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Compare up to the first near-tie, after which either path is right.
  size_t n = 0;
  while (n < want.size() && margin[n] > 1e-2f) ++n;
  std::vector<int32_t> prefix(want.begin(), want.begin() + n);
  EXPECT_EQ(r.out.substr(0, join(prefix).size()), join(prefix));
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), ','), 15);
}

INSTANTIATE_TEST_SUITE_P(Cases, CliGolden, ::testing::Values("v3-tiny", "v2lite-tiny"),
                         testing::golden_case_test_name);

TEST(Cli, MtpLogits) {
  GoldenCase g("v3-tiny");
  const std::string out = (fs::temp_directory_path() /
                           ("dsv3_cli_mtp_" + std::to_string(::getpid()) + ".bin")).string();
  const auto& tokens = g.array("p2.tokens").i32;
  auto r = run_dsv3("logits --mtp --model " + g.checkpoint_dir() + " --tokens " + join(tokens) + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto& want = g.array("p2.mtp_logits").f32;
  auto got = read_floats(out);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_LT(testing::max_abs_diff(got.data(), want.data(), want.size()), 1e-3f);
}

TEST(Cli, InfoDescribesTheModel) {
  GoldenCase g("v3-tiny");
  auto r = run_dsv3("info --model " + g.checkpoint_dir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"deepseek_v3", "noaux_tc", "active per token", "144 values per token",
                        "memory to run", "MTP layers            1"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  }
}

TEST(Cli, InfoListsEveryConfigFieldOnRequest) {
  auto r = run_dsv3("info --preset v32-tiny --fields");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const size_t at = r.out.find("config.json fields:\n");
  ASSERT_NE(at, std::string::npos) << r.out;
  for (const ConfigField& f : config_fields()) {
    EXPECT_NE(r.out.find("\n" + std::string(f.key) + " ", at), std::string::npos) << f.key;
  }
  EXPECT_EQ(run_dsv3("info --preset v32-tiny").out.find("config.json fields:"), std::string::npos);
}

TEST(Cli, HelpOnEveryCommand) {
  for (const char* cmd : {"", "logits", "generate", "info"}) {
    auto r = run_dsv3(std::string(cmd) + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("--"), std::string::npos) << cmd;
  }
}

TEST(Cli, ErrorsGoToStderrWithNonZeroExit) {
  GoldenCase g("v3-tiny");
  const std::string m = g.checkpoint_dir();
  struct Case {
    std::string args, expect;
  } cases[] = {
      {"logits --model /nonexistent --tokens 1 --out /tmp/x", "does not exist"},
      {"logits --model " + m + " --tokens 1,x --out /tmp/x", "--tokens '1,x'"},
      {"logits --model " + m + " --tokens 1,99999 --out /tmp/x", "token id 99999 at index 1"},
      {"logits --model " + m + " --tokens 1 --mode sideways --out /tmp/x", "--mode"},
      {"logits --mtp --model " + g.checkpoint_dir() + "/../../v2lite-tiny/checkpoint --tokens 1,2 --out /tmp/x",
       "no MTP layer"},
      {"generate --model " + m + " --tokens '' -n 2", "--tokens"},
      {"frobnicate", "frobnicate"},
  };
  for (const auto& c : cases) {
    auto r = run_dsv3(c.args);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.args << "\nstderr: " << r.err;
    EXPECT_EQ(r.err.find("check failed"), std::string::npos) << c.args;
  }
}

}  // namespace
}  // namespace dsv3

namespace dsv3 {
namespace {

TEST(Cli, QuantizeToBf16KeepsTheModel) {
  GoldenCase g("v3-tiny");
  const std::string out = (fs::temp_directory_path() / ("dsv3_q_" + std::to_string(::getpid()))).string();
  fs::remove_all(out);
  auto r = run_dsv3("quantize --model " + g.checkpoint_dir() + " --to bf16 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto& tokens = g.array("p2.tokens").i32;
  const std::string bin = out + "/logits.bin";
  r = run_dsv3("logits --model " + out + " --tokens " + join(tokens) + " --out " + bin);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto got = read_floats(bin);
  const auto& want = g.array("p2.logits_prefill").f32;
  ASSERT_EQ(got.size(), want.size());
  // BF16 rounding of FP8-dequantized weights: small logit changes, the same argmax nearly always.
  EXPECT_LT(testing::max_abs_diff(got.data(), want.data(), want.size()), 0.5f);
  const int64_t V = 2048;
  int agree = 0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    agree += std::max_element(got.begin() + t * V, got.begin() + (t + 1) * V) - got.begin() ==
             std::max_element(want.begin() + t * V, want.begin() + (t + 1) * V) - want.begin();
  }
  EXPECT_GE(agree, int(tokens.size()) - 1);
  // A second run refuses to overwrite; unsupported targets are named.
  r = run_dsv3("quantize --model " + g.checkpoint_dir() + " --to bf16 --out " + out);
  EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
  r = run_dsv3("quantize --model " + g.checkpoint_dir() + " --to q3 --out " + out + "_x");
  EXPECT_NE(r.err.find("q3"), std::string::npos) << r.err;
  fs::remove_all(out);
}

}  // namespace
}  // namespace dsv3
