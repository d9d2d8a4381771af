"""Cases for gen_conformance.py: (name, template source, context) triples.

Each construct a chat template may use, with its edge cases, plus whole templates: DeepSeek-R1
and DeepSeek-V3.1 (read from deepseek_templates.h) and templates in the style of other model
families (ChatML with tools, strict role alternation).
"""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))


def read_template(name):
    """Concatenates the raw string literals of `name` in deepseek_templates.h."""
    with open(os.path.join(HERE, "deepseek_templates.h"), encoding="utf-8") as f:
        text = f.read()
    decl = re.search(r"inline constexpr const char\* " + name + r" =(.*?);\n", text, re.S)
    return "".join(re.findall(r'R"TEMPLATE\((.*?)\)TEMPLATE"', decl.group(1), re.S))


R1 = read_template("kR1")
V31 = read_template("kV31")

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"


def chat(messages, **extra):
    ctx = {"messages": messages, "bos_token": BOS, "eos_token": EOS, "pad_token": EOS,
           "tools": None, "documents": None}
    ctx.update(extra)
    return ctx


WEATHER_CALL = {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
TIME_CALL = {"type": "function", "function": {"name": "get_time", "arguments": '{"tz": "CET"}'}}

R1_REASONING = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": "<think>\nAdd the numbers.\n</think>\n\n4"},
    {"role": "user", "content": "And 3+3?"},
]
R1_TOOLS = [
    {"role": "user", "content": "Weather and time in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [WEATHER_CALL, TIME_CALL]},
    {"role": "tool", "content": "18C, sunny"},
    {"role": "tool", "content": "14:05"},
    {"role": "assistant", "content": "It is 18C and sunny; the time is 14:05."},
    {"role": "user", "content": "Thanks!"},
]
V31_TOOLS = [
    {"role": "system", "content": "Use tools."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [WEATHER_CALL]},
    {"role": "tool", "content": "18C, sunny"},
    {"role": "assistant", "content": "18C and sunny."},
    {"role": "user", "content": "And the time?"},
    {"role": "assistant", "content": "Checking.", "tool_calls": [TIME_CALL, WEATHER_CALL]},
    {"role": "tool", "content": "14:05"},
    {"role": "tool", "content": "18C"},
]
V31_HISTORY = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "<think>greet back</think>Hello!"},
    {"role": "user", "content": "Bye"},
]

# A ChatML template with tools in the style of Qwen2.5, written for these tests.
CHATML_TOOLS = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools><|im_end|>\\n" }}
{%- elif messages[0]['role'] == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

CHATML_MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "°C"}}}]},
    {"role": "tool", "content": "18"},
    {"role": "tool", "content": "sunny"},
    {"role": "assistant", "content": "18°C, sunny."},
]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}

# Strict user/assistant alternation, in the style of Mistral and Llama-2 templates.
ALTERNATING = """{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] | trim + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] | trim + eos_token }}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"""

# A Llama-3 style template: header tokens, system default, date variable, tojson with indent.
LLAMA3_STYLE = """{{- bos_token }}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none %}
    {{- "Functions:\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

# Idioms from Qwen3-style templates: reverse scan for the last user query, reasoning split
# with rstrip/lstrip arguments, content that is a string or a list of parts.
QWEN3_STYLE = """{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = message.content|selectattr('type', 'equalto', 'text')|map(attribute='text')|join('') %}
    {%- endif %}
    {%- if message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if '</think>' in content %}
            {%- set reasoning_content = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
            {%- set content = content.split('</think>')[-1].lstrip('\n') %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index and reasoning_content %}
            {{- '<|im_start|>assistant\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
        {%- else %}
            {{- '<|im_start|>assistant\n' + content }}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}"""
QWEN3_MESSAGES = [
    {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "image"}, {"type": "text", "text": "there"}]},
    {"role": "assistant", "content": "<think>\nold plan\n</think>\n\nHello"},
    {"role": "user", "content": "Sum 2 and 3"},
    {"role": "assistant", "content": "<think>\n\nadd\n\n</think>\n\n5"},
    {"role": "user", "content": "<tool_response>x</tool_response>"},
]

# Idioms from Llama-3.1-style tool templates: items over tool arguments, reject('equalto'),
# popping the first message by slicing, tojson with indent.
LLAMA31_TOOLS_STYLE = """{%- if builtin_tools is defined %}Tools: {{ builtin_tools | reject('equalto', 'code_interpreter') | join(", ") }}
{% endif %}
{%- set first = messages[0] %}{%- set messages = messages[1:] %}
System: {{ first.content | trim }}
{% for message in messages %}
{%- if message.tool_calls is defined %}
{%- for tc in message.tool_calls %}
<|python_tag|>{{ tc.function.name }}.call({% for arg_name, arg_val in tc.function.arguments | items %}{{ arg_name }}="{{ arg_val }}"{% if not loop.last %}, {% endif %}{% endfor %})
{{ tc.function.arguments | tojson(indent=2) }}
{%- endfor %}
{%- else %}
{{ message.role }}: {{ message.content }}
{%- endif %}
{% endfor %}"""

ITEMS = [{"name": "a", "n": 3, "tags": ["x"]}, {"name": "B", "n": 1}, {"name": "c", "n": 2, "tags": []}]

CASES = [
    # --- text, comments, whitespace control ---
    ("plain_text", "Hello, world!", {}),
    ("trailing_newline_dropped", "line\n", {}),
    ("two_trailing_newlines", "line\n\n", {}),
    ("crlf_source", "a\r\nb\r\n{% if true %}\r\nc\r\n{% endif %}\r\n", {}),
    ("comment_removed", "a{# note #}b", {}),
    ("comment_own_line", "a\n  {# note #}\nb", {}),
    ("comment_strip", "a  {#- note -#}  b", {}),
    ("comment_multiline", "a{# one\ntwo #}b", {}),
    ("trim_blocks", "{% if true %}\nyes\n{% endif %}\nafter", {}),
    ("lstrip_blocks", "  {% if true %}\n    yes\n  {% endif %}\n", {}),
    ("lstrip_not_mid_line", "x  {% if true %}y{% endif %}", {}),
    ("lstrip_not_variables", "  {{ 1 }}\n", {}),
    ("lstrip_tabs", "\t\t{% if true %}\tyes\n\t{% endif %}", {}),
    ("strip_minus_left", "a   \n  {%- if true %}b{% endif %}", {}),
    ("strip_minus_right", "{% if true -%}   \n  b{% endif %}", {}),
    ("strip_variable_both", "a  {{- 'b' -}}  c", {}),
    ("strip_variable_newlines", "a\n\n{{- x -}}\n\nc", {"x": 1}),
    ("plus_disables_lstrip", "x\n  {%+ if true %}y{% endif %}", {}),
    ("plus_disables_trim", "{% if true +%}\ny{% endif %}", {}),
    ("raw_block", "{% raw %}{{ not parsed }} {% if %}{% endraw %}", {}),
    ("raw_block_trim", "{% raw %}\n  {{ x }}\n{% endraw %}\nz", {}),
    ("whitespace_loop_lines", "{% for i in [1, 2] %}\n  - {{ i }}\n{% endfor %}\n", {}),
    ("whitespace_nested_indent", "<ul>\n  {% for i in [1, 2] %}\n    {% if i > 1 %}\n    <li>{{ i }}</li>\n    {% endif %}\n  {% endfor %}\n</ul>", {}),
    ("brace_not_tag", "a { b } {x} }} %} c", {}),
    # --- literals and printing ---
    ("print_none_bool", "{{ none }} {{ None }} {{ true }} {{ False }}", {}),
    ("print_numbers", "{{ 42 }} {{ -7 }} {{ 1.5 }} {{ 1e16 }} {{ 1e15 }} {{ 0.00001 }} {{ 0.0001 }} {{ 1_000 }} {{ 2.50 }}", {}),
    ("print_float_division", "{{ 10 / 2 }} {{ 1 / 3 }} {{ 2 / 3 }} {{ 1e300 * 1e10 }}", {}),
    ("print_containers", "{{ [1, 'a', none, true, 1.0] }} {{ {'k': 'v', 'n': [1]} }} {{ (1, 'b') }} {{ (1,) }} {{ () }}", {}),
    ("print_string_repr_quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'tab\\there', 'nl\\n'] }}", {}),
    ("string_escapes", "{{ 'a\\nb' }}|{{ \"\\t\\\\\" }}|{{ '\\u00e9\\x41' }}|{{ '\\q' }}", {}),
    ("string_concat_literals", "{{ 'a' 'b' \"c\" }}", {}),
    ("unicode_text", "{{ '你好' }} {{ s }} {{ s|length }}", {"s": "héllo 😀"}),
    ("print_context_types", "{{ i }} {{ f }} {{ b }} {{ n }} {{ l }} {{ d }}", {"i": 3, "f": 2.0, "b": False, "n": None, "l": [1, [2]], "d": {"z": 1, "a": {"b": None}}}),
    ("print_float_edge", "{{ 0.1 + 0.2 }} {{ -0.0 }} {{ 1e-7 }} {{ 123456789.123456789 }} {{ 3 / 2 * 2 }} {{ 'a' ~ 1.0 }} {{ 1.0 == 1 }} {{ [1, 2] == (1, 2) }}", {}),
    ("print_nested_repr", "{% for x in {'a': 1}.items() %}{{ x }}{% endfor %} {{ {'a': \"it's\"} }} {{ ['\\\\'] }} {{ '%s' % none }}", {}),
    ("whitespace_trim_only_newline", "{% if true %}  \nx{% endif %}|{% if true %}\n\ny{% endif %}", {}),
    ("whitespace_comment_line_start", "a\n  {# c #}  b\n  {#- d #}\ne", {}),
    ("whitespace_raw_minus", "x  {%- raw -%}  y  {%- endraw -%}  z", {}),
    ("whitespace_if_else_lines", "{% if false %}\na\n{% else %}\nb\n{% endif %}\nc", {}),
    ("whitespace_set_lines", "  {% set x = 1 %}\n  {{ x }}\n", {}),
    # --- operators ---
    ("arith_basic", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 - 10 }} {{ 2 ** 10 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }}", {}),
    ("arith_division", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}", {}),
    ("arith_mixed", "{{ 1 + 1.5 }} {{ true + 1 }} {{ 3 * 'ab' }} {{ 'ab' * 2 }} {{ [1] * 3 }} {{ [1] + [2] }} {{ 2 ** -1 }}", {}),
    ("concat_tilde", "{{ 'a' ~ 1 ~ none ~ true ~ x }}", {}),
    ("tilde_binds_tighter_than_plus", "{{ 1 ~ 2 + 3 }}", {}),
    ("tilde_precedence", "{{ 1 ~ 2 * 3 }} {{ 2 * 3 ~ 1 }} {{ 'a' ~ 'b' if false else 'c' }}", {}),
    ("string_plus", "{{ 'a' + 'b' }}", {}),
    ("percent_format", "{{ '%s=%d' % ('a', 3) }} {{ '%s' % 'x' }} {{ '100%%' % () }}", {}),
    ("compare_chain", "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 2 == 2.0 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 != 1 }} {{ 3 >= 3 }}", {}),
    ("compare_mixed_eq", "{{ 1 == '1' }} {{ none == none }} {{ x == none }} {{ true == 1 }} {{ {'a': 1} == {'a': 1} }}", {}),
    ("in_operator", "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 'z' not in 'abc' }} {{ 1 in x }}", {}),
    ("and_or_values", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ none or [] }} {{ not 0 }} {{ not not 'a' }}", {}),
    ("not_precedence", "{{ not 1 == 2 }} {{ not x is defined }} {{ not true and false }}", {}),
    ("ternary", "{{ 'yes' if 1 else 'no' }} {{ 'yes' if 0 else 'no' }} {{ 'a' if false else 'b' if true else 'c' }}", {}),
    ("ternary_no_else", "[{{ 'shown' if false }}]", {}),
    ("unary", "{{ -x }} {{ +x }} {{ - -3 }} {{ -1.5 }}", {"x": 4}),
    ("neg_filter_precedence", "{{ -3|abs }} {{ (-3)|abs }}", {}),
    # --- attribute, item, slice ---
    ("attr_and_item", "{{ m.content }} {{ m['content'] }} {{ m.missing }}|{{ m['missing'] }}|{{ l[0] }} {{ l[-1] }} {{ l.1 }}", {"m": {"content": "hi"}, "l": [1, 2, 3]}),
    ("item_out_of_range", "[{{ l[5] }}][{{ 'ab'[9] }}][{{ none[0] }}][{{ 5.x }}]", {"l": [1]}),
    ("nested_access", "{{ t['function']['name'] }} {{ t.function.arguments }}", {"t": WEATHER_CALL}),
    ("dict_method_vs_key", "{{ d.items()|list }}|{{ d['items'] }}|{{ d.get('items') }}|{{ d.items is callable }}", {"d": {"items": 5}}),
    ("slices", "{{ l[1:] }} {{ l[:-1] }} {{ l[::2] }} {{ l[::-1] }} {{ l[-2:] }} {{ l[1:3] }} {{ l[5:] }} {{ l[3:1] }} {{ l[3:1:-1] }}", {"l": [0, 1, 2, 3, 4]}),
    ("string_slices", "{{ s[1:] }}|{{ s[-2:] }}|{{ s[::-1] }}|{{ s[0] }}|{{ s[-1] }}|{{ s[:2] }}", {"s": "héllo😀"}),
    ("tuple_slice", "{{ (1, 2, 3)[1:] }}", {}),
    ("undefined_prints_empty", "[{{ missing }}][{{ missing|default('d') }}][{{ missing is defined }}]", {}),
    # --- if / for / set ---
    ("if_elif_else", "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %},{% endfor %}", {}),
    ("if_truthiness", "{% for v in [0, 1, '', 'a', [], [0], {}, none] %}{% if v %}T{% else %}F{% endif %}{% endfor %}", {}),
    ("for_loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", {}),
    ("for_prev_next", "{% for x in [1, 2, 3] %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}|{% endfor %}", {}),
    ("for_cycle", "{% for x in range(5) %}{{ loop.cycle('a', 'b', 'c') }}{% endfor %}", {}),
    ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in [1] %}x{% else %}empty{% endfor %}", {}),
    ("for_filter", "{% for x in range(10) if x is odd %}{{ x }}{{ '/' if not loop.last }}{% endfor %}", {}),
    ("for_unpack_items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": {"b": 1, "a": 2, "c": [3]}}),
    ("for_unpack_pairs", "{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }} {% endfor %}", {}),
    ("for_dict_keys", "{% for k in d %}{{ k }}{% endfor %}", {"d": {"x": 1, "y": 2}}),
    ("for_string_chars", "{% for c in '你好' %}[{{ c }}]{% endfor %}", {}),
    ("for_nested_loop_vars", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ b }}{% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("for_over_undefined", "[{% for x in missing %}{{ x }}{% endfor %}]", {}),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("set_simple", "{% set x = 3 %}{% set y = x * 2 %}{{ x }} {{ y }}", {}),
    ("set_tuple_unpack", "{% set a, b = 1, 'two' %}{{ a }} {{ b }}", {}),
    ("set_in_loop_is_local", "{% set x = 0 %}{% for i in [1, 2] %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}", {}),
    ("set_in_if_is_outer", "{% if true %}{% set x = 5 %}{% endif %}{{ x }}", {}),
    ("set_shadows_context", "{{ v }}{% set v = 'new' %}{{ v }}", {"v": "old"}),
    ("namespace_across_iterations", "{% set ns = namespace(count=0, names='') %}{% for m in msgs %}{% if m.role == 'user' %}{% set ns.count = ns.count + 1 %}{% set ns.names = ns.names ~ m.content %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.names }}", {"msgs": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}),
    ("namespace_nested_loops", "{% set ns = namespace(total=0) %}{% for a in [1, 2] %}{% for b in [10, 20] %}{% set ns.total = ns.total + a * b %}{% endfor %}{% endfor %}{{ ns.total }}", {}),
    ("namespace_print_and_dict_arg", "{{ namespace(a=1) }} {% set n = namespace({'x': 1}, y=2) %}{{ n.x }}{{ n.y }}{{ n['x'] }}[{{ n.z }}]", {}),
    ("set_block", "{% set body %}Hello {{ name }}!{% endset %}[{{ body }}]", {"name": "Ann"}),
    ("set_block_filter", "{% set body | upper | trim %}  hi {{ 1 }}  {% endset %}[{{ body }}]", {}),
    ("filter_block", "{% filter upper %}abc {{ 'def' }}{% endfilter %}", {}),
    ("with_block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
    ("macro_basic", "{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', 'Hi') }} {{ greet(greeting='Yo', name='Cy') }}", {}),
    ("macro_missing_arg_undefined", "{% macro f(a, b) %}[{{ a }}][{{ b }}]{% endmacro %}{{ f(1) }}", {}),
    ("macro_sees_outer_at_call", "{% set x = 1 %}{% macro f() %}{{ x }}{% endmacro %}{% set x = 2 %}{{ f() }}", {}),
    ("macro_recursive", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}", {}),
    ("macro_render_json", "{% macro render(v) %}{% if v is mapping %}{{ '{' }}{% for k, x in v.items() %}{{ k }}:{{ render(x) }}{{ ',' if not loop.last }}{% endfor %}{{ '}' }}{% elif v is string %}'{{ v }}'{% else %}{{ v }}{% endif %}{% endmacro %}{{ render(d) }}", {"d": {"a": 1, "b": {"c": "s"}}}),
    ("macro_varargs_kwargs", "{% macro f(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, 2, 3, k=4) }}", {}),
    # --- tests ---
    ("tests_types", "{% for v in [none, true, 1, 1.5, 's', [1], {'a': 1}] %}{{ v is none }}{{ v is boolean }}{{ v is integer }}{{ v is float }}{{ v is number }}{{ v is string }}{{ v is mapping }}{{ v is iterable }}{{ v is sequence }};{% endfor %}", {}),
    ("tests_defined", "{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ x is not none }} {{ n is none }} {{ n is not defined }} {{ d.k is defined }} {{ d.z is defined }}", {"x": 1, "n": None, "d": {"k": 1}}),
    ("tests_numbers", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 2 is gt 1 }} {{ 2 is lt 1 }} {{ 2 is ge 2 }} {{ 1 is le 0 }} {{ 2 is eq 2 }} {{ 2 is ne 2 }}", {}),
    ("tests_misc", "{{ 'a' is equalto 'a' }} {{ 1 is in [1, 2] }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ none is sameas none }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ range is callable }}", {}),
    ("test_undefined_iterable", "{{ missing is iterable }} {{ missing is mapping }} {{ missing is string }}", {}),
    # --- filters ---
    ("filter_length_count", "{{ [1, 2]|length }} {{ 'héllo'|length }} {{ {'a': 1}|count }} {{ missing|length }} {{ ''|length }}", {}),
    ("filter_case", "{{ 'Hello World'|lower }} {{ 'Hello'|upper }} {{ 'hELLO wORLD'|capitalize }} {{ \"hello it's a-b (c) [d]\"|title }} {{ 42|upper }}", {}),
    ("filter_trim", "[{{ '  a b  '|trim }}][{{ 'xxaxx'|trim('x') }}][{{ '\\n\\ta\\n'|trim }}]", {}),
    ("filter_string", "{{ 1|string ~ 2 }} {{ none|string }} {{ [1]|string }}", {}),
    ("filter_first_last", "{{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|first }} {{ 'abc'|last }} [{{ []|first }}] {{ {'a': 1, 'b': 2}|first }}", {}),
    ("filter_join", "{{ [1, 2, 3]|join }} {{ [1, 2, 3]|join(', ') }} {{ ['a', none]|join('-') }} {{ items|join(',', attribute='name') }} {{ 'abc'|join('.') }}", {"items": ITEMS}),
    ("filter_default", "{{ missing|default('d') }} {{ none|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ 0|d('z', boolean=true) }} {{ 'v'|d('z') }} [{{ missing|default }}]", {}),
    ("filter_replace", "{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'a.b'|replace('.', '') }} {{ 12321|replace(2, 'x') }}", {}),
    ("filter_int", "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ '0x1A'|int(base=16) }} {{ 4.9|int }} {{ -4.9|int }} {{ ' 12 '|int }} {{ true|int }} {{ '1_000'|int }} {{ none|int }} {{ '-3'|int }}", {}),
    ("filter_float", "{{ '3'|float }} {{ 'x'|float }} {{ 3|float }} {{ '1e3'|float }} {{ ' 2.5 '|float }} {{ 'x'|float(1.5) }}", {}),
    ("filter_list_items", "{{ 'ab'|list }} {{ {'a': 1}|list }} {{ (1, 2)|list }} {{ {'b': 1, 'a': 2}|items|list }} {{ missing|items|list }}", {}),
    ("filter_select_reject", "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ [0, 1, '', 'a', none]|select|list }} {{ [1, 5, 10]|select('gt', 4)|list }} {{ [1, 2]|select('in', [2, 3])|list }}", {}),
    ("filter_selectattr", "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ msgs|rejectattr('role', 'eq', 'user')|list|length }} {{ msgs|selectattr('tool_calls')|list|length }} {{ msgs|selectattr('tool_calls', 'defined')|list|length }} {{ msgs|selectattr('role', 'in', ['user', 'system'])|list|length }}", {"msgs": [{"role": "system", "content": "s"}, {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a", "tool_calls": []}, {"role": "user", "content": "u2"}]}),
    ("filter_map", "{{ items|map(attribute='name')|join(',') }} {{ ['a', 'b']|map('upper')|list }} {{ items|map(attribute='tags', default='-')|list }} {{ [1.2, 3.7]|map('int')|list }} {{ [[1, 2], [3, 4]]|map(attribute='1')|list }} {{ [{'t': ['x']}, {'t': ['y', 'z']}]|map(attribute='t.0')|list }}", {"items": ITEMS}),
    ("filter_sort", "{{ [3, 1, 2]|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ ['b', 'A', 'a', 'C']|sort }} {{ ['b', 'A', 'a']|sort(case_sensitive=true) }} {{ items|sort(attribute='n')|map(attribute='name')|join }} {{ items|sort(attribute='name')|map(attribute='name')|join }}", {"items": ITEMS}),
    ("filter_unique_minmax_sum", "{{ [1, 2, 2, 1, 3]|unique|list }} {{ ['a', 'A', 'b']|unique|list }} {{ [3, 1, 2]|min }} {{ [3, 1, 2]|max }} {{ ['b', 'A']|min }} {{ [1, 2, 3]|sum }} {{ items|sum(attribute='n') }} {{ [1.5, 2]|sum(start=10) }} {{ items|max(attribute='n')|attr('name') }} {{ (items|max(attribute='n'))['name'] }} {{ {'a': 1}|attr('get') is callable }}", {"items": ITEMS}),
    ("filter_reverse", "{{ [1, 2, 3]|reverse|list }} {{ 'abc'|reverse }} {{ 'héllo'|reverse }}", {}),
    ("filter_dictsort", "{{ {'b': 1, 'a': 3, 'C': 2}|dictsort }} {{ {'b': 1, 'a': 3}|dictsort(by='value') }} {{ {'b': 1, 'a': 3}|dictsort(reverse=true) }}", {}),
    ("filter_round_abs", "{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 3.14159|round(3) }} {{ 2.5|round(0, 'floor') }} {{ 2.1|round(0, 'ceil') }} {{ -3|abs }} {{ -2.5|abs }} {{ 7|round }}", {}),
    ("filter_indent", "[{{ 'a\\nb\\n\\nc'|indent }}][{{ 'a\\nb'|indent(2, true) }}][{{ 'a\\n\\nb'|indent(2, blank=true) }}][{{ 'x\\ny'|indent('> ') }}]", {}),
    ("filter_tojson", "{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ [1, 'é', none, true, 1.0]|tojson }}|{{ 'q\"\\\\\\n\\t'|tojson }}|{{ d|tojson(sort_keys=true) }}|{{ d|tojson(separators=(',', ':')) }}|{{ 'é'|tojson(ensure_ascii=true) }}|{{ {}|tojson(indent=2) }}|{{ []|tojson }}", {"d": {"z": [1, {"y": "ü"}], "a": None, "m": {}}}),
    ("filter_tojson_tools", "{% for t in tools %}{{ t|tojson }}\n{{ t|tojson(indent=4) }}{% endfor %}", {"tools": [WEATHER_TOOL]}),
    ("filter_escape_safe", "{{ '<a href=\"x\">&\\'</a>'|e }} {{ '<b>'|escape }} {{ '<i>'|safe }}", {}),
    ("filter_wordcount_center_batch", "{{ 'one two  three'|wordcount }} [{{ 'ab'|center(7) }}] [{{ 'abc'|center(6) }}] {{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 0)|list }}", {}),
    ("filter_format", "{{ '%s-%s'|format('a', 1) }} {{ '%d%%'|format(50) }}", {}),
    ("filter_chain", "{{ '  Hello  '|trim|lower|replace('l', 'L')|length }}", {}),
    ("filter_with_expression_args", "{{ ['a', 'b']|join(sep ~ sep) }}", {"sep": "-"}),
    # --- methods ---
    ("str_methods_affix", "{{ s.startswith('ab') }} {{ s.endswith('yz') }} {{ s.startswith(('x', 'a')) }} {{ s.endswith('q') }}", {"s": "abcxyz"}),
    ("str_methods_strip", "[{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}][{{ 'xxaxx'.strip('x') }}][{{ '\\u3000a\\u3000'.strip() }}][{{ 'abcba'.rstrip('ab') }}]", {"s": "  pad  "}),
    ("str_methods_split", "{{ 'a,b,,c'.split(',') }} {{ ' a  b c '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ '  a b  c  '.split(none, 1) }} {{ '  a b  c  '.rsplit(none, 1) }} {{ ''.split() }} {{ ''.split(',') }} {{ 'a<sep>b'.split('<sep>')[-1] }}", {}),
    ("str_methods_think_split", "{{ c.split('</think>')[-1] }}|{{ c.split('</think>', 1)[1] }}|{{ c.split('</think>')[0].strip() }}", {"c": "<think>\nr1\n</think>\n\nans</think>x"}),
    ("str_methods_case", "{{ 'hello world'.title() }} {{ \"it's\".title() }} {{ 'ABC'.lower() }} {{ 'abc'.upper() }} {{ 'aBC'.capitalize() }}", {}),
    ("str_methods_find", "{{ 'héllo'.find('l') }} {{ 'abc'.find('z') }} {{ 'abcabc'.rfind('b') }} {{ 'abcabc'.count('bc') }} {{ 'aaa'.count('') }} {{ 'abc'.index('c') }}", {}),
    ("str_methods_replace", "{{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '', 1) }} {{ 'abc'.replace('', '.') }}", {}),
    ("str_methods_misc", "{{ ', '.join(['a', 'b']) }} {{ '{} and {}'.format(1, 'x') }} {{ '{0}{0}{name}'.format('r', name='n') }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ '123'.isdigit() }} {{ 'a1'.isalpha() }} {{ ' '.isspace() }} {{ 'abc'.islower() }} {{ 'prefix-x'.removeprefix('prefix-') }}", {}),
    ("dict_methods", "{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 0) }} {{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }}", {"d": {"a": 1, "b": [2]}}),
    ("list_methods", "{{ l.index(2) }} {{ l.count(1) }}", {"l": [1, 2, 1]}),
    # --- globals ---
    ("range_global", "{{ range(3)|list }} {{ range(1, 4)|list }} {{ range(10, 0, -3)|list }} {{ range(0)|list }}", {}),
    ("dict_global", "{{ dict(a=1, b='x') }}", {}),
    # --- errors (rendering must fail) ---
    ("error_raise_exception", "{% if true %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}", {}),
    ("error_undefined_arith", "{{ missing + 1 }}", {}),
    ("error_undefined_attr_chain", "{{ missing.attr }}", {}),
    ("error_missing_key_chain", "{{ d.x.y }}", {"d": {}}),
    ("error_call_undefined", "{{ nothing() }}", {}),
    ("error_type_add", "{{ 1 + 'a' }}", {}),
    ("error_str_plus_none", "{{ 'a' + none }}", {}),
    ("error_division_by_zero", "{{ 1 / 0 }}", {}),
    ("error_iterate_none", "{% for x in none %}{% endfor %}", {}),
    ("error_length_of_int", "{{ 5|length }}", {}),
    ("error_list_append", "{{ l.append(1) }}", {"l": []}),
    ("error_dict_pop", "{{ d.pop('a') }}", {"d": {"a": 1}}),
    ("error_set_attr_not_namespace", "{% set s = 'x' %}{% set s.a = 1 %}", {}),
    ("error_unpack_count", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
    ("error_range_too_big", "{{ range(200000)|length }}", {}),
    ("error_unhashable_key", "{{ {[1]: 2} }}", {}),
    ("error_not_callable", "{{ 'abc'() }}", {}),
    ("error_in_int", "{{ 1 in 'abc' }}", {}),
    ("error_compare_types", "{{ 'a' < 1 }}", {}),
    ("error_map_path_through_undefined", "{{ items|map(attribute='tags.0')|list }}", {"items": ITEMS}),
    ("error_tojson_undefined", "{{ missing|tojson }}", {}),
    # --- whole templates ---
    ("r1_reasoning_stripped", R1, chat(R1_REASONING, add_generation_prompt=True)),
    ("r1_tool_calls", R1, chat(R1_TOOLS, add_generation_prompt=True)),
    ("r1_ends_with_tool_output", R1, chat(R1_TOOLS[:4], add_generation_prompt=True)),
    ("r1_no_generation_prompt", R1, chat(R1_REASONING[:3])),
    ("v31_non_thinking", V31, chat(V31_HISTORY, add_generation_prompt=True)),
    ("v31_thinking", V31, chat(V31_HISTORY, add_generation_prompt=True, thinking=True)),
    ("v31_tool_calls", V31, chat(V31_TOOLS, add_generation_prompt=True)),
    ("v31_prefix_thinking", V31, chat(V31_HISTORY[:1] + [{"role": "assistant", "content": "Let me", "prefix": True}], thinking=True)),
    ("chatml_tools", CHATML_TOOLS, chat(CHATML_MESSAGES, tools=[WEATHER_TOOL], add_generation_prompt=True)),
    ("chatml_no_tools", CHATML_TOOLS, chat(CHATML_MESSAGES[:2], add_generation_prompt=False)),
    ("alternating_ok", ALTERNATING, chat([{"role": "user", "content": " hi "}, {"role": "assistant", "content": "hello "}, {"role": "user", "content": "bye"}])),
    ("alternating_error", ALTERNATING, chat([{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}])),
    ("llama3_style", LLAMA3_STYLE, chat([{"role": "system", "content": " Be nice. "}, {"role": "user", "content": "Hi"}], tools=[WEATHER_TOOL], add_generation_prompt=True)),
    ("qwen3_style", QWEN3_STYLE, chat(QWEN3_MESSAGES, add_generation_prompt=True, enable_thinking=False)),
    ("llama31_tools_style", LLAMA31_TOOLS_STYLE, chat([
        {"role": "system", "content": "  Sys  "},
        {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "search", "arguments": {"query": "x y", "n": 3}}}]},
        {"role": "user", "content": "ok"}], builtin_tools=["brave_search", "code_interpreter", "wolfram"])),
    ("llama3_style_no_system", LLAMA3_STYLE, chat([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}], date_string="1 Jan 2025")),
]
