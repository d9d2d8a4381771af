// Parsing JSON that comes from outside (request bodies, message files, checkpoint headers)
// with limits on its size and nesting depth.
//
// nlohmann's parser is iterative, but almost everything done with the result afterwards is
// recursive: copying a value, dump(), comparison, conversions into other types (the chat
// template's values), schema walks. A body of 40 KB nested 20,000 deep overflows the stack
// in any of them, so depth is refused at the door, where the error can name the limit.
//
//   DSV3_ASSIGN_OR_RETURN(nlohmann::ordered_json j,
//                         parse_json_bounded<nlohmann::ordered_json>(text, {}, "config.json"));
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace dsv3 {

struct JsonLimits {
  // Deeper than any real document (OpenAI tool schemas, HF configs are < 20 levels) and far
  // below what the recursive walks above can take on an 8 MB stack (tens of thousands).
  int max_depth = 512;
  size_t max_bytes = size_t(64) << 20;
};

namespace json_limits_detail {
// Thrown from inside nlohmann's parser callback to stop parsing; never escapes this header.
struct TooDeep {};
std::string size_error(std::string_view what, size_t bytes, size_t limit);
std::string depth_error(std::string_view what, int limit);
}  // namespace json_limits_detail

// Parses `text` as one JSON document. Errors name `what` (a file name, "the request body"),
// then the parser's message, or the limit that was exceeded.
template <typename Json = nlohmann::ordered_json>
Result<Json> parse_json_bounded(std::string_view text, const JsonLimits& limits = {},
                                std::string_view what = "JSON") {
  namespace d = json_limits_detail;
  if (text.size() > limits.max_bytes) return Error{d::size_error(what, text.size(), limits.max_bytes)};
  // The callback's depth counts the containers already open around the event's value.
  const int max_depth = limits.max_depth;
  auto callback = [max_depth](int depth, typename Json::parse_event_t event, Json&) {
    if ((event == Json::parse_event_t::object_start ||
         event == Json::parse_event_t::array_start) &&
        depth + 1 > max_depth) {
      throw d::TooDeep{};
    }
    return true;
  };
  try {
    return Json::parse(text, callback);
  } catch (const d::TooDeep&) {
    return Error{d::depth_error(what, max_depth)};
  } catch (const typename Json::exception& e) {
    return Err(what, ": not valid JSON: ", e.what());
  }
}

// Whether a value already in memory nests deeper than `max_depth` (a scalar is depth 0, [] 1).
// Walks with an explicit stack, so it is safe on any value; for values that did not come
// through parse_json_bounded (built by library callers).
template <typename Json>
bool json_deeper_than(const Json& value, int max_depth) {
  std::vector<std::pair<const Json*, int>> pending{{&value, 0}};
  while (!pending.empty()) {
    auto [v, depth] = pending.back();
    pending.pop_back();
    if (!v->is_structured()) continue;
    if (depth + 1 > max_depth) return true;
    for (const auto& child : *v) pending.emplace_back(&child, depth + 1);
  }
  return false;
}

}  // namespace dsv3
