// Runs the dsv3 binary like a user would and captures what it printed.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace dsv3::testing {

struct RunResult {
  int exit_code;
  std::string out, err;
};

// A shell command line with `stdin_text` piped in; its stdout and stderr captured.
inline RunResult run_command(const std::string& command, const std::string& stdin_text = "") {
  namespace fs = std::filesystem;
  static int serial = 0;
  const fs::path dir = fs::temp_directory_path() /
                       ("dsv3_cli_" + std::to_string(::getpid()) + "_" + std::to_string(serial++));
  fs::create_directories(dir);
  const std::string in = (dir / "in").string(), out = (dir / "out").string(),
                    err = (dir / "err").string();
  std::ofstream(in) << stdin_text;
  const int status = std::system((command + " <" + in + " >" + out + " 2>" + err).c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  RunResult r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  fs::remove_all(dir);
  return r;
}

// `dsv3 <args>` through the shell with `stdin_text` piped in.
inline RunResult run_dsv3(const std::string& args, const std::string& stdin_text = "") {
  return run_command(std::string(DSV3_BINARY) + " " + args, stdin_text);
}

}  // namespace dsv3::testing
