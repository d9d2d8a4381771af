// The files of a trained tokenizer, and train_tokenizer (bpe_trainer.h) from text files to
// those files.
#include <chrono>
#include <filesystem>
#include <system_error>

#include "tokenizer/bpe_trainer.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/deepseek_format.h"
#include "tokenizer/text_corpus.h"
#include "util/atomic_file.h"

namespace dsv3 {
namespace {

using ordered_json = nlohmann::ordered_json;

ordered_json added_token_json(int32_t id, const deepseek_v3::AddedTokenSpec& t) {
  return {{"id", id},
          {"content", std::string(t.content)},
          {"single_word", false},
          {"lstrip", false},
          {"rstrip", false},
          {"normalized", t.normalized},
          {"special", t.special}};
}

// tokenizer_config.json names tokens as transformers' AddedToken objects.
ordered_json config_token_json(std::string_view content) {
  return {{"__type", "AddedToken"}, {"content", std::string(content)},
          {"lstrip", false},        {"normalized", true},
          {"rstrip", false},        {"single_word", false}};
}

// Text read until this many bytes are buffered is counted in one parallel pass.
constexpr size_t kCountBatchBytes = size_t{256} << 20;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Counts whole files, reading up to kCountBatchBytes before each parallel pass.
Status count_files(std::span<const std::string> data_files, int num_threads, PieceCounter& counter,
                   TokenizerTrainReport& report) {
  std::vector<std::string> batch;
  size_t batch_bytes = 0;
  auto count_batch = [&] {
    std::vector<std::string_view> views(batch.begin(), batch.end());
    counter.add_texts(views, num_threads);
    batch.clear();
    batch_bytes = 0;
  };
  for (const std::string& path : data_files) {
    DSV3_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
    report.text_bytes += int64_t(text.size());
    batch_bytes += text.size();
    batch.push_back(std::move(text));
    if (batch_bytes >= kCountBatchBytes) count_batch();
  }
  count_batch();
  return OkStatus();
}

// Counts the training documents of the split that `tokenizer encode` makes.
Status count_training_documents(std::span<const std::string> data_files,
                                const TokenizerTrainOptions& options, PieceCounter& counter,
                                TokenizerTrainReport& report) {
  DSV3_ASSIGN_OR_RETURN(std::vector<TextDocument> documents,
                        read_documents(data_files, options.boundary));
  DSV3_ASSIGN_OR_RETURN(
      TrainValidationSplit split,
      split_train_validation(documents.size(), options.validation_fraction, options.seed));
  std::vector<std::string_view> views;
  for (size_t i : split.train) {
    views.push_back(documents[i].text);
    report.text_bytes += int64_t(documents[i].text.size());
  }
  report.num_held_out_documents = int64_t(split.validation.size());
  counter.add_texts(views, options.num_threads);
  return OkStatus();
}

}  // namespace

int64_t min_vocab_size() {
  return int64_t(deepseek_v3::leading_tokens().size()) + 256 +
         int64_t(deepseek_v3::trailing_tokens().size());
}

TokenizerFiles make_tokenizer_files(const BpeVocabulary& vocab, std::string_view chat_template) {
  const auto leading = deepseek_v3::leading_tokens();
  const auto trailing = deepseek_v3::trailing_tokens();

  ordered_json added = ordered_json::array();
  ordered_json vocab_json = ordered_json::object();
  int32_t id = 0;
  for (const auto& t : leading) {
    added.push_back(added_token_json(id, t));
    vocab_json[std::string(t.content)] = id++;
  }
  for (const std::string& bytes : vocab.tokens) vocab_json[byte_level_encode(bytes)] = id++;
  for (const auto& t : trailing) added.push_back(added_token_json(id++, t));

  ordered_json merges = ordered_json::array();
  for (const BpeMerge& m : vocab.merges) {
    // Byte-level text has no spaces (the space byte is "Ġ"), so "left right" is unambiguous.
    merges.push_back(byte_level_encode(vocab.tokens[size_t(m.left)]) + " " +
                     byte_level_encode(vocab.tokens[size_t(m.right)]));
  }

  TokenizerFiles files;
  files.tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", std::move(added)},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", ordered_json::array()}}},
      {"pre_tokenizer", ordered_json::parse(deepseek_v3::pre_tokenizer_json())},
      {"post_processor", ordered_json::parse(deepseek_v3::post_processor_json())},
      {"decoder", ordered_json::parse(deepseek_v3::decoder_json())},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"vocab", std::move(vocab_json)},
        {"merges", std::move(merges)}}},
  };
  files.config = {
      {"add_bos_token", true},
      {"add_eos_token", false},
      {"bos_token", config_token_json(leading[size_t(deepseek_v3::kBosId)].content)},
      {"clean_up_tokenization_spaces", false},
      {"eos_token", config_token_json(leading[size_t(deepseek_v3::kEosId)].content)},
      {"legacy", true},
      {"pad_token", config_token_json(leading[size_t(deepseek_v3::kPadId)].content)},
      {"sp_model_kwargs", ordered_json::object()},
      {"unk_token", nullptr},
      {"tokenizer_class", "LlamaTokenizerFast"},
      {"chat_template", std::string(chat_template)},
  };
  return files;
}

Status write_tokenizer_files(const std::string& dir, const TokenizerFiles& files) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Err("cannot create ", dir, ": ", ec.message());
  DSV3_TRY(write_file_atomically(dir + "/tokenizer.json", files.tokenizer.dump(2) + "\n"));
  return write_file_atomically(dir + "/tokenizer_config.json", files.config.dump(2) + "\n");
}

Result<TokenizerTrainReport> train_tokenizer(std::span<const std::string> data_files,
                                             const std::string& out_dir,
                                             const TokenizerTrainOptions& options) {
  if (options.vocab_size < min_vocab_size()) {
    return Err(
        "vocab size ", options.vocab_size, " is too small: the ",
        deepseek_v3::leading_tokens().size(), " special tokens, the 256 byte tokens and the ",
        deepseek_v3::trailing_tokens().size(), " added tokens take ", min_vocab_size(), " ids");
  }
  if (options.vocab_size > (int64_t{1} << 30)) {
    return Err("vocab size ", options.vocab_size, " is above the limit of 2^30");
  }
  if (data_files.empty()) return Err("no data files given");

  TokenizerTrainReport report;
  const auto count_start = std::chrono::steady_clock::now();
  DSV3_ASSIGN_OR_RETURN(PieceCounter counter, PieceCounter::deepseek_v3());
  if (options.validation_fraction > 0) {
    DSV3_TRY(count_training_documents(data_files, options, counter, report));
  } else {
    DSV3_TRY(count_files(data_files, options.num_threads, counter, report));
  }
  if (counter.num_pieces() == 0) {
    return Err("the data files (", data_files.front(), data_files.size() > 1 ? " and others" : "",
               ") hold no text to train on");
  }
  report.num_pieces = counter.num_pieces();
  report.num_unique_pieces = int64_t(counter.counts().size());
  report.count_seconds = seconds_since(count_start);

  const auto merge_start = std::chrono::steady_clock::now();
  const BpeVocabulary vocab =
      train_bpe(counter.counts(), {.max_new_tokens = options.vocab_size - min_vocab_size(),
                                   .min_frequency = options.min_frequency});
  report.merge_seconds = seconds_since(merge_start);
  report.num_learned_tokens = int64_t(vocab.tokens.size()) - 256;
  report.num_merges = int64_t(vocab.merges.size());
  report.vocab_size = min_vocab_size() + report.num_learned_tokens;

  const std::string_view tmpl =
      options.chat_template.empty() ? deepseek_v3::chat_template() : options.chat_template;
  DSV3_TRY(write_tokenizer_files(out_dir, make_tokenizer_files(vocab, tmpl)));
  return report;
}

}  // namespace dsv3
