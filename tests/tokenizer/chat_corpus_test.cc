// Chat-format training text: a document's paragraphs as a conversation rendered by the
// tokenizer's chat template, so that the training stream holds exactly what `dsv3 chat`
// feeds the model, and EOS after every answer.
#include "tokenizer/chat_corpus.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "template/chat_template.h"
#include "tokenizer/tokenizer_support.h"

namespace dsv3 {
namespace {

TEST(ChatCorpus, ParagraphsAlternateUserAndAssistantDroppingAnUnansweredLastOne) {
  const auto messages = conversation_of("Tell me.\n\nIt was\ncold.\n\n \nWhy?\n\nNo idea.\n\nBye");
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[0]["role"], "user");
  EXPECT_EQ(messages[0]["content"], "Tell me.");
  EXPECT_EQ(messages[1]["role"], "assistant");
  EXPECT_EQ(messages[1]["content"], "It was\ncold.");
  EXPECT_EQ(messages[2]["content"], "Why?");
  EXPECT_EQ(messages[3]["role"], "assistant");
  EXPECT_EQ(messages[3]["content"], "No idea.");
  EXPECT_TRUE(conversation_of("One paragraph\nonly.").empty());
  EXPECT_TRUE(conversation_of(" \n\n").empty());
}

TEST(ChatCorpus, StreamIsTheChatPromptFollowedByTheAnswerAndEos) {
  const Tokenizer& tok = testing::deepseek_tokenizer();
  const std::vector<TextDocument> docs = {
      {"Tell me about the city.\n\nThe city is old.\n\nAnd the jury?\n\nIt said no.", "a.txt"},
      {"A lone paragraph.", "b.txt"},
      {"Hi\n\nHello there.", "c.txt"}};
  const auto chats = render_conversations(tok, docs);
  ASSERT_TRUE(chats.ok()) << chats.error().message;
  ASSERT_EQ(chats->documents.size(), 3u);  // one per document: a split picks the same ones
  EXPECT_EQ(chats->num_conversations, 2);
  EXPECT_EQ(chats->num_answers, 3);
  EXPECT_EQ(chats->documents[0].origin, "a.txt");
  EXPECT_EQ(chats->documents[1].text, "");
  EXPECT_EQ(chats->documents[2].text,
            "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>Hello there.<｜end▁of▁sentence｜>");

  const std::vector<size_t> order = {0, 1, 2};
  const auto stream =
      tokenize_documents(tok, chats->documents, order, {.eos_after_document = false});
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  EXPECT_EQ(std::count(stream->ids.begin(), stream->ids.end(), tok.eos_id()), 3);
  EXPECT_EQ(std::count(stream->ids.begin(), stream->ids.end(), tok.bos_id()), 2);
  EXPECT_EQ(stream->ids.back(), tok.eos_id());

  // What the model is trained on starts with exactly the prompt `dsv3 chat` renders for the
  // first user message, and goes on with the answer and EOS.
  auto tmpl = ChatTemplate::parse(tok.chat_template());
  ASSERT_TRUE(tmpl.ok());
  const nlohmann::ordered_json first_turn = {
      {{"role", "user"}, {"content", "Tell me about the city."}}};
  auto prompt = render_chat(*tmpl, first_turn, true, tok.bos_token(), tok.eos_token());
  ASSERT_TRUE(prompt.ok());
  std::vector<int32_t> expected = tok.encode(*prompt);
  const std::vector<int32_t> answer = tok.encode("The city is old.");
  expected.insert(expected.end(), answer.begin(), answer.end());
  expected.push_back(tok.eos_id());
  ASSERT_GE(stream->ids.size(), expected.size());
  EXPECT_EQ(std::vector<int32_t>(stream->ids.begin(), stream->ids.begin() + expected.size()),
            expected);
  EXPECT_EQ(tok.decode(stream->ids),
            "<｜begin▁of▁sentence｜><｜User｜>Tell me about the city.<｜Assistant｜>The city is "
            "old.<｜end▁of▁sentence｜><｜User｜>And the jury?<｜Assistant｜>It said "
            "no.<｜end▁of▁sentence｜>"
            "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>Hello there.<｜end▁of▁sentence｜>");
}

TEST(ChatCorpus, RefusesDocumentsWithoutAnExchange) {
  const std::vector<TextDocument> single = {{"One.", "x.txt:1"}, {"Two.", "x.txt:3"}};
  const auto none = render_conversations(testing::deepseek_tokenizer(), single);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("--split file"), std::string::npos)
      << none.error().message;
}

}  // namespace
}  // namespace dsv3
