// Where in a generation a JSON grammar applies. A response_format constrains the whole
// output, unless the model reasons first (R1, V3.1 thinking): then the reasoning is free and
// the answer after </think> is the document. Tool calls are lazy: the text is free until the
// model opens a call (the template's call marker), then it must write one of the offered
// functions' call openings (DeepSeek-V3: `function<｜tool▁sep｜>NAME\n```json\n`), a strict
// function's arguments follow its `parameters` schema and are closed as the template closes
// them (`\n```<｜tool▁call▁end｜>`); after that the text is free again (more calls, the end).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "structured/token_mask.h"
#include "util/result.h"

namespace dsv3::structured {

class OutputConstraint {
 public:
  struct Call {
    std::string opening;  // the text between the call marker and the arguments
    std::shared_ptr<const CompiledConstraint> arguments;  // null: not strict, arguments free
    std::string closing;  // strict: the text that must follow the arguments (may be empty)
  };
  struct Options {
    std::shared_ptr<const TokenTrie> trie;
    // Non-empty: the output starts inside the reasoning, free until this text ("</think>").
    std::string reasoning_end;
    // The answer (after the reasoning, else the whole output) is one document of this grammar,
    // then EOS. Exclusive with `calls`.
    std::shared_ptr<const CompiledConstraint> answer;
    // Tool calls: free text until `call_marker`, then one of `calls`' openings.
    std::string call_marker;
    std::vector<Call> calls;
    bool call_opened = false;   // the prompt ends with the marker (a required call)
    bool require_call = false;  // EOS only once a call has been written
  };
  // Refuses options that cannot work (no trie, an answer and calls both, an opening that is a
  // prefix of another, an empty marker or opening), naming what is wrong.
  static Result<std::shared_ptr<const OutputConstraint>> make(Options options);
  // The whole output is one document (response_format without reasoning).
  static std::shared_ptr<const OutputConstraint> whole(std::shared_ptr<const CompiledConstraint> answer);
  // The vocabulary a compiled grammar masks, kept alive by it.
  static std::shared_ptr<const TokenTrie> trie_of(const std::shared_ptr<const CompiledConstraint>& c) {
    return std::shared_ptr<const TokenTrie>(c, &c->trie());
  }

  const Options& options() const { return o_; }
  const TokenTrie& trie() const { return *o_.trie; }
  // Usable tokens that hold `trigger` and go on past it: in free text they end the phase and
  // must be accepted by the next one.
  const std::vector<int32_t>& holding(const std::string& trigger) const {
    return trigger == o_.reasoning_end ? holding_reasoning_end_ : holding_call_marker_;
  }
  const std::vector<int32_t>& whitespace_tokens() const { return whitespace_tokens_; }

 private:
  explicit OutputConstraint(Options o) : o_(std::move(o)) {}
  Options o_;
  std::vector<int32_t> holding_reasoning_end_, holding_call_marker_, whitespace_tokens_;
};

}  // namespace dsv3::structured
