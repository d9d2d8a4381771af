// End to end: structured outputs of `dsv3 serve` with the built-in default model, checked by
// an outside JSON Schema validator (ajv, tests/e2e/ajv/structured_outputs.mjs). npm installs
// ajv from the lock file into a folder kept between runs; without node, npm or the registry
// the test is skipped, saying why.
#include <gtest/gtest.h>

#include <filesystem>

#include "e2e/serve_process.h"

namespace dsv3::testing::e2e {
namespace {

namespace fs = std::filesystem;

TEST(StructuredOutputsAjv, EveryConstrainedOutputValidates) {
  if (shell("command -v node && command -v npm").exit_code != 0) {
    GTEST_SKIP() << "node and npm are needed for the ajv validation test";
  }
  const fs::path source = fs::path(DSV3_SOURCE_DIR) / "tests" / "e2e" / "ajv";
  const fs::path work = fs::temp_directory_path() / "dsv3_e2e_ajv";
  fs::create_directories(work);
  for (const char* file : {"package.json", "package-lock.json", "structured_outputs.mjs"}) {
    fs::copy_file(source / file, work / file, fs::copy_options::overwrite_existing);
  }
  if (!fs::exists(work / "node_modules" / "ajv" / "package.json")) {
    const Shell install = shell("cd '" + work.string() +
                                "' && timeout 300 npm ci --no-audit --no-fund --loglevel=error "
                                "--fetch-timeout=30000 --fetch-retries=1");
    if (install.exit_code != 0) {
      GTEST_SKIP() << "npm ci of ajv failed (no registry?):\n" << install.output;
    }
  }
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
