// DeepSeek's tool-call markup in generated text, turned into OpenAI tool_calls. V3 writes
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME
//   ```json
//   ARGS
//   ```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>
// (as its chat template renders earlier calls); V3.1 drops the type and the code fence:
//   <｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>
// Both are read. Text arrives token by token, so a possible marker prefix is held back.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsv3::server {

// The markup an answer starts with to call a tool (tool_choice "required" or a named
// function), written the way the model's chat template writes earlier calls. `example` is the
// template's rendering of an assistant turn that calls `probe_name` with arguments "{}".
// `name` empty: everything up to and including the first call's begin marker (the model then
// picks the function); else through `name` and whatever the template puts before the
// arguments. Nullopt when the example holds no call markup.
std::optional<std::string> forced_call_prefix(std::string_view example, std::string_view probe_name,
                                              std::string_view name);

// How the chat template writes one call, read from the same kind of example: the marker that
// opens every call, and the text between it and the arguments around the function's name
// (V3: "function<｜tool▁sep｜>" NAME "\n```json\n"), then what follows the arguments up to
// the end of the call (V3: "\n```<｜tool▁call▁end｜>"). What lazy constraints of strict
// functions watch for. Nullopt when the example holds no call markup.
struct CallMarkup {
  std::string marker;
  std::string before_name, after_name;
  std::string closing;
  std::string opening(std::string_view name) const {
    return before_name + std::string(name) + after_name;
  }
};
std::optional<CallMarkup> call_markup(std::string_view example, std::string_view probe_name);

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
