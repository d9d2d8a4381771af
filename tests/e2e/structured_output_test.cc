// End to end: structured outputs of `dsv3 serve` with the built-in default model, checked by
// an outside JSON Schema validator (ajv, tests/e2e/ajv/structured_outputs.mjs), the version
// pinned by tests/e2e/ajv/package-lock.json, installed there by `npm ci` (scripts/test.sh does
// it); without it the test fails, saying what to run.
#include <gtest/gtest.h>

#include <filesystem>

#include "e2e/serve_process.h"

namespace dsv3::testing::e2e {
namespace {

namespace fs = std::filesystem;

TEST(StructuredOutputsAjv, EveryConstrainedOutputValidates) {
  const fs::path work = fs::path(DSV3_SOURCE_DIR) / "tests" / "e2e" / "ajv";
  ASSERT_EQ(shell("command -v node").exit_code, 0)
      << "node is needed for the ajv validation test (Debian: apt-get install nodejs npm)";
  ASSERT_TRUE(fs::exists(work / "node_modules" / "ajv" / "package.json"))
      << "ajv is not installed: run `npm ci --prefix " << work.string()
      << "` (scripts/test.sh does)";
  ServeProcess serve({"serve", "--model", std::string(DSV3_SOURCE_DIR) + "/models/default",
                      "--model-name", "default", "--port", "0", "--ctx", "1024", "--parallel",
                      "4", "--no-log"});
  ASSERT_GT(serve.port(), 0) << serve.log();
  const std::string env = "DSV3_BASE_URL=http://127.0.0.1:" + std::to_string(serve.port()) + "/v1";
  const Shell node =
      shell("cd '" + work.string() + "' && " + env + " timeout 300 node structured_outputs.mjs");
  EXPECT_EQ(node.exit_code, 0) << node.output << "\nserver:\n" << serve.log();
  EXPECT_NE(node.output.find("all ok"), std::string::npos) << node.output;
  std::printf("%s", node.output.c_str());
  EXPECT_EQ(serve.terminate(), 0);
}

}  // namespace
}  // namespace dsv3::testing::e2e
