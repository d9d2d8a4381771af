#include "server/tool_calls.h"

#include <algorithm>

namespace dsv3::server {

namespace {

constexpr std::string_view kCallsBegin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view kCallsEnd = "<｜tool▁calls▁end｜>";
constexpr std::string_view kCallBegin = "<｜tool▁call▁begin｜>";
constexpr std::string_view kCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kSep = "<｜tool▁sep｜>";
constexpr std::string_view kSpace = " \t\r\n";

// Length of the longest suffix of s that is a proper prefix of tag.
size_t partial_suffix(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

std::string_view trim(std::string_view s) {
  const size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

// The text between <｜tool▁call▁begin｜> and <｜tool▁call▁end｜>. `unfinished`: the generation
// stopped inside the call, so the closing fence may be missing.
bool parse_call(std::string_view body, bool unfinished, ToolCall& out) {
  if (unfinished) body.remove_suffix(partial_suffix(body, kCallEnd));
  const size_t sep = body.find(kSep);
  if (sep == std::string_view::npos) return false;
  const std::string_view left = trim(body.substr(0, sep));
  const std::string_view right = body.substr(sep + kSep.size());
  const size_t newline = right.find('\n');
  const std::string_view after_name =
      newline == std::string_view::npos ? std::string_view() : trim(right.substr(newline + 1));
  if (after_name.starts_with("```")) {  // V3: TYPE<sep>NAME\n```json\nARGS\n```
    out.name = std::string(trim(right.substr(0, newline)));
    const size_t line_end = after_name.find('\n');
    std::string_view args =
        line_end == std::string_view::npos ? std::string_view() : after_name.substr(line_end + 1);
    const size_t close = args.rfind("```");
    if (close != std::string_view::npos) {
      args = args.substr(0, close);
    } else if (!unfinished) {
      return false;
    }
    out.arguments = std::string(trim(args));
  } else {  // V3.1: NAME<sep>ARGS
    out.name = std::string(left);
    out.arguments = std::string(trim(right));
  }
  if (out.arguments.empty()) out.arguments = "{}";
  return !out.name.empty();
}

}  // namespace

void ToolCallParser::scan(Step& out, bool final) {
  for (;;) {
    if (state_ == State::kContent) {
      const size_t calls = pending_.find(kCallsBegin), call = pending_.find(kCallBegin);
      const size_t at = std::min(calls, call);
      if (at == std::string::npos) {
        const size_t hold = final ? 0
                                  : std::max(partial_suffix(pending_, kCallsBegin),
                                             partial_suffix(pending_, kCallBegin));
        out.content.append(pending_, 0, pending_.size() - hold);
        pending_.erase(0, pending_.size() - hold);
        return;
      }
      out.content.append(pending_, 0, at);
      // A bare <｜tool▁call▁begin｜> (no list marker) stays, to be read as the first call.
      pending_.erase(0, at + (at == calls ? kCallsBegin.size() : 0));
      state_ = State::kCalls;
      continue;
    }
    // Between calls: whitespace, then a call, the end of the list, or something else.
    const size_t skip = std::min(pending_.find_first_not_of(kSpace), pending_.size());
    const std::string_view rest = std::string_view(pending_).substr(skip);
    if (rest.starts_with(kCallsEnd)) {
      pending_.erase(0, skip + kCallsEnd.size());
      state_ = State::kContent;
      continue;
    }
    if (rest.starts_with(kCallBegin)) {
      const size_t end = rest.find(kCallEnd);
      ToolCall call;
      if (end == std::string_view::npos) {
        if (!final) return;  // the call is still being written
        if (parse_call(rest.substr(kCallBegin.size()), /*unfinished=*/true, call)) {
          out.calls.push_back(std::move(call));
        } else {
          out.content += rest;
        }
        pending_.clear();
        return;
      }
      if (parse_call(rest.substr(kCallBegin.size(), end - kCallBegin.size()), false, call)) {
        out.calls.push_back(std::move(call));
      } else {
        out.content += rest.substr(0, end + kCallEnd.size());
      }
      pending_.erase(0, skip + end + kCallEnd.size());
      continue;
    }
    if (rest.empty() && final) {
      pending_.clear();
      return;
    }
    if (!final && (kCallsEnd.starts_with(rest) || kCallBegin.starts_with(rest))) return;
    state_ = State::kContent;  // not markup after all: ordinary text again
  }
}

ToolCallParser::Step ToolCallParser::feed(std::string_view text) {
  pending_ += text;
  Step out;
  scan(out, /*final=*/false);
  return out;
}

ToolCallParser::Step ToolCallParser::flush() {
  Step out;
  scan(out, /*final=*/true);
  state_ = State::kContent;
  return out;
}

ToolCallParser::Step parse_tool_calls(std::string_view text) {
  ToolCallParser parser;
  ToolCallParser::Step out = parser.feed(text);
  ToolCallParser::Step tail = parser.flush();
  out.content += tail.content;
  for (auto& c : tail.calls) out.calls.push_back(std::move(c));
  return out;
}

std::optional<std::string> forced_call_prefix(std::string_view example, std::string_view probe_name,
                                              std::string_view name) {
  const size_t calls = example.find(kCallsBegin);
  const size_t call = example.find(kCallBegin, calls == std::string_view::npos ? 0 : calls);
  if (call == std::string_view::npos) return std::nullopt;
  const size_t start = calls == std::string_view::npos ? call : calls;
  if (name.empty()) return std::string(example.substr(start, call + kCallBegin.size() - start));
  const size_t named = example.find(probe_name, call);
  const size_t args = named == std::string_view::npos ? named : example.find("{}", named);
  if (args == std::string_view::npos) return std::nullopt;
  std::string prefix(example.substr(start, named - start));
  prefix += name;
  prefix += example.substr(named + probe_name.size(), args - named - probe_name.size());
  return prefix;
}

std::optional<CallMarkup> call_markup(std::string_view example, std::string_view probe_name) {
  const size_t call = example.find(kCallBegin);
  if (call == std::string_view::npos) return std::nullopt;
  const size_t after_marker = call + kCallBegin.size();
  const size_t named = example.find(probe_name, after_marker);
  const size_t args = named == std::string_view::npos ? named : example.find("{}", named);
  if (args == std::string_view::npos) return std::nullopt;
  CallMarkup m{.marker = std::string(kCallBegin),
               .before_name = std::string(example.substr(after_marker, named - after_marker)),
               .after_name = std::string(example.substr(named + probe_name.size(),
                                                        args - named - probe_name.size()))};
  const size_t end = example.find(kCallEnd, args);
  if (end != std::string_view::npos) {
    m.closing = std::string(example.substr(args + 2, end + kCallEnd.size() - args - 2));
  }
  return m;
}

}  // namespace dsv3::server
