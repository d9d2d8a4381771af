// The text corpus helper: reading and cutting documents, the seeded train/validation
// split, the token stream with EOS after each document, and int32 token files.
#include "tokenizer/text_corpus.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tokenizer/tokenizer_support.h"
#include "tokenizer/trainer_support.h"

namespace dsv3 {
namespace {

class TextCorpus : public testing::TempDirTest {};

TEST_F(TextCorpus, ReadsTextReplacingInvalidBytesAndTheByteOrderMark) {
  auto text = read_text_file(write("a.txt", "\xEF\xBB\xBFok \xFF\xFE end"));
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(*text, "ok \xEF\xBF\xBD\xEF\xBF\xBD end");
  const auto missing = read_text_file(path("missing.txt"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("missing.txt"), std::string::npos);
}

TEST_F(TextCorpus, CutsDocumentsByFileParagraphOrLine) {
  const std::vector<std::string> files = {
      write("a.txt", "First para\nstill first.\n\n  \nSecond para.\r\n\r\nThird\n"),
      write("blank.txt", " \n\n\t\n"), write("b.txt", "Only line")};

  auto by_file = read_documents(files, DocumentBoundary::kFile);
  ASSERT_TRUE(by_file.ok()) << by_file.error().message;
  ASSERT_EQ(by_file->size(), 2u);  // the blank file is dropped
  EXPECT_EQ((*by_file)[0].text, "First para\nstill first.\n\n  \nSecond para.\r\n\r\nThird\n");
  EXPECT_EQ((*by_file)[0].origin, files[0]);
  EXPECT_EQ((*by_file)[1].text, "Only line");

  auto by_paragraph = read_documents(files, DocumentBoundary::kParagraph);
  ASSERT_TRUE(by_paragraph.ok());
  ASSERT_EQ(by_paragraph->size(), 4u);
  EXPECT_EQ((*by_paragraph)[0].text, "First para\nstill first.");
  EXPECT_EQ((*by_paragraph)[1].text, "Second para.");
  EXPECT_EQ((*by_paragraph)[1].origin, files[0] + ":5");
  EXPECT_EQ((*by_paragraph)[2].text, "Third");
  EXPECT_EQ((*by_paragraph)[3].text, "Only line");

  auto by_line = read_documents(files, DocumentBoundary::kLine);
  ASSERT_TRUE(by_line.ok());
  std::vector<std::string> lines;
  for (const auto& d : *by_line) lines.push_back(d.text);
  EXPECT_EQ(lines, (std::vector<std::string>{"First para", "still first.", "Second para.", "Third",
                                             "Only line"}));

  EXPECT_TRUE(parse_document_boundary("paragraph").ok());
  EXPECT_FALSE(parse_document_boundary("chapter").ok());
  const auto empty = read_documents(std::vector<std::string>{files[1]}, DocumentBoundary::kFile);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("no text"), std::string::npos);
  EXPECT_FALSE(
      read_documents(std::vector<std::string>{path("nope")}, DocumentBoundary::kFile).ok());
}

TEST(TrainValidationSplit, IsDeterministicDisjointAndComplete) {
  const auto a = split_train_validation(1000, 0.05, 42);
  const auto b = split_train_validation(1000, 0.05, 42);
  const auto c = split_train_validation(1000, 0.05, 43);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->validation, b->validation);
  EXPECT_EQ(a->train, b->train);
  EXPECT_NE(a->validation, c->validation);
  EXPECT_EQ(a->validation.size(), 50u);
  EXPECT_EQ(a->train.size(), 950u);
  EXPECT_TRUE(std::is_sorted(a->train.begin(), a->train.end()));
  std::set<size_t> all(a->train.begin(), a->train.end());
  for (size_t v : a->validation) EXPECT_TRUE(all.insert(v).second) << v << " is in both";
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_EQ(*all.rbegin(), 999u);

  // Small inputs: at least one validation document, and at least one for training.
  const auto small = split_train_validation(3, 0.01, 1);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->validation.size(), 1u);
  const auto none = split_train_validation(5, 0.0, 1);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->validation.empty());
  EXPECT_EQ(none->train.size(), 5u);
  EXPECT_FALSE(split_train_validation(1, 0.05, 1).ok());
  EXPECT_FALSE(split_train_validation(10, 1.0, 1).ok());
  EXPECT_FALSE(split_train_validation(10, -0.1, 1).ok());
  EXPECT_FALSE(split_train_validation(0, 0.1, 1).ok());
}

TEST(TokenStream, EndsEachDocumentWithEos) {
  const Tokenizer& tok = testing::deepseek_tokenizer();
  const std::vector<TextDocument> docs = {
      {"Hello world.", "a"}, {"Second doc\nwith lines.", "b"}, {"Third: 🙂", "c"}};
  const std::vector<size_t> order = {2, 0};
  const auto stream = tokenize_documents(tok, docs, order, {.num_threads = 2});
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  std::vector<int32_t> expected = tok.encode(docs[2].text);
  expected.push_back(tok.eos_id());
  const auto first = tok.encode(docs[0].text);
  expected.insert(expected.end(), first.begin(), first.end());
  expected.push_back(tok.eos_id());
  EXPECT_EQ(stream->ids, expected);
  EXPECT_EQ(stream->num_documents, 2);
  EXPECT_EQ(stream->text_bytes, int64_t(docs[2].text.size() + docs[0].text.size()));
  EXPECT_EQ(stream->text_tokens, int64_t(expected.size()) - 2);

  const auto with_bos = tokenize_documents(tok, docs, order, {.bos_at_start = true});
  ASSERT_TRUE(with_bos.ok());
  ASSERT_EQ(with_bos->ids.size(), expected.size() + 2);
  EXPECT_EQ(with_bos->ids[0], tok.bos_id());
  EXPECT_EQ(tok.decode(with_bos->ids),
            "<｜begin▁of▁sentence｜>Third: 🙂<｜end▁of▁sentence｜>"
            "<｜begin▁of▁sentence｜>Hello world.<｜end▁of▁sentence｜>");
  const std::vector<size_t> bad = {3};
  EXPECT_FALSE(tokenize_documents(tok, docs, bad).ok());
}

TEST_F(TextCorpus, TokenFilesAreLittleEndianInt32) {
  const std::vector<int32_t> ids = {0x01020304, 0, 1, 128814, 7};
  ASSERT_TRUE(write_token_file(path("t.bin"), ids).ok());
  const std::string bytes = slurp(path("t.bin"));
  ASSERT_EQ(bytes.size(), 20u);
  EXPECT_EQ(bytes.substr(0, 4), std::string("\x04\x03\x02\x01", 4));
  auto back = read_token_file(path("t.bin"));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, ids);
  write("odd.bin", "12345");
  EXPECT_FALSE(read_token_file(path("odd.bin")).ok());
}

}  // namespace
}  // namespace dsv3
