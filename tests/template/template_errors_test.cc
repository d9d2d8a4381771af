// Errors: syntax errors name the line and column and what was expected; runtime errors
// (raise_exception, undefined values, sandbox rules) come back as Result errors, never crashes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "template/chat_template.h"

namespace dsv3 {
namespace {

using nlohmann::ordered_json;

std::string parse_error(std::string_view source) {
  auto tmpl = ChatTemplate::parse(source);
  EXPECT_FALSE(tmpl.ok()) << "expected a parse error for: " << source;
  return tmpl.ok() ? "" : tmpl.error().message;
}

std::string render_error(std::string_view source,
                         const ordered_json& context = ordered_json::object()) {
  auto tmpl = ChatTemplate::parse(source);
  EXPECT_TRUE(tmpl.ok()) << tmpl.error().message;
  if (!tmpl.ok()) return "";
  auto out = tmpl->render(context);
  EXPECT_FALSE(out.ok()) << "expected a render error, got: " << *out;
  return out.ok() ? "" : out.error().message;
}

TEST(TemplateErrors, UnterminatedTagsReportTheirLine) {
  EXPECT_EQ(parse_error("line one\nline two {{ x \nmore"),
            "line 2, column 10: '{{' is never closed (expected '}}')");
  EXPECT_EQ(parse_error("a\n\n  {% if x "),
            "line 3, column 3: '{%' is never closed (expected '%}')");
  EXPECT_EQ(parse_error("{# comment"),
            "line 1, column 1: comment '{#' is never closed (expected '#}')");
  EXPECT_EQ(parse_error("{{ 'abc }}"),
            "line 1, column 4: string literal is never closed (expected ')");
  EXPECT_EQ(parse_error("{% raw %}x"),
            "line 1, column 1: '{% raw %}' is never closed (expected '{% endraw %}')");
}

TEST(TemplateErrors, UnclosedBlockNamesTheOpeningTag) {
  EXPECT_EQ(parse_error("x\n{% for m in messages %}\n{{ m }}"),
            "line 2, column 4: 'for' tag is never closed: reached the end of the template looking "
            "for 'else' or 'endfor'");
  EXPECT_EQ(parse_error("{% if a %}{% for x in y %}{% endif %}"),
            "line 1, column 30: unexpected '{% endif %}': no open block expects it here");
}

TEST(TemplateErrors, UnsupportedAndUnknownConstructsAreErrorsNotCrashes) {
  EXPECT_EQ(parse_error("{% include 'other.jinja' %}"),
            "line 1, column 4: the '{% include %}' tag is not supported");
  EXPECT_EQ(parse_error("{% extends 'base' %}"),
            "line 1, column 4: the '{% extends %}' tag is not supported");
  EXPECT_EQ(parse_error("{% frobnicate %}"), "line 1, column 4: unknown tag 'frobnicate'");
  EXPECT_EQ(parse_error("{% for x in y recursive %}{% endfor %}"),
            "line 1, column 15: recursive for loops are not supported");
  EXPECT_EQ(parse_error("{{ f(*args) }}"),
            "line 1, column 6: *args and **kwargs in calls are not supported");
  EXPECT_EQ(parse_error("{% break %}"), "line 1, column 4: 'break' outside of a for loop");
  EXPECT_EQ(render_error("{{ x|frobnicate }}"), "line 1, column 5: no filter named 'frobnicate'");
  EXPECT_EQ(render_error("{{ x is frobnicated }}"),
            "line 1, column 6: no test named 'frobnicated'");
  EXPECT_EQ(render_error("{{ '{:>5}'.format(1) }}"),
            "line 1, column 11: str.format field '{:>5}' uses a format spec or attribute, which is "
            "not supported");
}

TEST(TemplateErrors, BadExpressionsSayWhatWasExpected) {
  EXPECT_EQ(parse_error("{{ }}"), "line 1, column 4: expected an expression, found '}}'");
  EXPECT_EQ(parse_error("{{ 1 +* 2 }}"), "line 1, column 7: expected an expression, found '*'");
  EXPECT_EQ(parse_error("{{ a b }}"), "line 1, column 6: expected '}}', found 'b'");
  EXPECT_EQ(parse_error("{% for x of y %}{% endfor %}"),
            "line 1, column 10: expected 'in' in the 'for' tag, found 'of'");
  EXPECT_EQ(parse_error("{% set = 1 %}"),
            "line 1, column 8: expected a name to assign to, found '='");
  EXPECT_EQ(parse_error("{{ (1, 2 }}"),
            "line 1, column 10: unexpected '}': expected ')' to close the '(' at line 1, column 4");
  EXPECT_EQ(parse_error("{% if (a %}{% endif %}"),
            "line 1, column 10: '(' opened at line 1, column 7 is never closed");
  EXPECT_EQ(parse_error("{{ x $ y }}"),
            "line 1, column 6: unexpected character '$' inside '{{ }}'");
}

TEST(TemplateErrors, DeepNestingIsRejectedInsteadOfOverflowingTheStack) {
  EXPECT_NE(parse_error("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}")
                .find("nested too deeply"),
            std::string::npos);
  std::string nested_ifs;
  for (int i = 0; i < 1000; ++i) nested_ifs += "{% if true %}";
  EXPECT_NE(parse_error(nested_ifs).find("nested too deeply"), std::string::npos);
  EXPECT_NE(render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
                .find("recursion is too deep"),
            std::string::npos);
}

TEST(TemplateErrors, RaiseExceptionCarriesTheTemplatesMessage) {
  const std::string message = render_error(
      "{% for m in messages %}\n{% if m.role not in ['user', 'assistant'] %}\n"
      "  {{ raise_exception('Only user and assistant roles are supported, got ' + m.role) }}\n"
      "{% endif %}{% endfor %}",
      ordered_json::parse(R"({"messages": [{"role": "user"}, {"role": "robot"}]})"));
  EXPECT_EQ(
      message,
      "line 3, column 6: raise_exception: Only user and assistant roles are supported, got robot");
}

TEST(TemplateErrors, RuntimeErrorsHaveLocationAndPythonWording) {
  EXPECT_EQ(render_error("\n\n   {{ missing + 1 }}"), "line 3, column 7: 'missing' is undefined");
  EXPECT_EQ(render_error("{{ m.content.x }}", {{"m", ordered_json::object()}}),
            "line 1, column 13: 'dict object' has no attribute 'content'");
  EXPECT_EQ(render_error("{{ 'a' + 1 }}"),
            "line 1, column 4: can only concatenate str (not \"int\") to str");
  EXPECT_EQ(render_error("{{ 1 // 0 }}"), "line 1, column 4: integer division or modulo by zero");
  EXPECT_EQ(render_error("{% for x in none %}{% endfor %}"),
            "line 1, column 13: 'NoneType' object is not iterable");
  EXPECT_EQ(render_error("{{ messages.append(1) }}", {{"messages", ordered_json::array()}}),
            "line 1, column 12: access to attribute 'append' of 'list' object is unsafe (templates "
            "cannot modify lists or dicts)");
  EXPECT_EQ(render_error("{% set s = 1 %}{% set s.x = 2 %}"),
            "line 1, column 16: cannot assign attribute 'x' on 's': only namespace() objects can "
            "be modified, and it is a int");
  EXPECT_EQ(render_error("{{ 9223372036854775807 + 1 }}"),
            "line 1, column 4: integer overflow (values are limited to 64 bits)");
  EXPECT_EQ(render_error("{{ x|join(1) }}", {{"x", {"a"}}}),
            "line 1, column 5: filter 'join': filter 'join' expects a string, got int");
}

TEST(TemplateErrors, ContextMustBeAnObject) {
  auto tmpl = ChatTemplate::parse("x");
  ASSERT_TRUE(tmpl.ok());
  auto out = tmpl->render(ordered_json::array());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message, "chat template context must be a JSON object, got array");
}

}  // namespace
}  // namespace dsv3
