// `dsv3 template` on hostile message files: a clear error and exit code 1, never a crash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cli/run_dsv3.h"
#include "support/golden.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;

std::string write_messages(const std::string& name, const std::string& text) {
  const std::string file =
      (fs::temp_directory_path() / ("dsv3_" + name + "_" + std::to_string(::getpid()) + ".json"))
          .string();
  std::ofstream(file) << text;
  return file;
}

TEST(TemplateCommand, DeeplyNestedMessagesAreRefusedByName) {
  // 30,000 levels used to overflow the stack (SIGSEGV) in the copies after parsing.
  const std::string deep = "[{\"role\": \"user\", \"content\": " + std::string(30000, '[') +
                           std::string(30000, ']') + "}]";
  const std::string file = write_messages("deep_msgs", deep);
  const auto r = testing::run_dsv3("template --tokenizer " + testing::test_data_dir() +
                                   "/tokenizer/deepseek-v3 --messages " + file);
  fs::remove(file);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(file + ": JSON nested more than 512 levels deep"), std::string::npos)
      << r.err;
}

TEST(TemplateCommand, MessagesThatAreNotAnArrayNameTheirType) {
  const std::string file = write_messages("obj_msgs", R"({"role": "user"})");
  const auto r = testing::run_dsv3("template --tokenizer " + testing::test_data_dir() +
                                   "/tokenizer/deepseek-v3 --messages " + file);
  fs::remove(file);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("expected a JSON array of messages, got object"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace dsv3
