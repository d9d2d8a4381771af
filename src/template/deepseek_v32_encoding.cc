#include "template/deepseek_v32_encoding.h"

#include "template/json_value.h"

namespace dsv3 {

namespace {

using ordered_json = nlohmann::ordered_json;

constexpr std::string_view kBos = "<｜begin▁of▁sentence｜>";
constexpr std::string_view kEos = "<｜end▁of▁sentence｜>";
constexpr std::string_view kThinkStart = "<think>";
constexpr std::string_view kThinkEnd = "</think>";
constexpr std::string_view kDsml = "｜DSML｜";

// TOOLS_SYSTEM_TEMPLATE, cut where the encoder substitutes {dsml_token}, {thinking_*_token}
// and {tool_schemas}.
std::string tools_text(const std::string& schemas) {
  const std::string d(kDsml);
  std::string s;
  s += "## Tools\n\nYou have access to a set of tools you can use to answer the user's question.\n";
  s += "You can invoke functions by writing a \"<" + d + "function_calls>\" block like the following "
       "as part of your reply to the user:\n";
  s += "<" + d + "function_calls>\n";
  s += "<" + d + "invoke name=\"$FUNCTION_NAME\">\n";
  s += "<" + d + "parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE</" + d +
       "parameter>\n";
  s += "...\n</" + d + "invoke>\n";
  s += "<" + d + "invoke name=\"$FUNCTION_NAME2\">\n...\n</" + d + "invoke>\n";
  s += "</" + d + "function_calls>\n\n";
  s += "String and scalar parameters should be specified as is without any escaping or quotes, "
       "while lists and objects should use JSON format. The \"string\" attribute should be set to "
       "\"true\" for string type parameters and \"false\" for other types (numbers, booleans, "
       "arrays, objects).\n\n";
  s += "If the thinking_mode is enabled, then after function results you should strongly consider "
       "outputting a thinking block. Here is an example:\n\n";
  s += "<" + d + "function_calls>\n...\n</" + d + "function_calls>\n\n";
  s += "<function_results>\n...\n</function_results>\n\n";
  s += std::string(kThinkStart) + "...thinking about results" + std::string(kThinkEnd) + "\n\n";
  s += "Here are the functions available in JSONSchema format:\n<functions>\n" + schemas +
       "\n</functions>\n";
  return s;
}

// Python's json.dumps(value, ensure_ascii=False): ", " and ": " separators, repr() floats.
Result<std::string> to_json(const ordered_json& value) {
  return jinja::dump_json(jinja::from_json(value), jinja::JsonDumpOptions{});
}

// Python truthiness of an optional field: present, not null, not empty / false / zero.
bool truthy(const ordered_json& msg, const char* key) {
  if (!msg.contains(key)) return false;
  const ordered_json& v = msg[key];
  if (v.is_null()) return false;
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  if (v.is_array() || v.is_object()) return !v.empty();
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  return true;
}

std::string where(size_t index) { return "message " + std::to_string(index); }

// str.format(content=content): a string as it is, None as "None". Other types would print as
// Python reprs; they are refused instead.
Result<std::string> format_content(const ordered_json& msg, size_t index) {
  if (!msg.contains("content") || msg["content"].is_null()) return std::string("None");
  if (!msg["content"].is_string()) {
    return Err(where(index), ": content must be a string, got ", msg["content"].type_name());
  }
  return msg["content"].get<std::string>();
}

// `content or ""`.
Result<std::string> content_or_empty(const ordered_json& msg, size_t index) {
  if (!truthy(msg, "content")) return std::string();
  return format_content(msg, index);
}

Result<std::string> render_tools(const ordered_json& tools, size_t index) {
  std::string schemas;
  for (size_t i = 0; i < tools.size(); ++i) {
    if (!tools[i].is_object() || !tools[i].contains("function")) {
      return Err(where(index), ": tools[", i, "] has no \"function\"");
    }
    DSV3_ASSIGN_OR_RETURN(std::string schema, to_json(tools[i]["function"]));
    if (i > 0) schemas += '\n';
    schemas += schema;
  }
  return tools_text(schemas);
}

// "\n\n" + tools, then "\n\n" + the response format, as a system or developer message adds them.
Result<std::string> tools_and_format(const ordered_json& msg, size_t index) {
  std::string out;
  if (truthy(msg, "tools")) {
    if (!msg["tools"].is_array()) return Err(where(index), ": tools must be an array");
    DSV3_ASSIGN_OR_RETURN(std::string tools, render_tools(msg["tools"], index));
    out += "\n\n" + tools;
  }
  if (truthy(msg, "response_format")) {
    DSV3_ASSIGN_OR_RETURN(std::string schema, to_json(msg["response_format"]));
    out += "\n\n## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n" +
           schema;
  }
  return out;
}

// One call as DSML: each argument a <parameter>, strings as they are, other values as JSON.
Result<std::string> encode_call(const ordered_json& call, size_t index) {
  if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) {
    return Err(where(index), ": a tool call has no \"function\" object");
  }
  const ordered_json& fn = call["function"];
  if (!fn.contains("name") || !fn["name"].is_string()) {
    return Err(where(index), ": a tool call's function has no name");
  }
  ordered_json args = fn.contains("arguments") ? fn["arguments"] : ordered_json();
  if (args.is_string()) {
    args = ordered_json::parse(args.get<std::string>(), nullptr, /*allow_exceptions=*/false);
  }
  if (!args.is_object()) {
    return Err(where(index), ": the arguments of tool call '", fn["name"].get<std::string>(),
               "' are not a JSON object");
  }
  const std::string d(kDsml);
  std::string params;
  bool first = true;
  for (const auto& [key, value] : args.items()) {
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else {
      DSV3_ASSIGN_OR_RETURN(text, to_json(value));
    }
    if (!first) params += '\n';
    first = false;
    params += "<" + d + "parameter name=\"" + key + "\" string=\"" +
              (value.is_string() ? "true" : "false") + "\">" + text + "</" + d + "parameter>";
  }
  return "<" + d + "invoke name=\"" + fn["name"].get<std::string>() + "\">\n" + params + "\n</" + d +
         "invoke>";
}

struct Encoder {
  const ordered_json& messages;
  const DeepseekV32Options& options;
  size_t last_user = SIZE_MAX;  // none

  std::string_view role(size_t i) const {
    const ordered_json& m = messages[i];
    return m.contains("role") && m["role"].is_string() ? std::string_view(m["role"].get_ref<const std::string&>())
                                                       : std::string_view();
  }

  // After a user turn (or a group of tool results): the model thinks only after the last one.
  std::string_view turn_end(bool thinks) const {
    return thinks && options.thinking ? kThinkStart : kThinkEnd;
  }

  Result<std::string> system(const ordered_json& msg, size_t i) const {
    DSV3_ASSIGN_OR_RETURN(std::string out, content_or_empty(msg, i));
    DSV3_ASSIGN_OR_RETURN(std::string extra, tools_and_format(msg, i));
    return out + extra;
  }

  Result<std::string> developer(const ordered_json& msg, size_t i) const {
    if (!truthy(msg, "content")) return Err(where(i), ": a developer message needs content");
    DSV3_ASSIGN_OR_RETURN(std::string content, format_content(msg, i));
    DSV3_ASSIGN_OR_RETURN(std::string body, tools_and_format(msg, i));
    body += "\n\n# The user's message is: " + content;
    return "<｜User｜>" + body + "<｜Assistant｜>" + std::string(turn_end(i == last_user));
  }

  Result<std::string> user(const ordered_json& msg, size_t i) const {
    DSV3_ASSIGN_OR_RETURN(std::string content, format_content(msg, i));
    return "<｜User｜>" + content + "<｜Assistant｜>" + std::string(turn_end(i == last_user));
  }

  Result<std::string> tool(const ordered_json& msg, size_t i) const {
    size_t assistant = i;
    while (assistant > 0 && role(assistant - 1) == "tool") --assistant;
    if (assistant == 0 || role(assistant - 1) != "assistant") {
      return Err(where(i), ": a tool result must follow an assistant message with tool_calls");
    }
    const ordered_json& calls = messages[assistant - 1].value("tool_calls", ordered_json());
    const size_t order = i - assistant + 1;  // 1 for the first result
    if (!calls.is_array() || calls.size() < order) {
      return Err(where(i), ": tool result ", order, " but the assistant message made ",
                 calls.is_array() ? calls.size() : 0, " tool calls");
    }
    std::string out;
    if (order == 1) out += "\n\n<function_results>";
    DSV3_ASSIGN_OR_RETURN(std::string content, format_content(msg, i));
    out += "\n<result>" + content + "</result>";
    if (order == calls.size()) {
      out += "\n</function_results>\n\n";
      out += turn_end(last_user == SIZE_MAX || i >= last_user);
    }
    return out;
  }

  Result<std::string> assistant(const ordered_json& msg, size_t i) const {
    std::string calls_text;
    const bool has_calls = truthy(msg, "tool_calls");
    if (has_calls) {
      if (!msg["tool_calls"].is_array()) return Err(where(i), ": tool_calls must be an array");
      std::string calls;
      for (size_t c = 0; c < msg["tool_calls"].size(); ++c) {
        DSV3_ASSIGN_OR_RETURN(std::string one, encode_call(msg["tool_calls"][c], i));
        if (c > 0) calls += '\n';
        calls += one;
      }
      const std::string d(kDsml);
      calls_text = "\n\n<" + d + "function_calls>\n" + calls + "\n</" + d + "function_calls>";
    }
    DSV3_ASSIGN_OR_RETURN(std::string content, content_or_empty(msg, i));
    std::string thinking;
    // In thinking mode, turns after the last user message (tool-use rounds of the current
    // answer) keep their reasoning; earlier ones never show it.
    if (options.thinking && (last_user == SIZE_MAX || i > last_user)) {
      const bool has_reasoning = truthy(msg, "reasoning_content");
      if (!has_reasoning && !has_calls) {
        return Err(where(i), ": in thinking mode an assistant message after the last user message "
                   "needs reasoning_content or tool_calls");
      }
      if (has_reasoning) {
        if (!msg["reasoning_content"].is_string()) {
          return Err(where(i), ": reasoning_content must be a string");
        }
        thinking = msg["reasoning_content"].get<std::string>();
      }
      thinking += kThinkEnd;
    }
    return thinking + content + calls_text + std::string(kEos);
  }

  Result<std::string> render(size_t i) const {
    const ordered_json& msg = messages[i];
    if (!msg.is_object()) return Err(where(i), ": expected an object, got ", msg.type_name());
    const std::string_view r = role(i);
    if (r == "system") return system(msg, i);
    if (r == "developer") return developer(msg, i);
    if (r == "user") return user(msg, i);
    if (r == "tool") return tool(msg, i);
    if (r == "assistant") return assistant(msg, i);
    return Err(where(i), ": unknown role '", std::string(r),
               "' (expected system, developer, user, assistant or tool)");
  }
};

}  // namespace

Result<std::string> encode_deepseek_v32(const ordered_json& messages, const DeepseekV32Options& options) {
  if (!messages.is_array()) return Err("messages must be a JSON array, got ", messages.type_name());
  Encoder enc{messages, options};
  for (size_t i = messages.size(); i-- > 0;) {
    if (enc.role(i) == "user" || enc.role(i) == "developer") {
      enc.last_user = i;
      break;
    }
  }
  // The Python encoder's drop_thinking (on by default) removes reasoning_content before the
  // last user message, which render_message never shows anyway: nothing to do here.
  std::string prompt = options.add_bos ? std::string(kBos) : std::string();
  for (size_t i = 0; i < messages.size(); ++i) {
    DSV3_ASSIGN_OR_RETURN(std::string part, enc.render(i));
    prompt += part;
  }
  return prompt;
}

ordered_json deepseek_v32_messages(const ordered_json& messages, const ordered_json& tools) {
  if (!tools.is_array() || tools.empty() || !messages.is_array()) return messages;
  ordered_json out = messages;
  const bool system_first = !out.empty() && out[0].is_object() && out[0].contains("role") &&
                            out[0]["role"] == "system";
  if (!system_first) {
    out.insert(out.begin(), ordered_json{{"role", "system"}, {"content", ""}});
  }
  out[0]["tools"] = tools;
  return out;
}

}  // namespace dsv3
