#include "tokenizer/chat_corpus.h"

#include <string>

#include "template/chat_template.h"

namespace dsv3 {

nlohmann::ordered_json conversation_of(std::string_view text) {
  const std::vector<std::string> paragraphs = paragraphs_of(text);
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (size_t i = 0; i + 1 < paragraphs.size(); i += 2) {
    messages.push_back({{"role", "user"}, {"content", paragraphs[i]}});
    messages.push_back({{"role", "assistant"}, {"content", paragraphs[i + 1]}});
  }
  return messages;
}

Result<RenderedConversations> render_conversations(const Tokenizer& tokenizer,
                                                   std::span<const TextDocument> documents) {
  if (tokenizer.chat_template().empty()) {
    return Err("the tokenizer has no chat_template in its tokenizer_config.json to render "
               "conversations with");
  }
  if (tokenizer.eos_id() < 0) return Err("the tokenizer has no EOS token to end answers with");
  DSV3_ASSIGN_OR_RETURN(ChatTemplate tmpl, ChatTemplate::parse(tokenizer.chat_template()));
  RenderedConversations out;
  out.documents.reserve(documents.size());
  for (const TextDocument& doc : documents) {
    const nlohmann::ordered_json messages = conversation_of(doc.text);
    TextDocument rendered{.text = "", .origin = doc.origin};
    if (!messages.empty()) {
      auto text = render_chat(tmpl, messages, /*add_generation_prompt=*/false,
                              tokenizer.bos_token(), tokenizer.eos_token());
      if (!text.ok()) {
        return Err(doc.origin, ": the chat template failed on its conversation: ",
                   text.error().message);
      }
      rendered.text = std::move(*text);
      ++out.num_conversations;
      out.num_answers += int64_t(messages.size() / 2);
    }
    out.documents.push_back(std::move(rendered));
  }
  if (out.num_conversations == 0) {
    return Err("no document has two paragraphs (separated by a blank line) to make a user "
               "message and an answer of; with --split paragraph or line every document is a "
               "single paragraph, use --split file");
  }
  return out;
}

}  // namespace dsv3
