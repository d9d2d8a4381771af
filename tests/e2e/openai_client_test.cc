// End to end: `dsv3 serve` as a user starts it, driven by the official openai npm client
// (tests/e2e/node/openai_client.mjs). The client is the version pinned by
// tests/e2e/node/package-lock.json, installed there by `npm ci` (scripts/test.sh does it);
// the test never installs anything itself, and fails when node or the client is missing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>

#include "server/harness.h"

namespace dsv3::testing {
namespace {

namespace fs = std::filesystem;

struct Shell {
  int exit_code;
  std::string output;  // stdout and stderr
};

Shell shell(const std::string& command) {
  Shell r{-1, ""};
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// `dsv3 serve` in a child process; the port is read from the line it prints when listening.
class ServeProcess {
 public:
  explicit ServeProcess(const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDERR_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      std::string binary = DSV3_BINARY;
      argv.push_back(binary.data());
      std::vector<std::string> copy = args;
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    err_fd_ = fds[0];
    const std::regex listening(R"(http://127\.0\.0\.1:(\d+))");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (port_ < 0 && std::chrono::steady_clock::now() < deadline) {
      pollfd p{err_fd_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[1024];
      const ssize_t n = ::read(err_fd_, buf, sizeof buf);
      if (n <= 0) break;  // exited
      log_.append(buf, size_t(n));
      std::smatch m;
      if (std::regex_search(log_, m, listening)) port_ = std::stoi(m[1]);
    }
  }
  ~ServeProcess() {
    if (pid_ > 0 && !waited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (err_fd_ >= 0) ::close(err_fd_);
  }
  int port() const { return port_; }
  const std::string& log() const { return log_; }
  // SIGTERM, then the exit status (-1 if it did not exit by itself within 20 s).
  int terminate() {
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        waited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int err_fd_ = -1;
  int port_ = -1;
  bool waited_ = false;
  std::string log_;
};

TEST(OpenAiNpmClient, ChatStreamsToolsAndConcurrency) {
  const fs::path client_dir = fs::path(DSV3_SOURCE_DIR) / "tests" / "e2e" / "node";
  ASSERT_EQ(shell("command -v node").exit_code, 0)
      << "node is needed for the openai client test (Debian: apt-get install nodejs npm)";
  ASSERT_TRUE(fs::exists(client_dir / "node_modules" / "openai" / "package.json"))
      << "the openai npm client is not installed: run `npm ci --prefix " << client_dir.string()
      << "` (scripts/test.sh does)";

  ServeProcess serve({"serve", "--model", test_data_dir() + "/golden/v3-tiny/checkpoint",
                      "--tokenizer", tiny_tokenizer_dir(), "--model-name", "tiny", "--port", "0",
                      "--ctx", "512", "--parallel", "4", "--queue", "32", "--api-key", "e2e-key",
                      "--no-log"});
  ASSERT_GT(serve.port(), 0) << serve.log();
  const std::string env = "OPENAI_BASE_URL=http://127.0.0.1:" + std::to_string(serve.port()) +
                          "/v1 OPENAI_API_KEY=e2e-key DSV3_MODEL=tiny";
  const Shell node =
      shell("cd '" + client_dir.string() + "' && " + env + " timeout 300 node openai_client.mjs");
  EXPECT_EQ(node.exit_code, 0) << node.output << "\nserver:\n" << serve.log();
  EXPECT_NE(node.output.find("all ok"), std::string::npos) << node.output;
  std::printf("%s", node.output.c_str());
  EXPECT_EQ(serve.terminate(), 0) << "dsv3 serve should stop cleanly on SIGTERM";
}

}  // namespace
}  // namespace dsv3::testing
