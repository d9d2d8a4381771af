#!/usr/bin/env python3
"""Renders the DeepSeek-V3.2 chat-format fixtures with the official encoder.

usage: scripts/render_dsv32_fixtures.py ENCODING_DSV32_PY OUT_JSON

ENCODING_DSV32_PY is encoding/encoding_dsv32.py of the Hugging Face repository
deepseek-ai/DeepSeek-V3.2 (MIT licence), read from that path; nothing is downloaded. Each case
below is encoded with encode_messages(messages, thinking_mode) and written with its output to
OUT_JSON (tests/data/chat_format/deepseek-v32/cases.json), which the C++ encoder is tested
against. Standard library only: the encoder's `regex` import (used by its output parser, not
by encode_messages) falls back to `re` when the package is missing.
"""
import importlib.util
import json
import sys

WEATHER_TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather",
        "description": "Weather for a city on a date",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. 杭州"},
            "date": {"type": "string"},
            "days": {"type": "integer", "minimum": 1}},
            "required": ["city"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "search",
        "description": "Searches the web",
        "parameters": {"type": "object", "properties": {
            "query": {"type": "string"}, "top_k": {"type": "number"},
            "filters": {"type": "object"}, "fresh": {"type": "boolean"},
            "sites": {"type": "array", "items": {"type": "string"}}},
            "required": ["query"]}}},
]

TWO_CALLS = [
    {"id": "call_1", "type": "function", "function": {
        "name": "get_weather", "arguments": "{\"city\": \"杭州\", \"date\": \"2025-01-02\", \"days\": 3}"}},
    {"id": "call_2", "type": "function", "function": {
        "name": "search", "arguments": json.dumps({
            "query": "say \"hi\"\nnext line", "top_k": 2.5, "filters": {"lang": "en", "n": [1, 2]},
            "fresh": True, "sites": ["a.com", "b.org"], "none": None})}},
]

CASES = [
    {"name": "one_user_chat", "thinking": False,
     "messages": [{"role": "user", "content": "Hello!"}]},
    {"name": "system_user_chat", "thinking": False,
     "messages": [{"role": "system", "content": "You are terse."},
                  {"role": "user", "content": "Hi"}]},
    {"name": "multi_turn_chat", "thinking": False,
     "messages": [{"role": "system", "content": "Be kind."},
                  {"role": "user", "content": "What is 2+2?"},
                  {"role": "assistant", "content": "4."},
                  {"role": "user", "content": "And 3+3?"}]},
    {"name": "one_user_thinking", "thinking": True,
     "messages": [{"role": "user", "content": "Why is the sky blue?"}]},
    {"name": "multi_turn_thinking_drops_old_reasoning", "thinking": True,
     "messages": [{"role": "system", "content": "Think first."},
                  {"role": "user", "content": "What is 2+2?"},
                  {"role": "assistant", "reasoning_content": "Add them.", "content": "4."},
                  {"role": "user", "content": "Sure?"}]},
    {"name": "special_characters", "thinking": False,
     "messages": [{"role": "system", "content": ""},
                  {"role": "user", "content": "Quotes \" ' \\ tabs\t and\nlines, 你好 😀 {braces}"}]},
    {"name": "tool_calls_and_results_chat", "thinking": False,
     "messages": [{"role": "system", "content": "You can use tools.", "tools": WEATHER_TOOLS},
                  {"role": "user", "content": "Weather in Hangzhou, and search news?"},
                  {"role": "assistant", "content": "Let me check.", "tool_calls": TWO_CALLS},
                  {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 12}"},
                  {"role": "tool", "tool_call_id": "call_2", "content": "no results"},
                  {"role": "assistant", "content": "12 degrees; no news."},
                  {"role": "user", "content": "Thanks"}]},
    {"name": "tool_round_in_thinking_mode", "thinking": True,
     "messages": [{"role": "system", "content": "", "tools": WEATHER_TOOLS},
                  {"role": "user", "content": "Weather in Hangzhou?"},
                  {"role": "assistant", "reasoning_content": "I need the weather tool.",
                   "tool_calls": TWO_CALLS[:1]},
                  {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 12}"}]},
    {"name": "tool_round_answered_in_thinking_mode", "thinking": True,
     "messages": [{"role": "system", "content": "", "tools": WEATHER_TOOLS},
                  {"role": "user", "content": "Weather in Hangzhou?"},
                  {"role": "assistant", "tool_calls": TWO_CALLS[:1]},
                  {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 12}"},
                  {"role": "assistant", "reasoning_content": "It is 12.", "content": "12 degrees."}]},
    {"name": "tool_results_before_a_new_user_turn_thinking", "thinking": True,
     "messages": [{"role": "system", "content": "Tools.", "tools": WEATHER_TOOLS},
                  {"role": "user", "content": "Weather?"},
                  {"role": "assistant", "reasoning_content": "old", "tool_calls": TWO_CALLS},
                  {"role": "tool", "content": "a"},
                  {"role": "tool", "content": "b"},
                  {"role": "assistant", "reasoning_content": "old too", "content": "Done."},
                  {"role": "user", "content": "Again?"}]},
    {"name": "developer_with_tools_and_response_format", "thinking": True,
     "messages": [{"role": "developer", "content": "Find the weather.", "tools": WEATHER_TOOLS,
                   "response_format": {"type": "json_schema", "json_schema": {
                       "name": "w", "schema": {"type": "object",
                                               "properties": {"t": {"type": "number"}}}}}}]},
    {"name": "system_response_format_chat", "thinking": False,
     "messages": [{"role": "system", "content": "Reply in JSON.",
                   "response_format": {"type": "json_object"}},
                  {"role": "user", "content": "A person?"}]},
]


def load_encoder(path):
    try:
        import regex  # noqa: F401
    except ImportError:
        import re
        sys.modules["regex"] = re
    spec = importlib.util.spec_from_file_location("encoding_dsv32", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    encoder = load_encoder(sys.argv[1])
    out = []
    for case in CASES:
        mode = "thinking" if case["thinking"] else "chat"
        rendered = encoder.encode_messages(json.loads(json.dumps(case["messages"])), thinking_mode=mode)
        out.append({**case, "expected": rendered})
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
