// Chat templates: the Jinja2 templates Hugging Face models ship in tokenizer_config.json to
// turn a list of messages into a prompt. This is a small Jinja2 interpreter covering what real
// chat templates use, rendering them the way Python transformers does.
//
//   DSV3_ASSIGN_OR_RETURN(ChatTemplate tmpl, ChatTemplate::parse(config["chat_template"]));
//   DSV3_ASSIGN_OR_RETURN(std::string prompt,
//                         render_chat(tmpl, messages, /*add_generation_prompt=*/true, bos, eos));
//
// Errors (syntax errors, undefined values used in arithmetic, raise_exception(...) in the
// template) come back as Result errors whose message starts "line L, column C: ".
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "template/options.h"
#include "util/result.h"

namespace dsv3 {

namespace jinja {
struct Template;
}

class ChatTemplate {
 public:
  // Parses the template once; a ChatTemplate is immutable and cheap to copy.
  static Result<ChatTemplate> parse(std::string_view source, const TemplateOptions& options = {});
  // DeepSeek-V3.2's encoder (deepseek_v32_encoding.h), for checkpoints that ship no template:
  // render() reads `messages`, `tools` and `thinking` (true: thinking mode) from the context
  // and always ends a user turn with the assistant prompt, as the encoder does.
  static ChatTemplate deepseek_v32();
  bool is_deepseek_v32() const { return template_ == nullptr; }

  // Renders with the top-level variables of `context`, a JSON object. Object key order is
  // kept (it shows in tojson output), so pass nlohmann::ordered_json where order matters;
  // nlohmann::json converts implicitly but has already sorted its keys.
  // `limits` bound the work (see RenderLimits); exceeding one is an error naming it.
  Result<std::string> render(const nlohmann::ordered_json& context,
                             const RenderLimits& limits = {}) const;

 private:
  explicit ChatTemplate(std::shared_ptr<const jinja::Template> tmpl) : template_(std::move(tmpl)) {}

  std::shared_ptr<const jinja::Template> template_;  // null: the DeepSeek-V3.2 encoder
};

// Renders a conversation the way transformers' apply_chat_template does: the context holds
// `messages`, `tools` and `documents` (None unless `extra` gives them), `add_generation_prompt`
// (left undefined when nullopt, so the template's own default applies), `bos_token`,
// `eos_token` and `pad_token` (= eos_token, as in DeepSeek's config), then every key of `extra`
// (a JSON object, or null), which may override any of these.
Result<std::string> render_chat(const ChatTemplate& tmpl, const nlohmann::ordered_json& messages,
                                std::optional<bool> add_generation_prompt,
                                const std::string& bos_token, const std::string& eos_token,
                                const nlohmann::ordered_json& extra = nlohmann::ordered_json());

}  // namespace dsv3
