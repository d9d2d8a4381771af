// The byte-level JSON matcher: what it accepts as a whole document, what it refuses at once,
// and the schemas it refuses to compile.
#include <gtest/gtest.h>

#include "structured/grammar.h"
#include "structured/matcher.h"

namespace dsv3::structured {
namespace {

using json = nlohmann::ordered_json;

Grammar compile(const char* schema) {
  Result<Grammar> g = compile_json_schema(json::parse(schema));
  EXPECT_TRUE(g.ok()) << (g.ok() ? "" : g.error().message);
  return g.ok() ? std::move(g).value() : json_object_grammar();
}

// Whether `text` is a whole document of the grammar.
bool whole(const Grammar& g, std::string_view text) {
  Matcher m(g);
  MatchCursor c(m);
  return c.advance(text) && c.complete();
}
// Whether `text` is a prefix of some document.
bool prefix(const Grammar& g, std::string_view text) {
  Matcher m(g);
  MatchCursor c(m);
  return c.advance(text);
}

TEST(JsonMatcher, AnyObjectAcceptsJsonObjectsOnly) {
  const Grammar g = json_object_grammar();
  EXPECT_TRUE(whole(g, "{}"));
  EXPECT_TRUE(whole(g, R"({"a": [1, -0, 0.5, 1e5, 2E-3, true, false, null, {}, []], "b": {"c": "d"}})"));
  EXPECT_FALSE(prefix(g, "["));
  EXPECT_FALSE(prefix(g, " {"));  // no whitespace before the document
  EXPECT_FALSE(whole(g, "{} "));  // nor after it
  EXPECT_FALSE(whole(g, R"({"a": 1)"));
  EXPECT_TRUE(prefix(g, R"({"a": 1)"));
  EXPECT_FALSE(prefix(g, R"({"a": 01)"));  // leading zeros
  EXPECT_FALSE(prefix(g, R"({"a": -01)"));
  EXPECT_FALSE(prefix(g, R"({"a": 1.})"));
  EXPECT_FALSE(prefix(g, R"({"a": .5)"));
  EXPECT_FALSE(prefix(g, R"({"a": +1)"));
  EXPECT_FALSE(prefix(g, R"({"a": tru })"));
  EXPECT_FALSE(prefix(g, R"({a: 1})"));
  EXPECT_FALSE(prefix(g, R"({"a": 1,})"));
  EXPECT_FALSE(prefix(g, R"([1,])"));
}

TEST(JsonMatcher, StringEscapesAndUnicode) {
  const Grammar g = compile(R"({"type": "string"})");
  EXPECT_TRUE(whole(g, R"("a\"b\\c\/\b\f\n\r\t")"));
  EXPECT_TRUE(whole(g, R"("caf\u00e9")"));
  EXPECT_TRUE(whole(g, R"("\ud83d\ude00")"));  // a surrogate pair
  EXPECT_FALSE(prefix(g, R"("\ud83d")"));       // a high surrogate alone
  EXPECT_FALSE(prefix(g, R"("\ude00)"));        // a low surrogate alone
  EXPECT_FALSE(prefix(g, R"("\ud83d\u0041)"));  // a high surrogate then no low one
  EXPECT_FALSE(prefix(g, R"("\x")"));
  EXPECT_FALSE(prefix(g, R"("\u12g)"));
  EXPECT_TRUE(whole(g, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""));  // raw UTF-8
  EXPECT_FALSE(prefix(g, "\"\xc3\x28"));       // a broken sequence
  EXPECT_FALSE(prefix(g, "\"\xed\xa0\x80"));   // an encoded surrogate
  EXPECT_FALSE(prefix(g, "\"\xc0\xaf"));       // overlong
  EXPECT_FALSE(prefix(g, "\"a\nb"));           // raw control character
  EXPECT_FALSE(whole(g, "\"abc"));
}

TEST(JsonMatcher, StringLengthsCountCodePoints) {
  const Grammar g = compile(R"({"type": "string", "minLength": 2, "maxLength": 3})");
  EXPECT_FALSE(whole(g, R"("a")"));
  EXPECT_TRUE(whole(g, "\"\xc3\xa9\xc3\xa9\""));
  EXPECT_TRUE(whole(g, R"("\ud83d\ude00ab")"));  // a pair is one code point
  EXPECT_FALSE(prefix(g, R"("abcd)"));
}

TEST(JsonMatcher, NumbersAndIntegers) {
  const Grammar n = compile(R"({"type": "number"})");
  for (const char* ok : {"0", "-0", "1e5", "0.5", "-12.25E+3", "7"}) EXPECT_TRUE(whole(n, ok)) << ok;
  for (const char* bad : {"01", "-", "1.", "1e", "--1", "0x1"}) EXPECT_FALSE(whole(n, bad)) << bad;
  const Grammar i = compile(R"({"type": "integer"})");
  EXPECT_TRUE(whole(i, "-42"));
  EXPECT_FALSE(prefix(i, "4.2"));
  EXPECT_FALSE(prefix(i, "4e2"));
}

TEST(JsonMatcher, PropertiesInSchemaOrderRequiredAndOptional) {
  const Grammar g = compile(R"({"type": "object", "properties": {
      "name": {"type": "string"}, "age": {"type": "integer"}, "nick": {"type": "string"}},
      "required": ["name", "nick"], "additionalProperties": false})");
  EXPECT_TRUE(whole(g, R"({"name": "x", "age": 3, "nick": "y"})"));
  EXPECT_TRUE(whole(g, R"({"name":"x","nick":"y"})"));   // optional age left out
  EXPECT_FALSE(whole(g, R"({"name": "x"})"));           // nick is required
  EXPECT_FALSE(prefix(g, R"({"nick")"));                // schema order
  EXPECT_FALSE(prefix(g, R"({"name": "x", "other")"));  // no extra keys
  EXPECT_FALSE(prefix(g, R"({"name": 1)"));
  EXPECT_FALSE(prefix(g, "{}"));
}

TEST(JsonMatcher, ExtraKeysTakeAnyValueButNotAPropertyName) {
  const Grammar g = compile(R"({"type": "object", "properties": {"a": {"type": "integer"}}})");
  EXPECT_TRUE(whole(g, R"({"a": 1, "b": [true, {"c": null}]})"));
  EXPECT_TRUE(whole(g, R"({"zz": "x"})"));
  EXPECT_TRUE(whole(g, R"({"ab": 1})"));
  EXPECT_FALSE(whole(g, R"({"a": "text"})"));       // "a" must be an integer ...
  EXPECT_FALSE(whole(g, R"({"\u0061": "text"})"));  // ... however its name is spelled
}

TEST(JsonMatcher, EmptyContainersAndItemCounts) {
  const Grammar g = compile(R"({"type": "object", "properties": {
      "any": {"type": "array"}, "two": {"type": "array", "items": {"type": "integer"},
      "minItems": 1, "maxItems": 2}, "o": {"type": "object"}}, "required": ["any", "two", "o"]})");
  EXPECT_TRUE(whole(g, R"({"any": [], "two": [1], "o": {}})"));
  EXPECT_TRUE(whole(g, R"({"any": [[], {}], "two": [1, 2], "o": {"x": []}})"));
  EXPECT_FALSE(prefix(g, R"({"any": [], "two": [])"));
  EXPECT_FALSE(prefix(g, R"({"any": [], "two": [1, 2,)"));
}

TEST(JsonMatcher, EnumConstAndSharedPrefixes) {
  const Grammar g = compile(R"({"enum": ["red", "redder", "reddest", 3, null, {"k": [1]}]})");
  for (const char* ok : {R"("red")", R"("redder")", R"("reddest")", "3", "null", R"({"k":[1]})"}) {
    EXPECT_TRUE(whole(g, ok)) << ok;
  }
  EXPECT_FALSE(whole(g, R"("redd")"));
  EXPECT_FALSE(prefix(g, R"("blue)"));
  EXPECT_FALSE(whole(g, "30"));
  const Grammar c = compile(R"({"const": "caf\u00e9"})");
  EXPECT_TRUE(whole(c, "\"caf\xc3\xa9\""));
}

TEST(JsonMatcher, NestedAnyOfAndTypeLists) {
  const Grammar g = compile(R"({"anyOf": [
      {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
       "additionalProperties": false},
      {"type": "object", "properties": {"a": {"type": "string"}, "b": {"anyOf": [
          {"type": "boolean"}, {"type": ["null", "number"]}]}}, "required": ["a", "b"],
       "additionalProperties": false}]})");
  EXPECT_TRUE(whole(g, R"({"a": 1})"));
  EXPECT_TRUE(whole(g, R"({"a": "s", "b": true})"));
  EXPECT_TRUE(whole(g, R"({"a": "s", "b": null})"));
  EXPECT_TRUE(whole(g, R"({"a": "s", "b": 2.5})"));
  EXPECT_FALSE(whole(g, R"({"a": 1, "b": true})"));
  EXPECT_FALSE(whole(g, R"({"a": "s"})"));
}

TEST(JsonMatcher, RecursiveRefsAreBoundedByDepth) {
  const char* schema = R"({"$ref": "#/$defs/node", "$defs": {"node": {"type": "object",
      "properties": {"v": {"type": "integer"}, "kids": {"type": "array",
      "items": {"$ref": "#/$defs/node"}}}, "required": ["v", "kids"],
      "additionalProperties": false}}})";
  Result<Grammar> g = compile_json_schema(json::parse(schema), GrammarLimits{.max_depth = 6});
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_TRUE(whole(*g, R"({"v": 1, "kids": [{"v": 2, "kids": []}, {"v": 3, "kids": []}]})"));
  // Depth 6 allows three nodes (an object and its array each) but not four.
  EXPECT_TRUE(prefix(*g, R"({"v":1,"kids":[{"v":2,"kids":[{"v":3,"kids":[)"));
  EXPECT_FALSE(prefix(*g, R"({"v":1,"kids":[{"v":2,"kids":[{"v":3,"kids":[{)"));
}

TEST(JsonMatcher, WhitespaceRunsAreBounded) {
  const Grammar g = json_object_grammar(GrammarLimits{.max_whitespace = 2});
  EXPECT_TRUE(whole(g, "{ \"a\" :\n 1 , \"b\":2 }"));
  EXPECT_FALSE(prefix(g, "{   \"a\""));
}

TEST(JsonSchemaCompiler, RefusesWhatItDoesNotSupportByName) {
  auto error = [](const char* schema) {
    Result<Grammar> g = compile_json_schema(json::parse(schema));
    return g.ok() ? std::string("compiled") : g.error().message;
  };
  EXPECT_NE(error(R"({"type": "string", "pattern": "^a"})").find("\"pattern\" is not supported"),
            std::string::npos);
  EXPECT_NE(error(R"({"type": "object", "properties": {"x": {"type": "number", "minimum": 1}}})")
                .find("#/properties/x': \"minimum\" is not supported"),
            std::string::npos);
  EXPECT_NE(error(R"({"type": "strings"})").find("unknown type \"strings\""), std::string::npos);
  EXPECT_NE(error(R"({"$ref": "#/$defs/missing"})").find("is not defined"), std::string::npos);
  EXPECT_NE(error(R"({"$ref": "http://x/y"})").find("is not supported"), std::string::npos);
  EXPECT_NE(error(R"({"enum": []})").find("non-empty"), std::string::npos);
  EXPECT_NE(error(R"({"type": "array", "minItems": 3, "maxItems": 2})").find("minItems"),
            std::string::npos);
  EXPECT_NE(error(R"({"type": "object", "required": ["a"]})").find("\"a\""), std::string::npos);
  EXPECT_NE(error("[1]").find("must be an object"), std::string::npos);
}

}  // namespace
}  // namespace dsv3::structured
