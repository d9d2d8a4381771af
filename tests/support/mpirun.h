// Runs a command as an MPI job of several ranks on this machine, the way ctest needs it:
// more ranks than cores (--oversubscribe), as root in CI containers, without ssh or a network
// (local launch, shared-memory transport only), and never longer than a timeout, so that a
// job that hangs fails its test instead of the whole suite.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include "cli/run_dsv3.h"

namespace dsv3::testing {

// exit_code 124: the timeout ended it.
using MpiRunResult = RunResult;

// The launcher and the flags that make a one-machine job work in containers:
//  --oversubscribe        more ranks than cores (CI has 2);
//  --bind-to none         ranks are not pinned to one core each;
//  --mca plm isolated     local launch only: no ssh/rsh agent needed;
//  --mca pml ob1, --mca btl self,vader   shared memory only: no network interfaces probed;
//  btl_vader_single_copy_mechanism none  no cross-process memory access (ptrace) needed.
// Running as root (CI containers) is allowed through Open MPI's two environment variables.
// Under the asan preset, LeakSanitizer would fail every rank on Open MPI's own allocations
// that it never frees (hwloc, op tables): leak checking is off for MPI jobs, the rest of
// AddressSanitizer stays on.
// Open MPI keeps each job's session files under <base>/ompi.<host>.<uid>/ and removes that
// folder when a job ends; with the default base (/tmp) shared by every job, one test's job
// could remove it while another's was creating its own subfolder ("orte_session_dir failed"
// under ctest -j). Each test process therefore gives its jobs a base of their own.
class MpiSessionBase {
 public:
  MpiSessionBase() {
    char name[] = "/tmp/dsv3-mpi-XXXXXX";
    if (::mkdtemp(name)) path_ = name;
  }
  ~MpiSessionBase() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string mpirun_prefix(int ranks) {
  static const MpiSessionBase session_base;
  const std::string base = session_base.path().empty()
                               ? std::string()
                               : "OMPI_MCA_orte_tmpdir_base=" + session_base.path() + " ";
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0 " +
         base + DSV3_MPIEXEC + " -np " + std::to_string(ranks) +
         " --oversubscribe --bind-to none --mca plm isolated --mca pml ob1"
         " --mca btl self,vader --mca btl_vader_single_copy_mechanism none";
}

// `command` (a program and its arguments, shell syntax) as `ranks` ranks, ended after
// `timeout_s` seconds; stdout and stderr of every rank captured.
inline MpiRunResult run_mpi(int ranks, const std::string& command, int timeout_s = 120,
                            const std::string& stdin_text = "") {
  return run_command("timeout -k 10 " + std::to_string(timeout_s) + " env " +
                         mpirun_prefix(ranks) + " " + command,
                     stdin_text);
}

// The running test binary, to start as the ranks of a job (its MultiRank* suites).
inline std::string self_exe() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

// `dsv3 <args>` as an MPI job.
inline MpiRunResult run_dsv3_mpi(int ranks, const std::string& args, int timeout_s = 120,
                                 const std::string& stdin_text = "") {
  return run_mpi(ranks, std::string(DSV3_BINARY) + " " + args, timeout_s, stdin_text);
}

}  // namespace dsv3::testing
