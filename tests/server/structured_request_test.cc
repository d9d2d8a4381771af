// response_format and strict tools in requests: what compiles into a grammar, and what is
// refused with a 400 that names the field and the problem.
#include <gtest/gtest.h>

#include "server/openai_request.h"
#include "structured/matcher.h"

namespace dsv3::server {
namespace {

using nlohmann::ordered_json;

ordered_json chat_with(ordered_json extra) {
  ordered_json body = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  for (auto& [k, v] : extra.items()) body[k] = v;
  return body;
}

ordered_json schema_format(ordered_json schema) {
  return {{"type", "json_schema"},
          {"json_schema", {{"name", "s"}, {"schema", std::move(schema)}, {"strict", true}}}};
}

// Whether the grammar accepts `text` as a whole document.
bool accepts(const structured::Grammar& g, std::string_view text) {
  const structured::Matcher m(g);
  structured::MatchCursor c(m);
  return c.advance(text) && c.complete();
}

TEST(StructuredRequest, ResponseFormatsBecomeGrammars) {
  auto text = parse_chat_request(chat_with({{"response_format", {{"type", "text"}}}}));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->params.grammar, nullptr);

  auto object = parse_chat_request(chat_with({{"response_format", {{"type", "json_object"}}}}));
  ASSERT_TRUE(object.ok()) << object.error().message;
  ASSERT_NE(object->params.grammar, nullptr);
  EXPECT_TRUE(accepts(*object->params.grammar, R"({"any": [1]})"));
  EXPECT_FALSE(accepts(*object->params.grammar, "[1]"));

  const ordered_json schema = {{"type", "object"},
                               {"properties", {{"b", {{"type", "integer"}}}, {"a", {{"type", "string"}}}}},
                               {"required", {"b", "a"}},
                               {"additionalProperties", false}};
  auto js = parse_completion_request(
      {{"prompt", "x"}, {"response_format", schema_format(schema)}});
  ASSERT_TRUE(js.ok()) << js.error().message;
  ASSERT_NE(js->params.grammar, nullptr);
  EXPECT_TRUE(accepts(*js->params.grammar, R"({"b": 1, "a": "x"})"));  // the schema's order
  EXPECT_FALSE(accepts(*js->params.grammar, R"({"a": "x", "b": 1})"));
  // The same schema gives the same key (its masks are shared), another one another key.
  auto again = parse_chat_request(chat_with({{"response_format", schema_format(schema)}}));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->params.grammar_key, js->params.grammar_key);
  EXPECT_NE(object->params.grammar_key, js->params.grammar_key);
}

TEST(StructuredRequest, BadResponseFormatsAreRefusedByName) {
  auto refusal = [](ordered_json rf) {
    auto r = parse_chat_request(chat_with({{"response_format", std::move(rf)}}));
    return r.ok() ? std::string("accepted") : r.error().param + ": " + r.error().message;
  };
  EXPECT_NE(refusal(schema_format({{"type", "string"}, {"pattern", "^a"}}))
                .find("response_format: 'response_format.json_schema.schema': json schema at '#': "
                      "\"pattern\" is not supported"),
            std::string::npos);
  EXPECT_NE(refusal({{"type", "json_schema"}}).find("'response_format.json_schema' is required"),
            std::string::npos);
  EXPECT_NE(refusal({{"type", "json_schema"}, {"json_schema", {{"name", "s"}}}})
                .find("'response_format.json_schema.schema' is required"),
            std::string::npos);
  EXPECT_NE(refusal({{"type", "yaml"}}).find("\"yaml\" is not one of"), std::string::npos);
  EXPECT_NE(refusal({{"type", "json_schema"}, {"json_schema", {{"schema", ordered_json::object()}, {"strict", "yes"}}}})
                .find("strict' must be a boolean"),
            std::string::npos);
  EXPECT_NE(refusal(schema_format({{"type", "object"}, {"properties", {{"n", {{"type", "number"}, {"minimum", 0}}}}}}))
                .find("#/properties/n': \"minimum\" is not supported"),
            std::string::npos);
}

ordered_json tool(const char* name, ordered_json parameters, ordered_json strict) {
  return {{"type", "function"},
          {"function", {{"name", name}, {"parameters", std::move(parameters)}, {"strict", std::move(strict)}}}};
}

TEST(StructuredRequest, StrictToolsCompileAndTheChosenOneConstrains) {
  const ordered_json params = {{"type", "object"},
                               {"properties", {{"city", {{"type", "string"}}}}},
                               {"required", {"city"}},
                               {"additionalProperties", false}};
  const ordered_json tools = {tool("weather", params, true), tool("loose", {{"pattern", "x"}}, false)};
  auto named = parse_chat_request(chat_with(
      {{"tools", tools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "weather"}}}}}}));
  ASSERT_TRUE(named.ok()) << named.error().message;
  ASSERT_NE(named->tool_grammar, nullptr);
  EXPECT_TRUE(accepts(*named->tool_grammar, R"({"city": "Paris"})"));
  EXPECT_FALSE(accepts(*named->tool_grammar, R"({"town": "Paris"})"));
  ASSERT_EQ(named->functions.size(), 1u);  // only the named one may be called
  EXPECT_EQ(named->functions[0].name, "weather");
  auto automatic = parse_chat_request(chat_with({{"tools", tools}}));
  ASSERT_TRUE(automatic.ok());
  EXPECT_EQ(automatic->tool_grammar, nullptr);  // no call is forced ...
  // ... but every function the model may open a call of is known, the strict one with its
  // arguments' language, the other without.
  ASSERT_EQ(automatic->functions.size(), 2u);
  EXPECT_EQ(automatic->functions[0].name, "weather");
  ASSERT_NE(automatic->functions[0].grammar, nullptr);
  EXPECT_TRUE(accepts(*automatic->functions[0].grammar, R"({"city": "Paris"})"));
  EXPECT_EQ(automatic->functions[1].name, "loose");
  EXPECT_EQ(automatic->functions[1].grammar, nullptr);
  EXPECT_TRUE(automatic->any_strict());
  auto none = parse_chat_request(chat_with({{"tools", tools}, {"tool_choice", "none"}}));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->functions.empty());

  auto bad = parse_chat_request(chat_with({{"tools", {tool("f", {{"type", "string"}, {"format", "date"}}, true)}}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().param, "tools[0].function.parameters");
  EXPECT_NE(bad.error().message.find("\"format\" is not supported"), std::string::npos);
}

}  // namespace
}  // namespace dsv3::server
