// dsv3 tokenizer train / encode: a byte-level BPE tokenizer in DeepSeek-V3's format trained
// on text files, and text files turned into int32 token-id files for `dsv3 train --data`.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "command.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/chat_corpus.h"
#include "tokenizer/text_corpus.h"

namespace dsv3::cli {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw CommandError("cannot read " + path);
  return {std::istreambuf_iterator<char>(f), {}};
}

// A Jinja file as is, or the "chat_template" of a tokenizer_config.json.
std::string read_chat_template(const std::string& path) {
  std::string text = read_file(path);
  if (!path.ends_with(".json")) return text;
  const auto config = nlohmann::json::parse(text, nullptr, false);
  if (config.is_discarded() || !config.is_object() || !config.contains("chat_template") ||
      !config["chat_template"].is_string()) {
    throw CommandError(path + ": expected a JSON object with a string \"chat_template\"");
  }
  return config["chat_template"].get<std::string>();
}

std::string megabytes(int64_t bytes) {
  char s[32];
  std::snprintf(s, sizeof s, "%.2f MB", double(bytes) / 1e6);
  return s;
}

struct TrainFlags {
  TokenizerTrainOptions options;
  std::vector<std::string> data;
  std::string out, chat_template_file, boundary = "file";
};

void run_train(TrainFlags& f) {
  if (!f.chat_template_file.empty())
    f.options.chat_template = read_chat_template(f.chat_template_file);
  f.options.boundary = unwrap(parse_document_boundary(f.boundary));
  const TokenizerTrainReport r = unwrap(train_tokenizer(f.data, f.out, f.options));
  if (r.num_held_out_documents > 0) {
    std::printf("held out %lld validation documents\n", (long long)r.num_held_out_documents);
  }
  std::printf("counted %lld pieces (%lld distinct) in %s of text in %.2f s\n",
              (long long)r.num_pieces, (long long)r.num_unique_pieces,
              megabytes(r.text_bytes).c_str(), r.count_seconds);
  std::printf("learned %lld tokens with %lld merges in %.2f s\n", (long long)r.num_learned_tokens,
              (long long)r.num_merges, r.merge_seconds);
  std::printf("wrote %s/tokenizer.json and tokenizer_config.json: vocab size %lld\n", f.out.c_str(),
              (long long)r.vocab_size);
  if (r.vocab_size < f.options.vocab_size) {
    std::fprintf(stderr,
                 "dsv3: warning: the text has no more pairs occurring %lld times or more; the "
                 "vocabulary has %lld ids, not %lld\n",
                 (long long)f.options.min_frequency, (long long)r.vocab_size,
                 (long long)f.options.vocab_size);
  }
}

struct EncodeFlags {
  std::string tokenizer_dir, out, val_out, boundary = "file";
  std::vector<std::string> data;
  double val_fraction = 0.05;
  uint64_t seed = 0;
  bool bos = false, chat_format = false;
  int threads = 0;
  CLI::Option* val_fraction_flag = nullptr;
};

void report_stream(const char* name, const std::string& path, const TokenStream& s) {
  std::printf("%s: %lld documents, %lld tokens, %.3f bytes per token -> %s\n", name,
              (long long)s.num_documents, (long long)s.ids.size(),
              s.text_tokens > 0 ? double(s.text_bytes) / double(s.text_tokens) : 0.0, path.c_str());
}

void run_encode(const EncodeFlags& f) {
  if (f.val_out.empty() && f.val_fraction_flag->count() > 0) {
    throw CommandError("--val-fraction needs --val-out FILE for the validation tokens");
  }
  const Tokenizer tok = unwrap(Tokenizer::load(f.tokenizer_dir));
  const DocumentBoundary boundary = unwrap(parse_document_boundary(f.boundary));
  std::vector<TextDocument> docs = unwrap(read_documents(f.data, boundary));
  TokenStreamOptions options{.bos_at_start = f.bos, .num_threads = f.threads};
  if (f.chat_format) {
    if (f.bos) throw CommandError("--bos and --chat-format: the chat template writes BOS itself");
    // Rendered in place, one per document: the split below picks the same documents.
    const RenderedConversations chats = unwrap(render_conversations(tok, docs));
    std::printf("chat format: %lld conversations, %lld answers ending with EOS\n",
                (long long)chats.num_conversations, (long long)chats.num_answers);
    docs = chats.documents;
    options.eos_after_document = false;
  }
  TrainValidationSplit split;
  if (f.val_out.empty()) {
    for (size_t i = 0; i < docs.size(); ++i) split.train.push_back(i);
  } else {
    split = unwrap(split_train_validation(docs.size(), f.val_fraction, f.seed));
  }
  const TokenStream train = unwrap(tokenize_documents(tok, docs, split.train, options));
  unwrap(write_token_file(f.out, train.ids));
  report_stream("train", f.out, train);
  if (!f.val_out.empty()) {
    const TokenStream val = unwrap(tokenize_documents(tok, docs, split.validation, options));
    unwrap(write_token_file(f.val_out, val.ids));
    report_stream("validation", f.val_out, val);
  }
}

}  // namespace

void add_tokenizer_command(CLI::App& root) {
  CLI::App* group =
      root.add_subcommand("tokenizer", "train a BPE tokenizer; encode text for training");
  group->require_subcommand(1);

  auto tf = std::make_shared<TrainFlags>();
  CLI::App* t = group->add_subcommand(
      "train", "train a byte-level BPE tokenizer (DeepSeek-V3 pre-tokenizer and special tokens)");
  t->add_option("--vocab-size", tf->options.vocab_size,
                "ids in all: 3 special, 256 byte, learned and 17 added tokens")
      ->required();
  t->add_option("--data", tf->data, "UTF-8 text files")->required()->expected(1, -1);
  t->add_option("--out", tf->out, "directory for tokenizer.json and tokenizer_config.json")
      ->required();
  t->add_option("--min-frequency", tf->options.min_frequency,
                "stop merging when the best pair occurs fewer times")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  t->add_option("--chat-template", tf->chat_template_file,
                "Jinja file, or a tokenizer_config.json to take it from (default: DeepSeek-V3's)");
  t->add_option("--threads", tf->options.num_threads, "threads for counting (default: all cores)")
      ->check(CLI::Range(0, 1024));
  t->add_option("--val-fraction", tf->options.validation_fraction,
                "leave out the validation documents `tokenizer encode` holds out with the same "
                "--val-fraction, --seed and --split (default 0: train on everything)")
      ->check(CLI::Range(0.0, 0.99));
  t->add_option("--seed", tf->options.seed, "seed of the train/validation split");
  t->add_option("--split", tf->boundary, "what a document is: file, paragraph or line")
      ->capture_default_str();
  t->callback([tf] { run_train(*tf); });

  auto ef = std::make_shared<EncodeFlags>();
  CLI::App* e = group->add_subcommand(
      "encode",
      "tokenize text files into int32 token-id files, EOS after each document (or answer)");
  e->add_option("--tokenizer", ef->tokenizer_dir,
                "directory with tokenizer.json and tokenizer_config.json")
      ->required();
  e->add_option("--data", ef->data, "UTF-8 text files")->required()->expected(1, -1);
  e->add_option("--out", ef->out, "token file for training (little-endian int32)")->required();
  e->add_option("--split", ef->boundary, "what a document is: file, paragraph or line")
      ->capture_default_str();
  ef->val_fraction_flag =
      e->add_option("--val-fraction", ef->val_fraction,
                    "share of documents held out for validation (with --val-out)")
          ->capture_default_str();
  e->add_option("--val-out", ef->val_out, "token file for the validation documents");
  e->add_option("--seed", ef->seed, "seed of the train/validation split")->capture_default_str();
  e->add_flag("--bos", ef->bos, "put BOS before each document");
  e->add_flag("--chat-format", ef->chat_format,
              "render each document as a conversation with the tokenizer's chat template: its "
              "paragraphs alternate as user message and answer, each answer ends with EOS");
  e->add_option("--threads", ef->threads, "threads (default: all cores)")
      ->check(CLI::Range(0, 1024));
  e->callback([ef] { run_encode(*ef); });
}

}  // namespace dsv3::cli
