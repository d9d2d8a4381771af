#include "tokenizer/pretokenize.h"

#include "tokenizer/utf8.h"

namespace dsv3 {

PreTokenizer::Scratch::Scratch(const PreTokenizer& pre) {
  match_data_.reserve(pre.steps_.size());
  for (const Regex& re : pre.steps_) match_data_.emplace_back(re);
}

void PreTokenizer::split(std::string_view text, Scratch& scratch,
                         std::vector<std::string_view>& out) const {
  if (!text.empty()) split_step(0, text, scratch, out);
}

// Depth-first over the steps, so no step needs a temporary list of pieces.
void PreTokenizer::split_step(size_t step, std::string_view piece, Scratch& scratch,
                              std::vector<std::string_view>& out) const {
  if (step == steps_.size()) {
    out.push_back(piece);
    return;
  }
  const Regex& re = steps_[step];
  Regex::MatchData& md = scratch.match_data_[step];
  size_t prev = 0;  // end of the last piece handed on
  size_t from = 0;  // where the next search starts
  RegexMatch m;
  while (from <= piece.size() && re.find(piece, from, md, m)) {
    if (m.start > prev) split_step(step + 1, piece.substr(prev, m.start - prev), scratch, out);
    if (m.end > m.start) {
      split_step(step + 1, piece.substr(m.start, m.end - m.start), scratch, out);
      from = m.end;
    } else {
      // An empty match still ends the text before it (as in HF's find_matches); search on
      // from the next character so the loop advances.
      if (m.end == piece.size()) break;
      from = m.end + utf8_step(piece.substr(m.end)).length;
    }
    prev = m.end;
  }
  if (prev < piece.size()) split_step(step + 1, piece.substr(prev), scratch, out);
}

}  // namespace dsv3
