#include "server/openai_request.h"

#include <cmath>
#include <random>

#include "util/json_limits.h"

namespace dsv3::server {

namespace {

using nlohmann::ordered_json;
using Check = std::optional<ApiError>;

#define DSV3_API_TRY(expr)                                     \
  do {                                                         \
    if (Check dsv3_api_check = (expr)) return *dsv3_api_check; \
  } while (0)

// The field, or nullptr when it is absent or null (OpenAI treats null as "not given").
const ordered_json* field(const ordered_json& obj, const std::string& name) {
  const auto it = obj.find(name);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string type_name(const ordered_json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

ApiError wrong_type(const std::string& name, const ordered_json& v, const char* expected) {
  return invalid_param(name, "'" + name + "' must be " + expected + ", got " + type_name(v));
}

std::string number_text(double v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

Check read_number(const ordered_json& obj, const std::string& name, double lo, double hi,
                  float& out) {
  const ordered_json* v = field(obj, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) return wrong_type(name, *v, "a number");
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) {
    return invalid_param(name, "'" + name + "' = " + number_text(x) +
                                   " is out of range (expected " + number_text(lo) + ".." +
                                   number_text(hi) + ")");
  }
  out = float(x);
  return std::nullopt;
}

template <typename Int>
Check read_int(const ordered_json& obj, const std::string& name, int64_t lo, int64_t hi, Int& out) {
  const ordered_json* v = field(obj, name);
  if (!v) return std::nullopt;
  // 5.0 is an integer to JavaScript clients; 5.5 is not.
  const bool integral =
      v->is_number_integer() ||
      (v->is_number_float() && std::nearbyint(v->get<double>()) == v->get<double>() &&
       std::fabs(v->get<double>()) < 9e15);
  if (!integral) return wrong_type(name, *v, "an integer");
  const double x = v->get<double>();
  if (x < double(lo) || x > double(hi)) {
    return invalid_param(name, "'" + name + "' = " + number_text(x) +
                                   " is out of range (expected " + std::to_string(lo) + ".." +
                                   std::to_string(hi) + ")");
  }
  out = Int(v->is_number_integer() ? v->get<int64_t>() : int64_t(x));
  return std::nullopt;
}

Check read_bool(const ordered_json& obj, const std::string& name, bool& out) {
  const ordered_json* v = field(obj, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) return wrong_type(name, *v, "a boolean");
  out = v->get<bool>();
  return std::nullopt;
}

Check read_seed(const ordered_json& obj, uint64_t& seed) {
  const ordered_json* v = field(obj, "seed");
  if (!v) {
    seed = std::random_device{}();
    seed = seed << 32 ^ std::random_device{}();
    return std::nullopt;
  }
  if (v->is_number_unsigned()) {
    seed = v->get<uint64_t>();
  } else if (v->is_number_integer()) {
    seed = uint64_t(v->get<int64_t>());
  } else {
    return wrong_type("seed", *v, "an integer");
  }
  return std::nullopt;
}

Check read_stop(const ordered_json& obj, std::vector<std::string>& out) {
  const ordered_json* v = field(obj, "stop");
  if (!v) return std::nullopt;
  constexpr size_t kMaxStops = 16;
  if (v->is_string()) {
    if (!v->get_ref<const std::string&>().empty()) out.push_back(v->get<std::string>());
    return std::nullopt;
  }
  if (!v->is_array()) return wrong_type("stop", *v, "a string or an array of strings");
  if (v->size() > kMaxStops) {
    return invalid_param("stop", "'stop' has " + std::to_string(v->size()) + " strings; at most " +
                                     std::to_string(kMaxStops) + " are allowed");
  }
  for (const auto& s : *v) {
    if (!s.is_string()) return wrong_type("stop", s, "a string or an array of strings");
    if (!s.get_ref<const std::string&>().empty()) out.push_back(s.get<std::string>());
  }
  return std::nullopt;
}

// The fields both endpoints share.
Check read_generation_params(const ordered_json& body, GenerationParams& p) {
  // OpenAI's defaults: plain sampling at temperature 1, no truncation.
  p.sampling = SamplingParams{.temperature = 1.0f,
                              .top_k = 0,
                              .top_p = 1.0f,
                              .min_p = 0.0f,
                              .repeat_penalty = 1.0f,
                              .repeat_last_n = -1};
  constexpr int64_t kMaxTokens = int64_t(1) << 30;
  DSV3_API_TRY(read_int(body, "max_tokens", 1, kMaxTokens, p.max_tokens));
  DSV3_API_TRY(read_int(body, "max_completion_tokens", 1, kMaxTokens, p.max_tokens));
  DSV3_API_TRY(read_number(body, "temperature", 0, 2, p.sampling.temperature));
  DSV3_API_TRY(read_number(body, "top_p", 0, 1, p.sampling.top_p));
  if (p.sampling.top_p == 0.0f) {  // nothing but the most likely token
    p.sampling.top_p = 1.0f;
    p.sampling.temperature = 0.0f;
  }
  DSV3_API_TRY(read_int(body, "top_k", 0, INT32_MAX, p.sampling.top_k));
  DSV3_API_TRY(read_number(body, "min_p", 0, 1, p.sampling.min_p));
  DSV3_API_TRY(read_number(body, "repetition_penalty", 0.01, 10, p.sampling.repeat_penalty));
  DSV3_API_TRY(read_number(body, "presence_penalty", -2, 2, p.sampling.presence_penalty));
  DSV3_API_TRY(read_number(body, "frequency_penalty", -2, 2, p.sampling.frequency_penalty));
  DSV3_API_TRY(read_seed(body, p.sampling.seed));
  DSV3_API_TRY(read_stop(body, p.stop));
  DSV3_API_TRY(read_bool(body, "ignore_eos", p.ignore_eos));
  DSV3_API_TRY(read_bool(body, "stream", p.stream));
  if (const ordered_json* so = field(body, "stream_options")) {
    if (!so->is_object()) return wrong_type("stream_options", *so, "an object");
    DSV3_API_TRY(read_bool(*so, "include_usage", p.include_usage));
  }
  DSV3_API_TRY(read_int(body, "n", 1, kMaxChoices, p.n));
  if (const ordered_json* model = field(body, "model"); model && !model->is_string()) {
    return wrong_type("model", *model, "a string");
  }
  if (auto s = validate(p.sampling); !s.ok()) return invalid_param("", s.error().message);
  return std::nullopt;
}

// Message content as the chat template wants it: a string (text parts joined), or null.
Check normalise_content(const ordered_json& content, const std::string& where, ordered_json& out) {
  if (content.is_null() || content.is_string()) {
    out = content;
    return std::nullopt;
  }
  if (!content.is_array()) return wrong_type(where, content, "a string, an array of parts or null");
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const ordered_json& part = content[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!part.is_object()) return wrong_type(at, part, "an object");
    const ordered_json* type = field(part, "type");
    if (!type || !type->is_string())
      return invalid_param(at + ".type", "'" + at + ".type' must be a string");
    if (*type != "text") {
      return invalid_param(at + ".type", "content part type '" + type->get<std::string>() +
                                             "' is not supported (only 'text')");
    }
    const ordered_json* t = field(part, "text");
    if (!t || !t->is_string())
      return invalid_param(at + ".text", "'" + at + ".text' must be a string");
    text += t->get<std::string>();
  }
  out = text;
  return std::nullopt;
}

Check normalise_tool_calls(const ordered_json& calls, const std::string& where, ordered_json& out) {
  if (!calls.is_array()) return wrong_type(where, calls, "an array");
  out = ordered_json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    const ordered_json& c = calls[i];
    const ordered_json* fn = c.is_object() ? field(c, "function") : nullptr;
    if (!fn || !fn->is_object())
      return invalid_param(at + ".function", "'" + at + ".function' must be an object");
    const ordered_json* name = field(*fn, "name");
    if (!name || !name->is_string()) {
      return invalid_param(at + ".function.name", "'" + at + ".function.name' must be a string");
    }
    const ordered_json* args = field(*fn, "arguments");
    std::string arguments = "{}";
    if (args && args->is_string())
      arguments = args->get<std::string>();
    else if (args)
      arguments = dump_json(*args);  // some clients send an object
    ordered_json call = {{"type", "function"},
                         {"function", {{"name", *name}, {"arguments", arguments}}}};
    if (const ordered_json* id = field(c, "id"); id && id->is_string()) call["id"] = *id;
    out.push_back(std::move(call));
  }
  return std::nullopt;
}

Check normalise_message(const ordered_json& m, size_t index, ordered_json& out) {
  const std::string at = "messages[" + std::to_string(index) + "]";
  if (!m.is_object()) return wrong_type(at, m, "an object");
  const ordered_json* role = field(m, "role");
  if (!role || !role->is_string())
    return invalid_param(at + ".role", "'" + at + ".role' must be a string");
  std::string r = role->get<std::string>();
  if (r == "developer") r = "system";
  if (r != "system" && r != "user" && r != "assistant" && r != "tool") {
    return invalid_param(at + ".role",
                         "'" + at + ".role' = '" + role->get<std::string>() +
                             "' is not one of system, developer, user, assistant, tool");
  }
  out = {{"role", r}};
  ordered_json content;
  if (const auto it = m.find("content"); it != m.end()) {
    DSV3_API_TRY(normalise_content(*it, at + ".content", content));
  }
  if (const ordered_json* calls = field(m, "tool_calls")) {
    if (r != "assistant")
      return invalid_param(at + ".tool_calls", "only assistant messages have tool_calls");
    ordered_json tc;
    DSV3_API_TRY(normalise_tool_calls(*calls, at + ".tool_calls", tc));
    if (!tc.empty()) out["tool_calls"] = std::move(tc);
  }
  // DeepSeek's template tells tool-call turns by a null content; everything else needs text.
  if (content.is_null() && !out.contains("tool_calls")) content = "";
  out["content"] = std::move(content);
  if (const ordered_json* name = field(m, "name")) {
    if (!name->is_string()) return wrong_type(at + ".name", *name, "a string");
    out["name"] = *name;
  }
  if (const ordered_json* id = field(m, "tool_call_id")) {
    if (!id->is_string()) return wrong_type(at + ".tool_call_id", *id, "a string");
    out["tool_call_id"] = *id;
  }
  return std::nullopt;
}

// A function with "strict": true has arguments that follow its "parameters" schema: the schema
// must compile (else 400 naming it). When tool_choice names this function, the answer starts
// inside its arguments (see forced_call_prefix), so they are decoded under that schema;
// otherwise they are from where the model opens a call of it.
Check read_strict_tool(const ordered_json& fn, const std::string& at, bool chosen, ChatRequest& req) {
  ChatRequest::Function& function = req.functions.emplace_back();
  function.name = fn["name"].get<std::string>();
  const ordered_json* strict = field(fn, "strict");
  if (!strict || strict->is_null()) return std::nullopt;
  if (!strict->is_boolean()) return wrong_type(at + ".function.strict", *strict, "a boolean");
  if (!strict->get<bool>()) return std::nullopt;
  const ordered_json* params = field(fn, "parameters");
  const ordered_json schema = params ? *params : ordered_json{{"type", "object"}};
  Result<structured::Grammar> g = structured::compile_json_schema(schema);
  if (!g.ok()) {
    return invalid_param(at + ".function.parameters",
                         "'" + at + ".function.parameters': " + g.error().message);
  }
  function.grammar = std::make_shared<const structured::Grammar>(std::move(g).value());
  function.grammar_key = "tool:" + schema.dump();
  if (chosen) {
    req.tool_grammar = function.grammar;
    req.tool_grammar_key = function.grammar_key;
  }
  return std::nullopt;
}

Check read_tools(const ordered_json& body, ChatRequest& req) {
  const ordered_json* tools = field(body, "tools");
  std::string choice = "auto", function_name;
  if (const ordered_json* tc = field(body, "tool_choice")) {
    if (tc->is_string()) {
      choice = tc->get<std::string>();
      if (choice != "none" && choice != "auto" && choice != "required") {
        return invalid_param("tool_choice",
                             "'tool_choice' = '" + choice + "' is not one of none, auto, required");
      }
    } else if (tc->is_object()) {
      const ordered_json* fn = field(*tc, "function");
      if (!fn || !fn->is_object() || !field(*fn, "name") || !(*fn)["name"].is_string()) {
        return invalid_param("tool_choice", "'tool_choice' as an object must name a function");
      }
      choice = "function";
      function_name = (*fn)["name"].get<std::string>();
    } else {
      return wrong_type("tool_choice", *tc, "a string or an object");
    }
  }
  if (!tools) {
    if (choice == "required" || choice == "function") {
      return invalid_param("tool_choice", "'tool_choice' asks for a tool call but there are no 'tools'");
    }
    return std::nullopt;
  }
  if (!tools->is_array()) return wrong_type("tools", *tools, "an array");
  for (size_t i = 0; i < tools->size(); ++i) {
    const std::string at = "tools[" + std::to_string(i) + "]";
    const ordered_json& t = (*tools)[i];
    if (!t.is_object()) return wrong_type(at, t, "an object");
    const ordered_json* type = field(t, "type");
    if (!type || *type != "function")
      return invalid_param(at + ".type", "'" + at + ".type' must be 'function'");
    const ordered_json* fn = field(t, "function");
    if (!fn || !fn->is_object())
      return invalid_param(at + ".function", "'" + at + ".function' must be an object");
    const ordered_json* name = field(*fn, "name");
    if (!name || !name->is_string() || name->get_ref<const std::string&>().empty()) {
      return invalid_param(at + ".function.name",
                           "'" + at + ".function.name' must be a non-empty string");
    }
    DSV3_API_TRY(read_strict_tool(*fn, at, choice == "function" && *name == function_name, req));
  }
  if (choice == "none") {
    req.functions.clear();
    return std::nullopt;
  }
  if (tools->empty()) {
    if (choice == "auto") return std::nullopt;
    return invalid_param("tool_choice", "'tool_choice' asks for a tool call but 'tools' is empty");
  }
  if (choice == "function") {
    bool offered = false;
    for (const ordered_json& t : *tools) offered = offered || t["function"]["name"] == function_name;
    if (!offered) {
      return invalid_param("tool_choice", "'tool_choice' names function '" + function_name +
                                              "', which is not in 'tools'");
    }
  }
  req.tools = *tools;
  req.parse_tool_calls = true;
  req.require_tool_call = choice == "required" || choice == "function";
  req.required_function = function_name;
  if (choice == "function") {
    std::erase_if(req.functions, [&](const ChatRequest::Function& f) { return f.name != function_name; });
  }
  return std::nullopt;
}

// response_format: "text" (free), "json_object" (any JSON object) or "json_schema" (JSON that
// follows json_schema.schema). A schema the grammar compiler cannot honour is refused, naming
// the keyword, rather than silently loosened.
Check read_response_format(const ordered_json& body, GenerationParams& p) {
  const ordered_json* rf = field(body, "response_format");
  if (!rf) return std::nullopt;
  if (!rf->is_object()) return wrong_type("response_format", *rf, "an object");
  const ordered_json* type = field(*rf, "type");
  if (!type || !type->is_string()) {
    return invalid_param("response_format",
                         "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\"");
  }
  const std::string t = type->get<std::string>();
  if (t == "text") return std::nullopt;
  if (t == "json_object") {
    p.grammar = std::make_shared<const structured::Grammar>(structured::json_object_grammar());
    p.grammar_key = "json_object";
    return std::nullopt;
  }
  if (t != "json_schema") {
    return invalid_param("response_format", "'response_format.type' \"" + t +
                                                     "\" is not one of \"text\", \"json_object\", \"json_schema\"");
  }
  const ordered_json* js = field(*rf, "json_schema");
  if (!js) return invalid_param("response_format", "'response_format.json_schema' is required");
  if (!js->is_object()) {
    return invalid_param("response_format", "'response_format.json_schema' must be an object, got " +
                                                type_name(*js));
  }
  if (const ordered_json* name = field(*js, "name"); name && !name->is_string()) {
    return invalid_param("response_format", "'response_format.json_schema.name' must be a string, got " +
                                                type_name(*name));
  }
  // strict true or false: the output follows the schema either way.
  if (const ordered_json* strict = field(*js, "strict"); strict && !strict->is_boolean()) {
    return invalid_param("response_format", "'response_format.json_schema.strict' must be a boolean, got " +
                                                type_name(*strict));
  }
  const ordered_json* schema = field(*js, "schema");
  if (!schema) {
    return invalid_param("response_format",
                         "'response_format.json_schema.schema' is required");
  }
  Result<structured::Grammar> g = structured::compile_json_schema(*schema);
  if (!g.ok()) {
    return invalid_param("response_format", "'response_format.json_schema.schema': " + g.error().message);
  }
  p.grammar = std::make_shared<const structured::Grammar>(std::move(g).value());
  p.grammar_key = "json_schema:" + schema->dump();
  return std::nullopt;
}

Check read_chat(const ordered_json& body, ChatRequest& req) {
  DSV3_API_TRY(read_generation_params(body, req.params));
  const ordered_json* messages = field(body, "messages");
  if (!messages) return invalid_param("messages", "'messages' is required");
  if (!messages->is_array()) return wrong_type("messages", *messages, "an array");
  if (messages->empty()) return invalid_param("messages", "'messages' must not be empty");
  req.messages = ordered_json::array();
  for (size_t i = 0; i < messages->size(); ++i) {
    ordered_json m;
    DSV3_API_TRY(normalise_message((*messages)[i], i, m));
    req.messages.push_back(std::move(m));
  }
  DSV3_API_TRY(read_tools(body, req));
  bool logprobs = false;
  DSV3_API_TRY(read_bool(body, "logprobs", logprobs));
  int32_t top = 0;
  DSV3_API_TRY(read_int(body, "top_logprobs", 0, 20, top));
  if (field(body, "top_logprobs") && !logprobs) {
    return invalid_param("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  }
  req.params.top_logprobs = logprobs ? top : -1;
  return read_response_format(body, req.params);
}

Check read_prompt(const ordered_json& body, CompletionRequest& req) {
  const ordered_json* prompt = field(body, "prompt");
  if (!prompt) return invalid_param("prompt", "'prompt' is required");
  const char* expected = "a string, an array of token ids, or an array holding one of those";
  ordered_json p = *prompt;
  // One prompt wrapped in an array: ["text"] or [[1, 2, 3]].
  if (p.is_array() && !p.empty() && (p[0].is_string() || p[0].is_array())) {
    if (p.size() != 1) return invalid_param("prompt", "only one prompt per request is supported");
    p = ordered_json(p[0]);
  }
  if (p.is_string()) {
    req.prompt_text = p.get<std::string>();
    return std::nullopt;
  }
  if (!p.is_array()) return wrong_type("prompt", p, expected);
  if (p.empty()) return invalid_param("prompt", "'prompt' must not be empty");
  for (const auto& id : p) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      return invalid_param("prompt", std::string("'prompt' must be ") + expected);
    }
    req.prompt_tokens.push_back(id.get<int32_t>());
  }
  return std::nullopt;
}

Check read_completion(const ordered_json& body, CompletionRequest& req) {
  DSV3_API_TRY(read_generation_params(body, req.params));
  DSV3_API_TRY(read_prompt(body, req));
  if (!field(body, "max_tokens") && !field(body, "max_completion_tokens")) {
    req.params.max_tokens = 16;  // OpenAI's default for completions
  }
  int32_t logprobs = -1;
  DSV3_API_TRY(read_int(body, "logprobs", 0, 20, logprobs));
  req.params.top_logprobs = logprobs;
  bool echo = false;
  DSV3_API_TRY(read_bool(body, "echo", echo));
  if (echo) return invalid_param("echo", "'echo' is not supported");
  if (const ordered_json* suffix = field(body, "suffix")) {
    if (!suffix->is_string()) return wrong_type("suffix", *suffix, "a string");
    if (!suffix->get_ref<const std::string&>().empty())
      return invalid_param("suffix", "'suffix' is not supported");
  }
  int64_t best_of = 1;
  DSV3_API_TRY(read_int(body, "best_of", 1, 1 << 20, best_of));
  if (best_of != 1) return invalid_param("best_of", "only best_of = 1 is supported");
  return read_response_format(body, req.params);
}

}  // namespace

ApiResult<nlohmann::ordered_json> parse_json_body(std::string_view body) {
  // Depth-limited: a body nested thousands deep would overflow the stack of every recursive
  // walk after parsing (copies, tools' schemas, the chat template's values).
  Result<ordered_json> parsed =
      parse_json_bounded<ordered_json>(body, JsonLimits{.max_bytes = body.size()}, "the request body");
  if (!parsed.ok()) {
    // The parser's message quotes what it read last, which may be the invalid bytes.
    return ApiError{.message = parsed.error().message, .code = "invalid_json"};
  }
  ordered_json j = std::move(*parsed);
  if (!j.is_object()) {
    return ApiError{.message = "the request body must be a JSON object, got " + type_name(j),
                    .code = "invalid_json"};
  }
  return j;
}

ApiResult<ChatRequest> parse_chat_request(const nlohmann::ordered_json& body) {
  ChatRequest req;
  if (Check e = read_chat(body, req)) return *e;
  return req;
}

ApiResult<CompletionRequest> parse_completion_request(const nlohmann::ordered_json& body) {
  CompletionRequest req;
  if (Check e = read_completion(body, req)) return *e;
  return req;
}

}  // namespace dsv3::server
