// `dsv3 serve` refuses flags that would weaken it before it loads anything.
#include <gtest/gtest.h>

#include <string>

#include "cli/run_dsv3.h"
#include "support/golden.h"

namespace dsv3 {
namespace {

const std::string kServe = "serve --model " + testing::test_data_dir() +
                           "/golden/v3-tiny/checkpoint --tokenizer " + testing::test_data_dir() +
                           "/tokenizer/deepseek-v3 --port 0";

TEST(ServeFlags, AnEmptyApiKeyIsRefusedNotAuthenticationOff) {
  // (`timeout`: a regression would start serving and never return.)
  auto r = testing::run_command("timeout 60 " + std::string(DSV3_BINARY) + " " + kServe +
                                " --api-key ''");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("the API key is empty"), std::string::npos) << r.err;
  // The same through the environment.
  r = testing::run_command("DSV3_API_KEY= timeout 60 " + std::string(DSV3_BINARY) + " " + kServe);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("the API key is empty"), std::string::npos) << r.err;
}

TEST(ServeFlags, AnApiKeyWithSpacesIsRefused) {
  const auto r = testing::run_command("timeout 60 " + std::string(DSV3_BINARY) + " " + kServe +
                                      " --api-key 'two words'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("space or control character"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dsv3
