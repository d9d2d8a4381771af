// Byte-level BPE tokenizer read from a Hugging Face tokenizer.json + tokenizer_config.json
// (DeepSeek-V3's, and others of the same kind). Encoding follows HF tokenizers:
//   1. added tokens are cut out of the raw text, leftmost-longest (added_tokens.h);
//   2. the rest goes through the Split regexes (pretokenize.h);
//   3. each piece, as bytes, goes through BPE (bpe.h).
// Decoding maps ids back to bytes (GPT-2's byte-level alphabet, byte_level.h).
// Everything is const after load, so one Tokenizer can serve many threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"
#include "util/result.h"

namespace dsv3 {

class Tokenizer {
 public:
  // Reads `dir`/tokenizer.json and `dir`/tokenizer_config.json. Refuses, naming the file,
  // field and value, anything this implementation does not reproduce exactly (another
  // model type, normalizers, byte fallback, lstrip/rstrip tokens, ...).
  static Result<Tokenizer> load(const std::string& dir);
  // The same from the two files' contents, already parsed (a GGUF file's tokenizer metadata
  // rebuilt as tokenizer.json, engine/gguf_tokenizer.h); `origin` names them in errors.
  static Result<Tokenizer> from_json(const nlohmann::json& tokenizer, const nlohmann::json& config,
                                     const std::string& origin);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of `text`, with bos_id() first when `add_bos` (and the config names a BOS).
  // Bytes of `text` that are not valid UTF-8 are replaced by U+FFFD first, one per
  // maximal invalid subpart (as Rust's from_utf8_lossy does); encode_checked refuses them.
  std::vector<int32_t> encode(std::string_view text, bool add_bos = false) const;
  Result<std::vector<int32_t>> encode_checked(std::string_view text, bool add_bos = false) const;

  // The text of `ids`. Ids outside the vocabulary are skipped (as HF does); with
  // `skip_special`, added tokens marked "special" are too. Byte sequences that are not
  // valid UTF-8 come out as U+FFFD. decode_checked refuses ids outside the vocabulary.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;
  Result<std::string> decode_checked(std::span<const int32_t> ids,
                                     bool skip_special = false) const;

  // The pre-tokenizer's pieces of `text`, added tokens included, in order (invalid UTF-8
  // replaced as in encode). For tests and debugging: encode() is BPE over these pieces.
  std::vector<std::string> pieces(std::string_view text) const;

  // Id of a token given as in tokenizer.json: byte-level form for the vocabulary
  // ("Ġthe"), literal content for added tokens.
  std::optional<int32_t> token_id(std::string_view token) const;
  // The token as in tokenizer.json (see token_id); empty for an id outside the vocabulary.
  std::string_view token_text(int32_t id) const;
  // The raw bytes the token stands for (what decode emits for it; may be part of a
  // UTF-8 character); empty for an id outside the vocabulary.
  std::string_view token_bytes(int32_t id) const;
  // One more than the highest id (vocabulary and added tokens).
  size_t vocab_size() const { return token_text_.size(); }
  bool is_valid_id(int32_t id) const { return id >= 0 && size_t(id) < vocab_size(); }
  // True for added tokens marked "special" (BOS, EOS, pad, ...).
  bool is_special(int32_t id) const;

  // From tokenizer_config.json; -1 and "" when the config names no such token.
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  const std::string& bos_token() const { return bos_token_; }
  const std::string& eos_token() const { return eos_token_; }
  // Whether the model expects BOS in front of a prompt (config "add_bos_token").
  bool add_bos_token() const { return add_bos_token_; }
  // The Jinja chat template, unrendered; empty when the config has none.
  const std::string& chat_template() const { return chat_template_; }

 private:
  Tokenizer();
  friend class TokenizerLoader;

  // Appends the ids of `text`, which must be valid UTF-8.
  void encode_valid(std::string_view text, std::vector<int32_t>& out) const;

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  AddedTokens added_;
  PreTokenizer pre_tokenizer_;
  std::unique_ptr<BpeModel> bpe_;
  std::vector<std::string> token_text_;   // by id
  std::vector<std::string> token_bytes_;  // by id
  std::vector<uint8_t> special_;          // by id
  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> id_of_text_;

  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  std::string bos_token_;
  std::string eos_token_;
  bool add_bos_token_ = false;
  std::string chat_template_;
};

// The tokens of `tokenizer` that open a chat turn in DeepSeek's templates, <｜User｜> and
// <｜Assistant｜> (added tokens, but not "special" ones: they have text). A model that writes
// one has ended its answer and begun to play the next turn itself; a JSON document never
// holds one.
std::vector<int32_t> chat_turn_markers(const Tokenizer& tokenizer);

}  // namespace dsv3
