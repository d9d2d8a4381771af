// A compiled PCRE2 pattern (UTF + UCP, JIT when available) for the pre-tokenizer's Split
// steps, which are written for Oniguruma. See rewrite_onig_pattern for the differences.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "util/result.h"

struct pcre2_real_code_8;
struct pcre2_real_match_data_8;

namespace dsv3 {

// Oniguruma (what HF tokenizers uses) reads \s as the Unicode White_Space property:
// U+0009-000D, U+0020, U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F,
// U+205F, U+3000. PCRE2 10.42 with UCP differs (it also matches U+180E), so every \s and \S
// is rewritten into an explicit class, inside or outside [...]. Other escapes are kept:
// \p{..} categories agree between the two engines.
std::string rewrite_onig_pattern(std::string_view pattern);

// Offsets of one match in the subject, [start, end).
struct RegexMatch {
  size_t start;
  size_t end;
};

class Regex {
 public:
  // Compiles `pattern` (Oniguruma syntax, rewritten as above). The error names the pattern.
  static Result<Regex> compile(std::string_view pattern);

  // Per-thread scratch space for matching; create one per encode call.
  class MatchData {
   public:
    explicit MatchData(const Regex& re);
    pcre2_real_match_data_8* get() const { return data_.get(); }

   private:
    struct Free {
      void operator()(pcre2_real_match_data_8* p) const;
    };
    std::unique_ptr<pcre2_real_match_data_8, Free> data_;
  };

  // Finds the first match in `subject` at or after byte `from` (a character boundary).
  // `subject` must be valid UTF-8: it is not checked again. Returns false when there is
  // none. Lookarounds see all of `subject`, as Oniguruma's find_iter does.
  bool find(std::string_view subject, size_t from, MatchData& md, RegexMatch& m) const;

 private:
  struct Free {
    void operator()(pcre2_real_code_8* p) const;
  };
  std::unique_ptr<pcre2_real_code_8, Free> code_;
  bool jit_ = false;
};

}  // namespace dsv3
