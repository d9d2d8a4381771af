// Load: 32 concurrent streaming clients for 30 seconds, some hanging up mid-stream. Every
// stream that completes must be valid, nothing may answer 5xx, the server must not crash,
// and its resident memory must stay flat once warm.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <random>

#include "server/harness.h"

namespace dsv3::testing {
namespace {

int64_t resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::stoll(line.substr(6));
  }
  return -1;
}

// A streamed chat answer is valid when every chunk has the chat chunk shape, the first
// carries the role, exactly one (the last) carries a finish_reason, and [DONE] ends it.
std::string stream_problem(const SseReply& s) {
  if (s.status != 200) return "status " + std::to_string(s.status) + " " + s.error;
  if (!s.well_formed) return "malformed events";
  if (!s.done) return "no [DONE]";
  if (s.chunks.empty()) return "no chunks";
  if (s.chunks[0]["choices"][0]["delta"]["role"] != "assistant") return "no role first";
  for (size_t i = 0; i < s.chunks.size(); ++i) {
    const json& c = s.chunks[i];
    if (c["object"] != "chat.completion.chunk" || !c["choices"].is_array() ||
        c["choices"].size() != 1) {
      return "bad chunk " + c.dump();
    }
    const bool last = i + 1 == s.chunks.size();
    if (c["choices"][0]["finish_reason"].is_null() == last)
      return "finish_reason on the wrong chunk";
  }
  return "";
}

TEST(Load, ThirtyTwoStreamingClientsWithDisconnects) {
  auto options = test_options();
  options.scheduler.parallel = 8;
  options.scheduler.max_queue = 64;
  RunningServer server(options);
  constexpr int kClients = 32;
  constexpr auto kDuration = std::chrono::seconds(30);
  constexpr auto kWarmUp = std::chrono::seconds(5);

  std::atomic<int64_t> completed{0}, hung_up{0}, invalid{0}, server_errors{0}, other{0};
  std::atomic<bool> stop{false};
  std::mutex problem_mu;
  std::string first_problem;
  std::vector<std::thread> clients;
  for (int id = 0; id < kClients; ++id) {
    clients.emplace_back([&, id] {
      std::mt19937 rng(id);
      auto c = server.client();
      while (!stop.load()) {
        json body =
            chat_body("client " + std::to_string(id) + " request " + std::to_string(rng() % 1000),
                      int(8 + rng() % 48), rng());
        body["stream"] = true;
        const bool leave = rng() % 4 == 0;
        const size_t leave_after = 1 + rng() % 6;
        const SseReply s = post_stream(c, "/v1/chat/completions", body, [&](size_t chunks) {
          return !(leave && chunks >= leave_after);
        });
        if (s.status >= 500) {
          ++server_errors;
        } else if (leave && !s.done) {
          ++hung_up;
        } else if (const std::string p = stream_problem(s); !p.empty()) {
          ++(s.status == 200 ? invalid : other);
          std::lock_guard lock(problem_mu);
          if (first_problem.empty()) first_problem = p + "\n" + s.raw.substr(0, 2000);
        } else {
          ++completed;
        }
      }
    });
  }
  std::this_thread::sleep_for(kWarmUp);
  const int64_t rss_warm = resident_kib();
  std::this_thread::sleep_for(kDuration - kWarmUp);
  stop = true;
  for (auto& t : clients) t.join();
  const int64_t rss_end = resident_kib();
  // Sequences of clients that hung up last are freed at their next (failing) write.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server.server().scheduler().stats().running > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  EXPECT_EQ(server_errors.load(), 0);
  EXPECT_EQ(invalid.load(), 0) << first_problem;
  EXPECT_EQ(other.load(), 0) << first_problem;
  EXPECT_GT(completed.load(), kClients);
  EXPECT_GT(hung_up.load(), 0);
  const auto stats = server.server().scheduler().stats();
  EXPECT_GT(stats.requests_cancelled, 0);
  EXPECT_EQ(stats.running, 0);
  EXPECT_EQ(stats.queued, 0);
  // Caches and arenas are allocated up front; growth past warm-up would be a leak. (Under
  // AddressSanitizer freed memory sits in a quarantine of up to 256 MiB first.)
#ifdef __SANITIZE_ADDRESS__
  constexpr int64_t kGrowthKiB = 512 * 1024;
#else
  constexpr int64_t kGrowthKiB = 64 * 1024;
#endif
  EXPECT_LT(rss_end - rss_warm, kGrowthKiB)
      << "VmRSS " << rss_warm << " KiB -> " << rss_end << " KiB";
  std::printf(
      "load: %ld completed, %ld hung up, %ld generated tokens in %ld steps, VmRSS %ld -> %ld KiB\n",
      long(completed.load()), long(hung_up.load()), long(stats.generated_tokens), long(stats.steps),
      long(rss_warm), long(rss_end));
}

}  // namespace
}  // namespace dsv3::testing
