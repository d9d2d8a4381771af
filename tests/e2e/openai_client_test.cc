// End to end: `dsv3 serve` as a user starts it, driven by the official openai npm client
// (tests/e2e/node/openai_client.mjs). The client is the version pinned by
// tests/e2e/node/package-lock.json, installed there by `npm ci` (scripts/test.sh does it);
// the test never installs anything itself, and fails when node or the client is missing.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "e2e/serve_process.h"
#include "server/harness.h"

namespace dsv3::testing {
namespace {

namespace fs = std::filesystem;
using e2e::ServeProcess;
using e2e::shell;
using e2e::Shell;

TEST(OpenAiNpmClient, ChatStreamsToolsAndConcurrency) {
  const fs::path client_dir = fs::path(DSV3_SOURCE_DIR) / "tests" / "e2e" / "node";
  ASSERT_EQ(shell("command -v node").exit_code, 0)
      << "node is needed for the openai client test (Debian: apt-get install nodejs npm)";
  ASSERT_TRUE(fs::exists(client_dir / "node_modules" / "openai" / "package.json"))
      << "the openai npm client is not installed: run `npm ci --prefix " << client_dir.string()
      << "` (scripts/test.sh does)";

  ServeProcess serve({"serve", "--model", test_data_dir() + "/golden/v3-tiny/checkpoint",
                      "--tokenizer", tiny_tokenizer_dir(), "--model-name", "tiny", "--port", "0",
                      "--ctx", "512", "--parallel", "4", "--queue", "32", "--api-key", "e2e-key",
                      "--no-log"});
  ASSERT_GT(serve.port(), 0) << serve.log();
  const std::string env = "OPENAI_BASE_URL=http://127.0.0.1:" + std::to_string(serve.port()) +
                          "/v1 OPENAI_API_KEY=e2e-key DSV3_MODEL=tiny";
  const Shell node =
      shell("cd '" + client_dir.string() + "' && " + env + " timeout 300 node openai_client.mjs");
  EXPECT_EQ(node.exit_code, 0) << node.output << "\nserver:\n" << serve.log();
  EXPECT_NE(node.output.find("all ok"), std::string::npos) << node.output;
  std::printf("%s", node.output.c_str());
  EXPECT_EQ(serve.terminate(), 0) << "dsv3 serve should stop cleanly on SIGTERM";
}

}  // namespace
}  // namespace dsv3::testing
