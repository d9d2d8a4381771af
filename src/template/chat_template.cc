#include "template/chat_template.h"

#include "template/ast.h"
#include "template/deepseek_v32_encoding.h"
#include "template/evaluator.h"
#include "template/json_value.h"
#include "template/lexer.h"
#include "template/parser.h"
#include "util/json_limits.h"

namespace dsv3 {

namespace {
// Above the 512 levels parse_json_bounded lets through, plus the context object around them.
constexpr int kMaxContextDepth = 600;
}  // namespace

Result<ChatTemplate> ChatTemplate::parse(std::string_view source, const TemplateOptions& options) {
  DSV3_ASSIGN_OR_RETURN(std::vector<jinja::Token> tokens, jinja::tokenize(source, options));
  DSV3_ASSIGN_OR_RETURN(jinja::Template tmpl, jinja::parse_template(std::move(tokens)));
  return ChatTemplate(std::make_shared<const jinja::Template>(std::move(tmpl)));
}

ChatTemplate ChatTemplate::deepseek_v32() { return ChatTemplate(nullptr); }

namespace {
Result<std::string> render_deepseek_v32(const nlohmann::ordered_json& context) {
  const auto field = [&](const char* key) {
    return context.is_object() && context.contains(key) ? context[key] : nlohmann::ordered_json();
  };
  const nlohmann::ordered_json thinking = field("thinking");
  if (!thinking.is_null() && !thinking.is_boolean()) {
    return Err("thinking must be true or false, got ", thinking.dump());
  }
  return encode_deepseek_v32(deepseek_v32_messages(field("messages"), field("tools")),
                             {.thinking = thinking.is_boolean() && thinking.get<bool>()});
}
}  // namespace

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& context,
                                         const RenderLimits& limits) const {
  if (!context.is_object() && !context.is_null()) {
    return Err("chat template context must be a JSON object, got ", context.type_name());
  }
  // from_json and every walk over template values recurse; a context that did not come
  // through parse_json_bounded could be nested deep enough to overflow the stack.
  if (json_deeper_than(context, kMaxContextDepth)) {
    return Err("chat template context is nested more than ", kMaxContextDepth,
               " levels deep (the limit is ", kMaxContextDepth, ")");
  }
  if (is_deepseek_v32()) return render_deepseek_v32(context);
  // Globals sit below the context, so a context variable named like a global shadows it.
  auto globals = std::make_shared<jinja::Scope>();
  jinja::add_globals(*globals);
  auto scope = std::make_shared<jinja::Scope>(globals);
  if (context.is_object()) {
    for (const auto& [key, value] : context.items()) scope->set(key, jinja::from_json(value));
  }
  jinja::Evaluator evaluator(limits);
  try {
    return evaluator.render(*template_, scope);
  } catch (const std::exception& e) {
    // Allocation failures (a filter asked for a gigantic string) end the render, not the
    // process; everything else the evaluator reports as Result errors.
    return Err("the chat template failed: ", e.what());
  }
}

Result<std::string> render_chat(const ChatTemplate& tmpl, const nlohmann::ordered_json& messages,
                                std::optional<bool> add_generation_prompt,
                                const std::string& bos_token, const std::string& eos_token,
                                const nlohmann::ordered_json& extra) {
  if (!extra.is_object() && !extra.is_null()) {
    return Err("render_chat: extra variables must be a JSON object, got ", extra.type_name());
  }
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  context["messages"] = messages;
  context["tools"] = nullptr;  // transformers always passes tools= and documents=, None by default
  context["documents"] = nullptr;
  if (add_generation_prompt.has_value()) context["add_generation_prompt"] = *add_generation_prompt;
  context["bos_token"] = bos_token;
  context["eos_token"] = eos_token;
  context["pad_token"] = eos_token;
  if (extra.is_object()) {
    for (const auto& [key, value] : extra.items()) context[key] = value;
  }
  return tmpl.render(context);
}

}  // namespace dsv3
