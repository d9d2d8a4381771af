// Training a byte-level BPE tokenizer in DeepSeek-V3's format (deepseek_format.h):
//   1. PieceCounter: DeepSeek-V3's added tokens are cut out of the text, the rest goes
//      through its pre-tokenizer (the Split regexes of pretokenize.h, read from the same
//      JSON the trained tokenizer.json holds), and each piece's bytes are counted;
//   2. train_bpe: every piece starts as its bytes, and the most frequent adjacent pair of
//      tokens becomes a new token, again and again (Sennrich et al. 2016; HF tokenizers
//      models/bpe/trainer.rs), until the vocabulary is full;
//   3. make_tokenizer_files / write_tokenizer_files: tokenizer.json and
//      tokenizer_config.json, which Tokenizer::load and Hugging Face tokenizers both read.
// train_tokenizer does all three for a list of text files.
//
// Ties: of two pairs with the same count, the one whose (left bytes, right bytes) comes
// first (bytewise, unsigned, left token compared first) is merged first, so the same text
// gives the same tokenizer on every machine and with any number of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/text_corpus.h"
#include "util/result.h"

namespace dsv3 {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
// Piece (raw bytes) -> how often it occurs.
using PieceCounts = std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>>;

// Counts the pieces of text as the DeepSeek-V3 tokenizer would cut it before BPE.
class PieceCounter {
 public:
  // DeepSeek-V3's pre-tokenizer, with all of deepseek_format.h's added tokens cut out first
  // (they never reach BPE, so they are not counted).
  static Result<PieceCounter> deepseek_v3();
  PieceCounter(PreTokenizer pre_tokenizer, AddedTokens added);

  // Counts the pieces of `texts` (UTF-8; invalid bytes are replaced as the tokenizer
  // replaces them). Each text is cut into chunks of about `chunk_bytes` at line starts where
  // no piece can cross (after '\n', before printable ASCII), and the chunks are counted on
  // `num_threads` threads (0: one per core); the counts depend on neither.
  void add_texts(std::span<const std::string_view> texts, int num_threads = 0,
                 size_t chunk_bytes = size_t{1} << 20);

  const PieceCounts& counts() const { return counts_; }
  int64_t num_pieces() const { return num_pieces_; }

 private:
  void count_chunk(std::string_view chunk,
                   std::unordered_map<std::string_view, int64_t>& out) const;

  PreTokenizer pre_tokenizer_;
  AddedTokens added_;
  PieceCounts counts_;
  int64_t num_pieces_ = 0;
};

struct BpeTrainOptions {
  int64_t max_new_tokens = 0;  // tokens to learn beyond the 256 single bytes
  int64_t min_frequency = 2;   // stop when the best pair occurs fewer times than this
};

struct BpeMerge {
  int32_t left, right, merged;  // ids in BpeVocabulary::tokens
  int64_t count;                // occurrences of the pair in the counted text when merged
};

struct BpeVocabulary {
  // Raw bytes by id: the 256 single bytes (id = byte value), then the learned tokens in the
  // order they were learned.
  std::vector<std::string> tokens;
  // In rank order. When two merges make the same bytes ("a"+"bc" and "ab"+"c"), the second
  // reuses the first one's token (as HF does), so there can be more merges than tokens.
  std::vector<BpeMerge> merges;
};

// Learns merges from piece counts. A merge updates only the words that hold the merged pair
// (a per-pair list of words), and the next pair comes from a max-heap of pair counts whose
// stale entries are corrected when they surface, so training costs about the number of pair
// occurrences the merges touch rather than merges x corpus.
BpeVocabulary train_bpe(const PieceCounts& piece_counts, const BpeTrainOptions& options);

// tokenizer.json and tokenizer_config.json of a DeepSeek-V3-format tokenizer with `vocab`:
// ids 0-2 are BOS, EOS and pad, 3-258 the bytes 0-255, then the learned tokens, then the
// trailing added tokens (<think> ... <｜tool▁sep｜>). The config names BOS, EOS and pad,
// sets add_bos_token, and holds `chat_template`.
struct TokenizerFiles {
  nlohmann::ordered_json tokenizer;
  nlohmann::ordered_json config;
};
TokenizerFiles make_tokenizer_files(const BpeVocabulary& vocab, std::string_view chat_template);
// Writes both into `dir` (created if missing), each atomically.
Status write_tokenizer_files(const std::string& dir, const TokenizerFiles& files);

// The fewest ids a tokenizer in this format has: 3 leading special tokens, 256 bytes and
// the trailing added tokens.
int64_t min_vocab_size();

struct TokenizerTrainOptions {
  int64_t vocab_size = 0;  // every id: special, byte, learned and added tokens
  int64_t min_frequency = 2;
  int num_threads = 0;        // 0: one per core
  std::string chat_template;  // empty: DeepSeek-V3's
  // Above 0: leave out the validation documents of split_train_validation(documents,
  // validation_fraction, seed), the ones `dsv3 tokenizer encode` holds out with the same
  // flags, so that validation text stays unseen by the tokenizer too.
  double validation_fraction = 0;
  uint64_t seed = 0;
  DocumentBoundary boundary = DocumentBoundary::kFile;
};

struct TokenizerTrainReport {
  int64_t text_bytes = 0;  // of the text trained on
  int64_t num_held_out_documents = 0;
  int64_t num_pieces = 0;
  int64_t num_unique_pieces = 0;
  int64_t num_learned_tokens = 0;
  int64_t num_merges = 0;
  int64_t vocab_size = 0;  // below the one asked for when the text ran out of pairs
  double count_seconds = 0;
  double merge_seconds = 0;
};

// Reads `data_files` (read_text_file), counts, trains and writes the two files into
// `out_dir`. Fails, before writing anything, on a vocabulary below min_vocab_size(), a file
// that cannot be read, and text with nothing to count.
Result<TokenizerTrainReport> train_tokenizer(std::span<const std::string> data_files,
                                             const std::string& out_dir,
                                             const TokenizerTrainOptions& options);

}  // namespace dsv3
