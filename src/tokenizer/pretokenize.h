// The pre-tokenizer: a chain of regex Split steps with behaviour "Isolated" (HF tokenizers
// pre_tokenizers/split.rs). Each step splits every piece the previous step produced: each
// match becomes a piece and so does the text between matches.
#pragma once

#include <string_view>
#include <vector>

#include "tokenizer/regex.h"
#include "util/result.h"

namespace dsv3 {

class PreTokenizer {
 public:
  PreTokenizer() = default;
  explicit PreTokenizer(std::vector<Regex> steps) : steps_(std::move(steps)) {}
  // From the JSON of a tokenizer.json "pre_tokenizer" (Split and ByteLevel steps), read as
  // Tokenizer::load reads it; the error names `origin`.
  static Result<PreTokenizer> from_json(std::string_view json_text, std::string_view origin);

  // Matching state for one thread; create one per encode call.
  class Scratch {
   public:
    explicit Scratch(const PreTokenizer& pre);

   private:
    friend class PreTokenizer;
    std::vector<Regex::MatchData> match_data_;
  };

  // Appends the non-empty pieces of `text` (valid UTF-8) to `out`, in order; they
  // concatenate to `text`.
  void split(std::string_view text, Scratch& scratch, std::vector<std::string_view>& out) const;

  size_t num_steps() const { return steps_.size(); }

 private:
  void split_step(size_t step, std::string_view piece, Scratch& scratch,
                  std::vector<std::string_view>& out) const;

  std::vector<Regex> steps_;
};

}  // namespace dsv3
