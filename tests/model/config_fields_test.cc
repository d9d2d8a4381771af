// The table of config.json fields: parsing, range checks, config.json writing and
// describe_fields() all walk it, so each test here covers every field at once.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "model/config.h"
#include "model/presets.h"

namespace dsv3 {
namespace {

using nlohmann::json;
using RangeKind = ConfigField::Range::Kind;

json golden_config(const std::string& name) {
  std::ifstream f(std::string(DSV3_TEST_DATA_DIR) + "/golden/" + name + "/checkpoint/config.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str());
}

std::string parse_error(const json& j) {
  auto r = parse_model_config(j.dump(), "config.json");
  return r.ok() ? "" : r.error().message;
}

json::json_pointer pointer_of(std::string_view key) {
  std::string p = "/" + std::string(key);
  std::replace(p.begin(), p.end(), '.', '/');
  return json::json_pointer(p);
}

// v32-tiny has every field: MoE after a dense layer, YaRN, the indexer, MTP.
TEST(ConfigFields, TheV32GoldenHasEveryField) {
  auto c = parse_model_config(golden_config("v32-tiny").dump(), "v32-tiny");
  ASSERT_TRUE(c.ok()) << c.error().message;
  std::set<std::string_view> keys;
  for (const ConfigField& f : config_fields()) {
    EXPECT_TRUE(f.is_present(*c)) << f.key;
    EXPECT_TRUE(keys.insert(f.key).second) << "twice: " << f.key;
    EXPECT_FALSE(f.doc.empty()) << f.key;
  }
  EXPECT_EQ(config_fields().front().key, "model_type");
}

TEST(ConfigFields, EveryPresetRoundTripsThroughConfigJson) {
  for (const PresetInfo& p : list_presets()) {
    SCOPED_TRACE(p.name);
    ModelConfig want = preset_config(p.name).value();
    for (int variant = 0; variant < 3; ++variant) {
      ModelConfig c = want;
      if (variant == 1) c.fp8_block_quantized = true;
      if (variant == 2) c.group_quant_format = WeightFormat::kQ8;
      const std::string text = model_config_json(c);
      auto got = parse_model_config(text, p.name);
      ASSERT_TRUE(got.ok()) << got.error().message;
      EXPECT_TRUE(*got == c) << text;
      EXPECT_EQ(model_config_json(*got), text);
    }
  }
}

TEST(ConfigFields, ConfigJsonWritesEveryPresentFieldUnderItsKey) {
  const ModelConfig c = preset_config("v32-tiny").value();
  const json j = json::parse(model_config_json(c));
  for (const ConfigField& f : config_fields()) {
    ASSERT_TRUE(j.contains(pointer_of(f.key))) << f.key;
    EXPECT_EQ(j[pointer_of(f.key)], field_json(f, c)) << f.key;
  }
  const json v3 = json::parse(model_config_json(preset_config("v3-671b").value()));
  EXPECT_FALSE(v3.contains("index_topk"));
  EXPECT_TRUE(v3["q_lora_rank"] == 1536);
  EXPECT_TRUE(
      json::parse(model_config_json(preset_config("v2-lite").value()))["q_lora_rank"].is_null());
}

TEST(ConfigFields, DescribeListsEveryPresentField) {
  const ModelConfig c = preset_config("v32-tiny").value();
  const std::string d = describe_fields(c);
  for (const ConfigField& f : config_fields()) {
    const std::string value = field_json(f, c).is_string() ? field_json(f, c).get<std::string>()
                                                           : field_json(f, c).dump();
    const size_t at = ("\n" + d).find("\n" + std::string(f.key) + " ");
    ASSERT_NE(at, std::string::npos) << f.key << "\n" << d;
    const std::string line = d.substr(at, d.find('\n', at) - at);
    EXPECT_NE(line.find(" " + value + " "), std::string::npos) << line;
    EXPECT_NE(line.find(f.doc), std::string::npos) << line;
  }
  EXPECT_EQ(std::count(d.begin(), d.end(), '\n'), std::ssize(config_fields()));
  // A V3 config has no indexer keys, and without YaRN no rope_scaling ones.
  ModelConfig v3 = preset_config("tiny").value();
  v3.rope_scaling.enabled = false;
  const std::string d3 = describe_fields(v3);
  EXPECT_EQ(d3.find("index_topk"), std::string::npos) << d3;
  EXPECT_EQ(d3.find("rope_scaling."), std::string::npos) << d3;
  EXPECT_NE(d3.find("kv_lora_rank"), std::string::npos) << d3;
}

// A value below each field's range is refused with the field's name and what was expected.
TEST(ConfigFields, EveryRangeRefusesAValueBelowItNamingTheField) {
  const json good = golden_config("v32-tiny");
  ASSERT_TRUE(parse_error(good).empty()) << parse_error(good);
  int checked = 0;
  for (const ConfigField& f : config_fields()) {
    if (f.range.kind == RangeKind::kNone) continue;
    SCOPED_TRACE(std::string(f.key));
    json j = good;
    const double below = f.range.kind == RangeKind::kCustom ? 0
                         : f.range.lo_inclusive             ? f.range.lo - 1
                                                            : f.range.lo;
    if (std::holds_alternative<ConfigField::Access<double>>(f.ref)) {
      j[pointer_of(f.key)] = below;
    } else {
      j[pointer_of(f.key)] = int64_t(below);
    }
    const std::string e = parse_error(j);
    EXPECT_NE(e.find("key '" + std::string(f.key) + "' = "), std::string::npos) << e;
    EXPECT_NE(e.find(": expected "), std::string::npos) << e;
    ++checked;
  }
  EXPECT_GE(checked, 30);
}

TEST(ConfigFields, EveryRequiredFieldIsNamedWhenMissingAndEveryFieldWhenMistyped) {
  const json good = golden_config("v32-tiny");
  for (const ConfigField& f : config_fields()) {
    SCOPED_TRACE(std::string(f.key));
    json j = good;
    if (f.required) {
      j[pointer_of(f.key)] = nullptr;
      EXPECT_NE(parse_error(j).find("missing key '" + std::string(f.key) + "'"), std::string::npos)
          << parse_error(j);
    }
    j = good;
    j[pointer_of(f.key)] = json::array({1});
    const std::string e = parse_error(j);
    EXPECT_NE(e.find("key '" + std::string(f.key) + "' = [1] has the wrong type"),
              std::string::npos)
        << e;
  }
}

TEST(ConfigFields, UnknownKeysInsideRopeScalingAreNamed) {
  json j = golden_config("v3-tiny");
  j["rope_scaling"]["frobnicate"] = 1;
  EXPECT_NE(parse_error(j).find("unknown key 'rope_scaling.frobnicate'"), std::string::npos)
      << parse_error(j);
}

}  // namespace
}  // namespace dsv3
