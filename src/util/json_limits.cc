#include "util/json_limits.h"

namespace dsv3::json_limits_detail {

std::string size_error(std::string_view what, size_t bytes, size_t limit) {
  return std::string(what) + ": " + std::to_string(bytes) + " bytes, more than the limit of " +
         std::to_string(limit) + " bytes";
}

std::string depth_error(std::string_view what, int limit) {
  return std::string(what) + ": JSON nested more than " + std::to_string(limit) +
         " levels deep (the limit is " + std::to_string(limit) + ")";
}

}  // namespace dsv3::json_limits_detail
