// One test per construct, with outputs worked out by hand from Jinja2's documented behaviour
// (the generated conformance suite covers the same ground against Python Jinja2 itself).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "template/chat_template.h"
#include "template/py_text.h"

namespace dsv3 {
namespace {

using nlohmann::ordered_json;

std::string render(std::string_view source, const ordered_json& context = ordered_json::object(),
                   const TemplateOptions& options = {}) {
  auto tmpl = ChatTemplate::parse(source, options);
  EXPECT_TRUE(tmpl.ok()) << tmpl.error().message;
  if (!tmpl.ok()) return "<parse error>";
  auto out = tmpl->render(context);
  EXPECT_TRUE(out.ok()) << out.error().message;
  return out.ok() ? *out : "<render error>";
}

TEST(TemplateWhitespace, TransformersDefaultsTrimAndLstripBlocks) {
  const char* source = "<ul>\n  {% for x in [1, 2] %}\n  <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n";
  EXPECT_EQ(render(source), "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>");
  // Plain Jinja2 defaults keep every newline and indent, and the final newline too.
  const TemplateOptions plain{
      .trim_blocks = false, .lstrip_blocks = false, .keep_trailing_newline = true};
  EXPECT_EQ(render(source, {}, plain), "<ul>\n  \n  <li>1</li>\n  \n  <li>2</li>\n  \n</ul>\n");
}

TEST(TemplateWhitespace, MinusAndPlusModifiers) {
  EXPECT_EQ(render("a  \n {%- if true -%} \n b {%- endif %}"), "ab");
  EXPECT_EQ(render("a\n  {{- 'b' -}}  \nc"), "abc");
  EXPECT_EQ(render("a {#- comment -#} b"), "ab");
  EXPECT_EQ(render("a\n  {%+ if true %}b{% endif %}"), "a\n  b");  // + keeps the indent
  EXPECT_EQ(render("{% if true +%}\nb{% endif %}"), "\nb");        // + keeps the newline
  EXPECT_EQ(render("{{ 'x' }}\ny"), "x\ny");  // trim_blocks never applies to {{ }}
}

TEST(TemplateWhitespace, RawBlockIsNotInterpreted) {
  EXPECT_EQ(render("{% raw %}{{ x }}{% if %}{% endraw %}"), "{{ x }}{% if %}");
}

// Python's str.strip / lstrip / rstrip on code points (the lexer's '-' modifiers and the trim
// filter use them): Unicode spaces count, a truncated sequence is kept as it is.
TEST(TemplateWhitespace, StripsCodePointsAtEitherEnd) {
  using jinja::strip_chars;
  using jinja::strip_space;
  const std::string spaced = " \t\u3000a b\u2003\n";
  EXPECT_EQ(strip_space(spaced, true, true), "a b");
  EXPECT_EQ(strip_space(spaced, true, false), "a b\u2003\n");
  EXPECT_EQ(strip_space(spaced, false, true), " \t\u3000a b");
  EXPECT_EQ(strip_space(spaced, false, false), spaced);
  EXPECT_EQ(strip_space("  a\xE3\x80", true, true), "a\xE3\x80");
  for (bool left : {false, true}) {
    EXPECT_EQ(strip_space(" \t\n", left, !left), "");
    EXPECT_EQ(strip_space("", left, true), "");
  }
  EXPECT_EQ(strip_chars("xxaxyx", "xy", true, false), "axyx");
  EXPECT_EQ(strip_chars("xxaxyx", "xy", false, true), "xxa");
  EXPECT_EQ(strip_chars("\u00e9\u00e9a\u00e9", "\u00e9", true, true), "a");
}

TEST(TemplateLoops, LoopVariables) {
  EXPECT_EQ(
      render("{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
             "{{ loop.first }}{{ loop.last }}{{ loop.length }} {% endfor %}"),
      "103TrueFalse3 212FalseFalse3 321FalseTrue3 ");
}

TEST(TemplateLoops, ElseFilterAndUnpacking) {
  EXPECT_EQ(render("{% for x in [] %}x{% else %}none{% endfor %}"), "none");
  EXPECT_EQ(render("{% for x in range(6) if x % 2 == 0 %}{{ x }}/{{ loop.length }} {% endfor %}"),
            "0/3 2/3 4/3 ");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}",
                   {{"d", {{"z", 1}, {"a", 2}}}}),
            "z=1,a=2,");
}

TEST(TemplateLoops, BreakAndContinue) {
  EXPECT_EQ(render("{% for x in range(10) %}{% if x is even %}{% continue %}{% endif %}"
                   "{% if x > 6 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
            "135");
}

TEST(TemplateScoping, SetInsideLoopDoesNotLeakButNamespaceCarries) {
  // Each iteration starts from the outer `x`; the namespace keeps its state across iterations
  // and after the loop, which is what chat templates use it for.
  EXPECT_EQ(render("{% set x = 'outer' %}{% set ns = namespace(n=0, last='') %}"
                   "{% for m in ['a', 'b', 'c'] %}{{ x }}-{% set x = m %}{% set ns.n = ns.n + 1 %}"
                   "{% set ns.last = m %}{% endfor %}{{ x }} {{ ns.n }} {{ ns.last }}"),
            "outer-outer-outer-outer 3 c");
  EXPECT_EQ(render("{% if true %}{% set y = 1 %}{% endif %}{{ y }}"), "1");  // if shares the scope
}

TEST(TemplateMacros, DefaultsKeywordsAndRecursion) {
  EXPECT_EQ(render("{% macro tag(name, body='', close=true) %}<{{ name }}>{{ body }}{% if close "
                   "%}</{{ name }}>"
                   "{% endif %}{% endmacro %}{{ tag('b', 'x') }}{{ tag('br', close=false) }}"),
            "<b>x</b><br>");
  EXPECT_EQ(render("{% macro count(n) %}{{ n }}{% if n > 0 %},{{ count(n - 1) }}{% endif %}{% "
                   "endmacro %}{{ count(3) }}"),
            "3,2,1,0");
}

TEST(TemplateExpressions, SlicingAndIndexing) {
  const ordered_json ctx = {{"l", {0, 1, 2, 3, 4}}, {"s", "héllo"}};
  EXPECT_EQ(render("{{ l[-1] }} {{ l[1:3] }} {{ l[::-2] }} {{ l[:-3] }} {{ l[10:] }}", ctx),
            "4 [1, 2] [4, 2, 0] [0, 1] []");
  EXPECT_EQ(render("{{ s[1] }} {{ s[-4:-1] }} {{ s[::-1] }} {{ s|length }}", ctx), "é éll olléh 5");
}

TEST(TemplateExpressions, OperatorsFollowPython) {
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 8 }} {{ 1 ~ 2 }} "
                   "{{ 'ab' * 2 }}"),
            "3 -4 2 3.5 256 12 abab");
  EXPECT_EQ(render("{{ 1 < 2 < 3 }} {{ 'b' in 'abc' }} {{ 3 not in [1, 2] }} {{ 0 or 'x' }} {{ 'a' "
                   "and 'b' }}"),
            "True True True x b");
  EXPECT_EQ(render("{{ 'yes' if n > 1 else 'no' }}", {{"n", 2}}), "yes");
}

TEST(TemplateExpressions, UndefinedIsFalsyAndPrintsEmpty) {
  EXPECT_EQ(render("[{{ m.missing }}][{{ m['missing'] }}][{{ nothing }}]{{ m.missing is defined "
                   "}}{{ not nothing }}",
                   {{"m", {{"a", 1}}}}),
            "[][][]FalseTrue");
}

TEST(TemplateFilters, CommonChatTemplateFilters) {
  const ordered_json ctx = ordered_json::parse(R"({"msgs": [
      {"role": "system", "content": " sys "}, {"role": "user", "content": "hi"},
      {"role": "assistant", "content": "yo", "tool_calls": [{"name": "f"}]}]})");
  EXPECT_EQ(
      render("{{ msgs|length }} {{ msgs|first|attr('get') is callable }} {{ (msgs|last).role }}",
             ctx),
      "3 True assistant");
  EXPECT_EQ(
      render("{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }}",
             ctx),
      "hi");
  EXPECT_EQ(render("{{ msgs|rejectattr('tool_calls', 'defined')|list|length }}", ctx), "2");
  EXPECT_EQ(
      render(
          "[{{ msgs[0].content|trim }}] {{ 'Hi'|upper }}{{ 'Hi'|lower }} {{ 'hello world'|title }}"
          " {{ 'hello'|capitalize }} {{ x|default('none') }} {{ 'a-b'|replace('-', '+') }}",
          ctx),
      "[sys] HIhi Hello World Hello none a+b");
  EXPECT_EQ(render("{{ '3'|int + '1.5'|float }} {{ 'ab'|list }} {{ {'a': 1}|items|list }} {{ "
                   "42|string ~ '!' }}"),
            "4.5 ['a', 'b'] [('a', 1)] 42!");
}

TEST(TemplateFilters, ToJsonMatchesTransformers) {
  const ordered_json ctx =
      ordered_json::parse(R"({"t": {"name": "f", "desc": "é \"q\"", "n": [1, 2.5, null, true]}})");
  EXPECT_EQ(render("{{ t|tojson }}", ctx),
            R"({"name": "f", "desc": "é \"q\"", "n": [1, 2.5, null, true]})");
  EXPECT_EQ(render("{{ t.n|tojson(indent=2) }}", ctx), "[\n  1,\n  2.5,\n  null,\n  true\n]");
  EXPECT_EQ(render("{{ t|tojson(sort_keys=true, separators=(',', ':')) }}", ctx),
            R"({"desc":"é \"q\"","n":[1,2.5,null,true],"name":"f"})");
  EXPECT_EQ(render("{{ 'é'|tojson(ensure_ascii=true) }}"), R"("\u00e9")");
}

TEST(TemplateTests, IsTests) {
  EXPECT_EQ(
      render("{{ x is defined }}{{ y is defined }}{{ n is none }}{{ x is not none }}{{ 's' is "
             "string }}"
             "{{ {} is mapping }}{{ [] is iterable }}{{ 3 is string }}{{ 4 is divisibleby 2 }}",
             {{"x", 1}, {"n", nullptr}}),
      "TrueFalseTrueTrueTrueTrueTrueFalseTrue");
}

TEST(TemplateMethods, StringAndDictMethods) {
  const ordered_json ctx = {{"c", "<think>plan</think>\n\nanswer"}, {"d", {{"a", 1}}}};
  EXPECT_EQ(render("{{ c.split('</think>')[-1].strip() }}|{{ c.startswith('<think>') }}|{{ "
                   "c.find('plan') }}",
                   ctx),
            "answer|True|7");
  EXPECT_EQ(
      render("{{ d.get('a') }} {{ d.get('b', 'none') }} {{ d.keys()|list }} {{ d.values()|list }}",
             ctx),
      "1 none ['a'] [1]");
  EXPECT_EQ(render("{{ ' a b '.split() }} {{ 'x,y'.rsplit(',', 1) }} {{ 'aXa'.replace('a', 'b') }} "
                   "{{ 'Ab'.lower() }}"),
            "['a', 'b'] ['x', 'y'] bXb ab");
}

TEST(TemplateStatements, SetBlockFilterBlockWithAndGeneration) {
  EXPECT_EQ(render("{% set x %}a{{ 1 }}{% endset %}{{ x }}|{% filter upper %}b{% endfilter %}"
                   "|{% with y = 2 %}{{ y }}{% endwith %}[{{ y }}]"),
            "a1|B|2[]");
  // transformers' {% generation %} marks assistant text for masks; it renders its body.
  EXPECT_EQ(render("{% generation %}gen{% endgeneration %}"), "gen");
}

TEST(TemplateGlobals, StrftimeNowUsesTheFormat) {
  const std::string year = render("{{ strftime_now('%Y') }}");
  ASSERT_EQ(year.size(), 4u);
  EXPECT_GE(std::stoi(year), 2024);
}

TEST(TemplateContext, JsonKeyOrderIsKept) {
  const ordered_json ctx =
      ordered_json::parse(R"({"d": {"zeta": 1, "alpha": 2, "mid": {"b": 1, "a": 2}}})");
  EXPECT_EQ(render("{{ d|tojson }} {% for k in d %}{{ k }} {% endfor %}", ctx),
            R"({"zeta": 1, "alpha": 2, "mid": {"b": 1, "a": 2}} zeta alpha mid )");
}

TEST(RenderChat, BuildsTheContextLikeTransformers) {
  auto tmpl = ChatTemplate::parse(
      "{{ messages|length }}|{{ add_generation_prompt is defined }}|{{ tools is none }}|{{ "
      "documents is none }}"
      "|{{ bos_token }}|{{ eos_token }}|{{ pad_token }}|{{ custom|default('-') }}");
  ASSERT_TRUE(tmpl.ok()) << tmpl.error().message;
  const ordered_json messages = ordered_json::parse(R"([{"role": "user", "content": "x"}])");
  auto undefined_prompt = render_chat(*tmpl, messages, std::nullopt, "<s>", "</s>");
  ASSERT_TRUE(undefined_prompt.ok()) << undefined_prompt.error().message;
  EXPECT_EQ(*undefined_prompt, "1|False|True|True|<s>|</s>|</s>|-");
  auto with_extra =
      render_chat(*tmpl, messages, true, "<s>", "</s>",
                  {{"tools", {{{"type", "function"}}}}, {"custom", "c"}, {"pad_token", "<pad>"}});
  ASSERT_TRUE(with_extra.ok()) << with_extra.error().message;
  EXPECT_EQ(*with_extra, "1|True|False|True|<s>|</s>|<pad>|c");
}

TEST(RenderChat, AcceptsPlainNlohmannJson) {
  auto tmpl =
      ChatTemplate::parse("{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}");
  ASSERT_TRUE(tmpl.ok());
  const nlohmann::json messages = nlohmann::json::parse(R"([{"role": "user", "content": "a"}])");
  auto out = render_chat(*tmpl, messages, false, "", "");
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out, "user:a;");
}

TEST(PyText, FloatReprMatchesPython) {
  EXPECT_EQ(jinja::python_float_repr(1.0), "1.0");
  EXPECT_EQ(jinja::python_float_repr(0.1), "0.1");
  EXPECT_EQ(jinja::python_float_repr(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(jinja::python_float_repr(1e16), "1e+16");
  EXPECT_EQ(jinja::python_float_repr(1234567890123456.0), "1234567890123456.0");
  EXPECT_EQ(jinja::python_float_repr(1e-5), "1e-05");
  EXPECT_EQ(jinja::python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(jinja::python_float_repr(-2.5e-7), "-2.5e-07");
  EXPECT_EQ(jinja::python_float_repr(1.5e300), "1.5e+300");
}

TEST(PyText, SplitMatchesPython) {
  using V = std::vector<std::string>;
  EXPECT_EQ(jinja::python_split("  a b  c  ", "", -1, false), (V{"a", "b", "c"}));
  EXPECT_EQ(jinja::python_split("  a b  c  ", "", 1, false), (V{"a", "b  c  "}));
  EXPECT_EQ(jinja::python_split("  a b  c  ", "", 1, true), (V{"  a b", "c"}));
  EXPECT_EQ(jinja::python_split("a,,b", ",", -1, false), (V{"a", "", "b"}));
  EXPECT_EQ(jinja::python_split("a,b,c", ",", 1, true), (V{"a,b", "c"}));
  EXPECT_EQ(jinja::python_split("", ",", -1, false), (V{""}));
}

}  // namespace
}  // namespace dsv3
