// Text documents as chat conversations, to teach a model its chat template's turns and to end
// an answer with EOS. A document's paragraphs (separated by blank lines) alternate as user and
// assistant messages, user first, and the tokenizer's own chat template renders them: BOS at
// the start, "<｜User｜>", "<｜Assistant｜>", and EOS after every assistant message. That is
// what `dsv3 chat` feeds the model, so the model learns to end an answer where a paragraph ends.
//
//   DSV3_ASSIGN_OR_RETURN(auto docs, read_documents(paths, DocumentBoundary::kFile));
//   DSV3_ASSIGN_OR_RETURN(auto chats, render_conversations(tokenizer, docs));
//   // tokenize_documents(tokenizer, chats.documents, order, {.eos_after_document = false})
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/text_corpus.h"
#include "tokenizer/tokenizer.h"
#include "util/result.h"

namespace dsv3 {

// The paragraphs of `text` as messages [{"role":"user","content":p0},
// {"role":"assistant","content":p1}, {"role":"user","content":p2}, ...]. An odd last paragraph
// is left out, so every conversation ends with an answer; fewer than two paragraphs give [].
nlohmann::ordered_json conversation_of(std::string_view text);

struct RenderedConversations {
  // One per input document, in the same order (so a train/validation split by document index
  // picks the same texts as without chat format); the text is empty where the document had
  // fewer than two paragraphs.
  std::vector<TextDocument> documents;
  int64_t num_conversations = 0;  // documents with at least one exchange
  int64_t num_answers = 0;        // assistant messages, each followed by EOS
};

// Each document's conversation_of rendered with the tokenizer's chat template (its bos_token
// and eos_token). Fails when the tokenizer has no chat template or no EOS, when rendering
// fails (naming the document), and when no document has two paragraphs.
Result<RenderedConversations> render_conversations(const Tokenizer& tokenizer,
                                                   std::span<const TextDocument> documents);

}  // namespace dsv3
