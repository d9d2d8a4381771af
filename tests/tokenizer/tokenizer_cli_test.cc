// `dsv3 tokenizer train` and `dsv3 tokenizer encode` as a user runs them, and the chat
// template of a trained tokenizer rendered by `dsv3 template`. Skipped when the dsv3 binary
// has not been built (this test binary does not depend on it).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "cli/run_dsv3.h"
#include "tokenizer/text_corpus.h"
#include "tokenizer/trainer_support.h"

namespace dsv3 {
namespace {

using testing::run_dsv3;

class TokenizerCli : public testing::TempDirTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(DSV3_BINARY)) << DSV3_BINARY << " is not built";
    TempDirTest::SetUp();
    for (int i = 0; i < 8; ++i) {
      files_ += " " + write("doc" + std::to_string(i) + ".txt",
                            testing::generated_corpus(8000, uint64_t(i + 1)));
    }
  }
  std::string files_;
};

TEST_F(TokenizerCli, TrainsATokenizerWhoseChatTemplateRenders) {
  const auto train =
      run_dsv3("tokenizer train --vocab-size 400 --data" + files_ + " --out " + path("tok"));
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_NE(train.out.find("vocab size 400"), std::string::npos) << train.out;

  write("messages.json", R"([{"role": "system", "content": "Be brief."},
                             {"role": "user", "content": "Hi there"},
                             {"role": "assistant", "content": "Hello."},
                             {"role": "user", "content": "Bye"}])");
  const auto rendered = run_dsv3("template --tokenizer " + path("tok") + " --messages " +
                                 path("messages.json") + " --generation-prompt");
  ASSERT_EQ(rendered.exit_code, 0) << rendered.err;
  EXPECT_EQ(rendered.out,
            "<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi there<｜Assistant｜>Hello."
            "<｜end▁of▁sentence｜><｜User｜>Bye<｜Assistant｜>");

  // The prompt's markers are single tokens: BOS is 0, EOS is 1.
  write("prompt.txt", rendered.out);
  const auto ids =
      run_dsv3("tokenize --tokenizer " + path("tok") + " --file " + path("prompt.txt"));
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  EXPECT_EQ(ids.out.rfind("[0,", 0), 0u) << ids.out;
  EXPECT_NE(ids.out.find(",1,"), std::string::npos) << ids.out;

  // A template of one's own replaces DeepSeek's.
  write("t.jinja", "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}");
  const auto custom = run_dsv3("tokenizer train --vocab-size 300 --data" + files_ + " --out " +
                               path("tok2") + " --chat-template " + path("t.jinja"));
  ASSERT_EQ(custom.exit_code, 0) << custom.err;
  const auto custom_rendered =
      run_dsv3("template --tokenizer " + path("tok2") + " --messages " + path("messages.json"));
  EXPECT_EQ(custom_rendered.out,
            "[system] Be brief.\n[user] Hi there\n[assistant] Hello.\n[user] Bye\n");
}

TEST_F(TokenizerCli, EncodesTrainAndValidationFiles) {
  ASSERT_EQ(run_dsv3("tokenizer train --vocab-size 400 --data" + files_ + " --out " + path("tok"))
                .exit_code,
            0);
  const std::string encode = "tokenizer encode --tokenizer " + path("tok") + " --data" + files_ +
                             " --split paragraph --val-fraction 0.1 --seed 7";
  const auto first = run_dsv3(encode + " --out " + path("a.bin") + " --val-out " + path("av.bin"));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("validation:"), std::string::npos) << first.out;
  const auto second = run_dsv3(encode + " --out " + path("b.bin") + " --val-out " + path("bv.bin"));
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(slurp(path("a.bin")), slurp(path("b.bin")));
  EXPECT_EQ(slurp(path("av.bin")), slurp(path("bv.bin")));

  auto train = read_token_file(path("a.bin"));
  auto val = read_token_file(path("av.bin"));
  ASSERT_TRUE(train.ok() && val.ok());
  EXPECT_GT(train->size(), 5 * val->size());
  EXPECT_GT(val->size(), 0u);
  EXPECT_EQ(train->back(), 1);  // EOS after the last document
  // Held-out paragraphs are not in the training stream: split both at EOS and compare.
  auto documents = [](const std::vector<int32_t>& ids) {
    std::set<std::vector<int32_t>> docs;
    std::vector<int32_t> doc;
    for (int32_t id : ids) {
      if (id == 1) {
        docs.insert(doc);
        doc.clear();
      } else {
        doc.push_back(id);
      }
    }
    return docs;
  };
  const auto train_docs = documents(*train);
  for (const auto& doc : documents(*val)) EXPECT_EQ(train_docs.count(doc), 0u);
}

// --chat-format: each file a conversation of its paragraphs in the chat template, BOS at the
// start of each, EOS after each answer, and the same validation files as without it.
TEST_F(TokenizerCli, EncodesFilesAsChatConversations) {
  ASSERT_EQ(run_dsv3("tokenizer train --vocab-size 400 --data" + files_ + " --out " + path("tok"))
                .exit_code,
            0);
  const std::string encode = "tokenizer encode --tokenizer " + path("tok") + " --data" + files_ +
                             " --val-fraction 0.25 --seed 7";
  const auto chat = run_dsv3(encode + " --chat-format --out " + path("c.bin") + " --val-out " +
                             path("cv.bin"));
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_NE(chat.out.find("chat format: 8 conversations"), std::string::npos) << chat.out;
  const auto plain = run_dsv3(encode + " --out " + path("p.bin") + " --val-out " + path("pv.bin"));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;

  auto train = read_token_file(path("c.bin"));
  auto val = read_token_file(path("cv.bin"));
  auto plain_val = read_token_file(path("pv.bin"));
  ASSERT_TRUE(train.ok() && val.ok() && plain_val.ok());
  const int32_t bos = 0, eos = 1;
  EXPECT_EQ(train->front(), bos);
  EXPECT_EQ(train->back(), eos);
  EXPECT_EQ(std::count(train->begin(), train->end(), bos), 6);  // 6 of 8 files train
  EXPECT_EQ(std::count(val->begin(), val->end(), bos), 2);
  EXPECT_GT(std::count(train->begin(), train->end(), eos), 6 * 10);  // many answers per file

  // The held-out conversations are the held-out files: the plain validation stream's first
  // paragraph is in the chat validation text, as an answer or a user message.
  auto tok = Tokenizer::load(path("tok"));
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  const std::string chat_text = tok->decode(*val);
  const std::string plain_text = tok->decode(*plain_val);
  const std::string first_paragraph = plain_text.substr(0, plain_text.find("\n\n"));
  ASSERT_GT(first_paragraph.size(), 20u);
  EXPECT_NE(chat_text.find("<｜User｜>" + first_paragraph + "<｜Assistant｜>"), std::string::npos)
      << first_paragraph;

  const auto with_bos = run_dsv3(encode + " --chat-format --bos --out " + path("x.bin") +
                                 " --val-out " + path("xv.bin"));
  EXPECT_EQ(with_bos.exit_code, 1);
  EXPECT_NE(with_bos.err.find("--bos"), std::string::npos) << with_bos.err;
  const auto by_paragraph =
      run_dsv3("tokenizer encode --tokenizer " + path("tok") + " --data" + files_ +
               " --split paragraph --chat-format --out " + path("x.bin"));
  EXPECT_EQ(by_paragraph.exit_code, 1);
  EXPECT_NE(by_paragraph.err.find("--split file"), std::string::npos) << by_paragraph.err;
}

TEST_F(TokenizerCli, ReportsBadInputs) {
  const auto small =
      run_dsv3("tokenizer train --vocab-size 100 --data" + files_ + " --out " + path("tok"));
  EXPECT_EQ(small.exit_code, 1);
  EXPECT_NE(small.err.find("too small"), std::string::npos) << small.err;

  const auto missing = run_dsv3("tokenizer train --vocab-size 400 --data " + path("nope.txt") +
                                " --out " + path("tok"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope.txt"), std::string::npos) << missing.err;

  const auto empty = run_dsv3("tokenizer train --vocab-size 400 --data " + write("empty.txt", "") +
                              " --out " + path("tok"));
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_NE(empty.err.find("no text"), std::string::npos) << empty.err;

  const auto no_val_out = run_dsv3("tokenizer encode --tokenizer " + path("tok") + " --data" +
                                   files_ + " --out " + path("x.bin") + " --val-fraction 0.1");
  EXPECT_EQ(no_val_out.exit_code, 1);
  EXPECT_NE(no_val_out.err.find("--val-out"), std::string::npos) << no_val_out.err;
}

}  // namespace
}  // namespace dsv3
