// Checks a parsed JSON value against a schema of the subset compile_json_schema accepts,
// directly from the schema's JSON (not through the grammar), so that tests can hold the
// constrained output against an independent reading of the schema.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace dsv3::structured {

// Empty when `value` satisfies `schema`; else what failed and where (a JSON pointer).
std::string schema_violation(const nlohmann::ordered_json& value, const nlohmann::ordered_json& schema);

}  // namespace dsv3::structured
