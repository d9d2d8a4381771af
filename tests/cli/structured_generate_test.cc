// dsv3 generate --json / --json-schema with the built-in default model: the printed text
// parses and follows the schema; a schema dsv3 cannot honour is refused by name.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/run_dsv3.h"
#include "structured/schema_validator.h"

namespace dsv3::testing {
namespace {

using json = nlohmann::ordered_json;

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path) << text;
  return path;
}

const std::string kModel = std::string(DSV3_SOURCE_DIR) + "/models/default";

TEST(GenerateJson, OutputFollowsTheSchemaFile) {
  const json schema = json::parse(R"({"type": "object", "properties": {
      "title": {"type": "string", "maxLength": 16}, "year": {"type": "integer"},
      "kind": {"enum": ["book", "film"]}}, "required": ["title", "year", "kind"],
      "additionalProperties": false})");
  const std::string file = write_temp("dsv3_generate_schema_" + std::to_string(::getpid()) + ".json",
                                      schema.dump());
  for (int seed : {1, 2}) {
    const RunResult r = run_dsv3("generate --model " + kModel + " -p 'Record:' -n 200 --seed " +
                                 std::to_string(seed) + " --json-schema " + file);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("JSON constraint"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("finish: stop"), std::string::npos) << r.err;
    const json value = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(value.is_discarded()) << r.out;
    EXPECT_EQ(structured::schema_violation(value, schema), "") << r.out;
  }
  std::filesystem::remove(file);
}

TEST(GenerateJson, JsonModeStartsAnObjectAndBadSchemasAreRefused) {
  const RunResult object = run_dsv3("generate --model " + kModel + " -p 'Data:' -n 20 --seed 3 --json");
  ASSERT_EQ(object.exit_code, 0) << object.err;
  EXPECT_EQ(object.out.substr(0, 1), "{");

  const std::string bad = write_temp("dsv3_generate_bad_" + std::to_string(::getpid()) + ".json",
                                     R"({"type": "string", "pattern": "^a"})");
  const RunResult refused = run_dsv3("generate --model " + kModel + " -p x --json-schema " + bad);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("\"pattern\" is not supported"), std::string::npos) << refused.err;
  std::filesystem::remove(bad);
  const RunResult missing = run_dsv3("generate --model " + kModel + " -p x --json-schema /nonexistent.json");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("cannot read /nonexistent.json"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace dsv3::testing
