// DeepSeek-V3.2's chat format. The release ships no Jinja chat template; its prompts are made
// by a Python encoder (encoding/encoding_dsv32.py in the Hugging Face repository
// deepseek-ai/DeepSeek-V3.2). This is that encoder, rendering byte for byte what its
// encode_messages() returns: system / developer / user / assistant / tool messages, tools
// and response formats announced in a system or developer message, tool calls written in its
// DSML markup, tool results gathered in <function_results>, and the two modes (thinking:
// the last user turn ends with <think>, earlier assistant turns lose their reasoning; chat:
// every user turn ends with </think>).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "util/result.h"

namespace dsv3 {

struct DeepseekV32Options {
  bool thinking = false;  // thinking_mode "thinking" (else "chat")
  bool add_bos = true;    // start with <｜begin▁of▁sentence｜>
};

// encode_messages(messages, thinking_mode): OpenAI-style messages (a tool call's `arguments`
// is a JSON object as a string). Where the Python encoder would fail an assertion or raise,
// this returns an error naming the message.
Result<std::string> encode_deepseek_v32(const nlohmann::ordered_json& messages,
                                        const DeepseekV32Options& options = {});

// The messages of an OpenAI request in the form the encoder takes: a request's top-level
// `tools` go into its first message when that is a system message, else into a new empty
// system message in front (as the encoder's own examples put them).
nlohmann::ordered_json deepseek_v32_messages(const nlohmann::ordered_json& messages,
                                             const nlohmann::ordered_json& tools);

}  // namespace dsv3
