// What the HTTP API answers when a request cannot be served, in OpenAI's shape:
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "top_p", "code": null}}
// ApiResult<T> carries either a parsed value or such an error (requests come from outside, so
// every problem with them is an ApiError, never a check failure).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>

#include "util/check.h"

namespace dsv3::server {

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the request field at fault; "" is sent as null
  std::string code;   // machine-readable reason; "" is sent as null

  nlohmann::ordered_json to_json() const;
};

// 400 invalid_request_error about `param`.
ApiError invalid_param(std::string param, std::string message, std::string code = "");

// JSON text that is always valid UTF-8: strings from outside (model output, echoed request
// text in messages) may hold invalid bytes, which become U+FFFD instead of throwing.
std::string dump_json(const nlohmann::ordered_json& j);

template <typename T>
class [[nodiscard]] ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}
  ApiResult(ApiError error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  T& value() & {
    DSV3_CHECK(ok(), "value() of an error ApiResult: %s", error().message.c_str());
    return std::get<0>(v_);
  }
  T&& value() && {
    DSV3_CHECK(ok(), "value() of an error ApiResult: %s", error().message.c_str());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  T& operator*() & { return value(); }
  const ApiError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

}  // namespace dsv3::server
