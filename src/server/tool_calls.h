// DeepSeek's tool-call markup in generated text, turned into OpenAI tool_calls. V3 writes
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME
//   ```json
//   ARGS
//   ```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>
// (as its chat template renders earlier calls); V3.1 drops the type and the code fence:
//   <｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>
// Both are read. Text arrives token by token, so a possible marker prefix is held back.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsv3::server {

struct ToolCall {
  std::string name;
  std::string arguments;  // JSON text as the model wrote it (trimmed)
};

class ToolCallParser {
 public:
  struct Step {
    std::string content;          // ordinary text, safe to show now
    std::vector<ToolCall> calls;  // calls completed by this piece of text
  };
  Step feed(std::string_view text);
  // End of generation: what is held back. An unfinished call that still names a function
  // (the generation hit its token limit inside the arguments) is returned as a call; other
  // unfinished markup comes back as content.
  Step flush();

 private:
  enum class State { kContent, kCalls };
  void scan(Step& out, bool final);
  State state_ = State::kContent;
  std::string pending_;
};

// The whole text at once.
ToolCallParser::Step parse_tool_calls(std::string_view text);

}  // namespace dsv3::server
