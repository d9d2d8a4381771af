// Starts MPI around all the tests of a binary whose tests can also run as the ranks of an MPI
// job (its MpiJob.* tests start the binary itself under mpirun; see tests/CMakeLists.txt on
// the MultiRank* suites). Run alone, the binary is a group of one and MPI is never started.
// Include it from one source file of the binary.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "dist/communicator.h"

namespace dsv3::testing {

class MpiEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto rt = dist::Runtime::start(nullptr, nullptr);
    ASSERT_TRUE(rt.ok()) << rt.error().message;
    runtime_ = std::move(rt).value();
  }
  void TearDown() override { runtime_.reset(); }

 private:
  std::unique_ptr<dist::Runtime> runtime_;
};

[[maybe_unused]] inline ::testing::Environment* const kMpiEnvironment =
    ::testing::AddGlobalTestEnvironment(new MpiEnvironment);

}  // namespace dsv3::testing
