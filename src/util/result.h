// Result<T>: a value or an error message for everything that comes from outside the program.
// The message names the file / tensor / field, what was found and what was expected.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "util/check.h"

namespace dsv3 {

struct Error {
  std::string message;
};

// Builds an Error from pieces: Err("file ", path, ": expected ", n, " bytes").
template <typename... Parts>
Error Err(const Parts&... parts) {
  std::string s;
  auto append = [&s](const auto& p) {
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(p)>>) {
      s += std::to_string(p);
    } else {
      s += p;
    }
  };
  (append(parts), ...);
  return Error{std::move(s)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    DSV3_CHECK(ok(), "value() of an error Result: %s", error().message.c_str());
    return std::get<0>(v_);
  }
  T&& value() && {
    DSV3_CHECK(ok(), "value() of an error Result: %s", error().message.c_str());
    return std::get<0>(std::move(v_));
  }
  const T& value() const& {
    DSV3_CHECK(ok(), "value() of an error Result: %s", error().message.c_str());
    return std::get<0>(v_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an error.
struct Ok {};
using Status = Result<Ok>;
inline Status OkStatus() { return Ok{}; }

}  // namespace dsv3

// Propagates an error from an expression yielding Result/Status; binds the value otherwise.
#define DSV3_CONCAT_INNER(a, b) a##b
#define DSV3_CONCAT(a, b) DSV3_CONCAT_INNER(a, b)
#define DSV3_TRY(expr)                                        \
  do {                                                        \
    auto&& dsv3_try_result = (expr);                          \
    if (!dsv3_try_result.ok()) return dsv3_try_result.error(); \
  } while (0)
#define DSV3_ASSIGN_OR_RETURN(lhs, expr) \
  DSV3_ASSIGN_OR_RETURN_IMPL(DSV3_CONCAT(dsv3_result_, __LINE__), lhs, expr)
#define DSV3_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.error();               \
  lhs = std::move(tmp).value()
