// Hostile templates and contexts: every runaway (work, output, nesting, recursion) ends as a
// render error that names its limit, never a crash, a hang or an allocation failure.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "support/hang_bound.h"
#include "template/chat_template.h"

namespace dsv3 {
namespace {

using nlohmann::ordered_json;

std::string render_error(std::string_view source, const RenderLimits& limits = {},
                         const ordered_json& context = ordered_json::object()) {
  auto tmpl = ChatTemplate::parse(source);
  EXPECT_TRUE(tmpl.ok()) << tmpl.error().message;
  if (!tmpl.ok()) return "";
  auto out = tmpl->render(context, limits);
  EXPECT_FALSE(out.ok()) << "expected a render error, got " << out->size() << " bytes";
  return out.ok() ? "" : out.error().message;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(TemplateLimits, NestedHugeLoopsStopAtTheStepLimit) {
  const auto start = std::chrono::steady_clock::now();
  const std::string e = render_error(
      "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
  EXPECT_TRUE(contains(e, "steps")) << e;
  EXPECT_TRUE(contains(e, "the limit is 1000000")) << e;
  EXPECT_LT(std::chrono::steady_clock::now() - start, testing::hang_bound(15));
  // A smaller budget names itself.
  EXPECT_TRUE(contains(render_error("{% for i in range(1000) %}{{ i }}{% endfor %}",
                                    RenderLimits{.max_steps = 500}),
                       "the limit is 500"));
}

TEST(TemplateLimits, OutputIsCapped) {
  const RenderLimits small{.max_output_bytes = 1000};
  EXPECT_TRUE(contains(render_error("{% for i in range(2000) %}x{% endfor %}", small),
                       "more than the limit of 1000 bytes"));
  EXPECT_TRUE(contains(render_error("{% for i in range(2000) %}{{ 'ab' }}{% endfor %}", small),
                       "more than the limit of 1000 bytes"));
  // A string doubled in a namespace grows past the cap and stops there (not at 2^40 bytes).
  const std::string e = render_error(
      "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
      "{% endfor %}{{ ns.s|length }}");
  EXPECT_TRUE(contains(e, "more than the limit of 67108864 bytes")) << e;
  EXPECT_TRUE(contains(render_error("{% filter upper %}{% for i in range(900) %}ab{% endfor %}"
                                    "{% endfilter %}",
                                    small),
                       "limit of 1000 bytes"));
}

TEST(TemplateLimits, OutputWithinTheLimitsRenders) {
  auto tmpl = ChatTemplate::parse("{% for i in range(500) %}ab{% endfor %}");
  ASSERT_TRUE(tmpl.ok());
  auto out = tmpl->render(ordered_json::object(), RenderLimits{.max_output_bytes = 1000});
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out->size(), 1000u);
}

TEST(TemplateLimits, ValuesCannotNestWithoutBound) {
  // A list wrapped in itself 100,000 times would overflow the stack when printed or freed.
  std::string e = render_error(
      "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}"
      "{% endfor %}{{ ns.x }}");
  EXPECT_TRUE(contains(e, "nest more than 1000 levels")) << e;
  e = render_error(
      "{% set ns = namespace(x={}) %}{% for i in range(100000) %}{% set ns.x = {'a': ns.x} %}"
      "{% endfor %}{{ ns.x }}");
  EXPECT_TRUE(contains(e, "1000 levels")) << e;
  // Namespaces inside namespaces.
  e = render_error(
      "{% set ns = namespace(x=none) %}{% for i in range(100000) %}"
      "{% set ns.x = namespace(y=ns.x) %}{% endfor %}{{ ns.x }}");
  EXPECT_TRUE(contains(e, "1000 levels")) << e;
}

TEST(TemplateLimits, DeepEvaluationThroughMacrosIsAnError) {
  // Each macro level evaluates an expression 60 nodes deep: 100 levels would be 6,000
  // nested evaluations.
  std::string open, close;
  for (int i = 0; i < 60; ++i) {
    open += "-(";
    close += ")";
  }
  const std::string e = render_error("{% macro f(n) %}{{ " + open + "f(n + 1)|int" + close +
                                     " }}{% endmacro %}{{ f(0) }}");
  EXPECT_TRUE(contains(e, "evaluation is nested more than 1000 levels")) << e;
}

TEST(TemplateLimits, DeeplyNestedContextIsRefused) {
  // A library caller's JSON that did not come through parse_json_bounded.
  ordered_json deep = ordered_json::array();
  for (int i = 0; i < 30000; ++i) deep = ordered_json::array({std::move(deep)});
  auto tmpl = ChatTemplate::parse("{{ messages }}");
  ASSERT_TRUE(tmpl.ok());
  auto out = tmpl->render(ordered_json{{"messages", std::move(deep)}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message,
            "chat template context is nested more than 600 levels deep (the limit is 600)");
}

TEST(TemplateLimits, DeeplyNestedExpressionsAreParseErrors) {
  const std::pair<std::string, std::string> kinds[] = {
      {"(", ")"}, {"[", "]"}, {"-", ""}, {"not ", ""}, {"{'a': ", "}"}};
  for (const auto& [open, close] : kinds) {
    std::string src = "{{ ";
    for (int i = 0; i < 100000; ++i) src += open;
    src += "1";
    for (int i = 0; i < 100000; ++i) src += close;
    src += " }}";
    const auto start = std::chrono::steady_clock::now();
    auto tmpl = ChatTemplate::parse(src);
    ASSERT_FALSE(tmpl.ok()) << open;
    EXPECT_TRUE(contains(tmpl.error().message, "nested too deeply")) << tmpl.error().message;
    EXPECT_LT(std::chrono::steady_clock::now() - start, testing::hang_bound(2)) << open;
  }
}

}  // namespace
}  // namespace dsv3
