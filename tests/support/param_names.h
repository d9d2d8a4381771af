// Readable names for parameterised tests: `Cases/GoldenTest.PrefillMatches/v3_tiny` instead
// of `/0`, so a failure or a --gtest_filter names the case itself. gtest allows only letters,
// digits and '_' in a name.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace dsv3::testing {

// "v3-tiny" -> "v3_tiny": every character gtest refuses in a name becomes '_'.
inline std::string test_name_of(std::string_view text) {
  std::string name(text);
  for (char& ch : name) {
    const bool allowed = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                         (ch >= '0' && ch <= '9') || ch == '_';
    if (!allowed) ch = '_';
  }
  return name;
}

// The name generator of suites whose parameter is a golden case name ("v3-tiny").
inline std::string golden_case_test_name(const ::testing::TestParamInfo<const char*>& info) {
  return test_name_of(info.param);
}

}  // namespace dsv3::testing
