#include "server/api_error.h"

namespace dsv3::server {

nlohmann::ordered_json ApiError::to_json() const {
  using nlohmann::ordered_json;
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? ordered_json() : ordered_json(param)},
            {"code", code.empty() ? ordered_json() : ordered_json(code)}}}};
}

ApiError invalid_param(std::string param, std::string message, std::string code) {
  return ApiError{.status = 400,
                  .message = std::move(message),
                  .param = std::move(param),
                  .code = std::move(code)};
}

std::string dump_json(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace dsv3::server
