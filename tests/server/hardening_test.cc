// A hostile client against the server over real loopback connections: deeply nested JSON,
// slow clients (slowloris), authentication edge cases, HTTP/1.0 and pipelined requests.
// Each case used to crash, starve or confuse the server.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "server/harness.h"
#include "server/raw_socket.h"
#include "support/hang_bound.h"

namespace dsv3::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

size_t count_of(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t pos = text.find(part); pos != std::string::npos; pos = text.find(part, pos + 1)) ++n;
  return n;
}

TEST(Hardening, DeeplyNestedToolSchemaIsA400NotACrash) {
  RunningServer server;
  auto c = server.client();
  // 40 KB nested 20,000 deep used to overflow the stack of the server (SIGSEGV).
  const std::string deep = std::string(20000, '[') + std::string(20000, ']');
  const std::string body =
      R"({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": )"
      R"("function", "function": {"name": "f", "parameters": )" +
      deep + "}}]}";
  JsonReply r = post_json(c, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(r.body["error"]["code"], "invalid_json");
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("more than 512 levels deep"),
            std::string::npos)
      << r.raw;
  // Anywhere in the body, for either endpoint.
  r = post_json(c, "/v1/completions",
                R"({"model": "tiny", "prompt": "x", "stop": )" + deep + "}");
  EXPECT_EQ(r.status, 400) << r.raw;
  // Just under the limit is parsed (and refused for what it is, not for its depth).
  const std::string ok_deep = std::string(500, '[') + std::string(500, ']');
  r = post_json(c, "/v1/completions", R"({"model": "tiny", "prompt": "x", "stop": )" + ok_deep + "}");
  EXPECT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(r.body["error"]["param"], "stop") << r.raw;
  EXPECT_EQ(get_json(c, "/health").status, 200);
}

// A copy of the tiny tokenizer whose chat template is `source`.
std::string tokenizer_with_template(const std::string& name, const std::string& source) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(fs::path(tiny_tokenizer_dir()) / "tokenizer.json", dir / "tokenizer.json",
                fs::copy_options::overwrite_existing);
  std::ifstream in(fs::path(tiny_tokenizer_dir()) / "tokenizer_config.json");
  json config = json::parse(in);
  config["chat_template"] = source;
  std::ofstream(dir / "tokenizer_config.json") << config.dump();
  return dir.string();
}

TEST(Hardening, ARunawayChatTemplateIsTheServersError) {
  // 64 MB of output long before 10^10 steps: the render stops at the output limit.
  const std::string dir = tokenizer_with_template(
      "dsv3_runaway_tmpl",
      "{% for i in range(100000) %}{% for j in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"
      "{% endfor %}");
  auto model = TextModel::load(test_data_dir() + "/golden/v3-tiny/checkpoint", dir,
                               ModelOptions{.max_positions = kTestContext});
  ASSERT_TRUE(model.ok()) << model.error().message;
  RunningServer server(test_options(), **model);
  auto c = server.client();
  const auto start = Clock::now();
  const JsonReply r = post_json(c, "/v1/chat/completions", chat_body("hi", 4));
  EXPECT_EQ(r.status, 500) << r.raw;
  EXPECT_EQ(r.body["error"]["code"], "chat_template_error") << r.raw;
  EXPECT_NE(r.raw.find("limit of 67108864 bytes"), std::string::npos) << r.raw;
  EXPECT_LT(Clock::now() - start, hang_bound(20));
  std::filesystem::remove_all(dir);
}

// ---- slow clients ----

TEST(Hardening, RequestsAreServedWhile100SlowClientsDribble) {
  server::ServerOptions o = test_options();
  o.request_timeout_ms = 60000;  // the slow clients stay for the whole test
  RunningServer server(o);
  std::vector<std::unique_ptr<RawSocket>> slow;
  for (int i = 0; i < 100; ++i) {
    slow.push_back(std::make_unique<RawSocket>(server.port()));
    ASSERT_TRUE(slow.back()->connected());
  }
  // Each sends a request head one byte at a time, never finishing it.
  std::atomic<bool> stop{false};
  std::thread dribble([&] {
    const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: slow\r\nX-Pad: ";
    for (size_t i = 0; !stop; ++i) {
      for (auto& s : slow) s->send(std::string(1, i < head.size() ? head[i] : 'a'));
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  std::this_thread::sleep_for(milliseconds(500));  // every slow connection is being read
  const auto start = Clock::now();
  httplib::Client c("127.0.0.1", server.port());
  c.set_connection_timeout(10, 0);
  c.set_read_timeout(10, 0);
  const JsonReply health = get_json(c, "/health");
  const JsonReply chat = post_json(c, "/v1/chat/completions", chat_body("hello", 4));
  const auto took = Clock::now() - start;
  stop = true;
  dribble.join();
  EXPECT_EQ(health.status, 200) << health.raw;
  EXPECT_EQ(chat.status, 200) << chat.raw;
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST(Hardening, ARequestMustArriveWholeWithinTheTimeout) {
  server::ServerOptions o = test_options();
  o.request_timeout_ms = 1000;
  RunningServer server(o);
  // A byte every 100 ms keeps a per-recv timeout happy forever; the whole-request one ends it.
  RawSocket s(server.port());
  ASSERT_TRUE(s.connected());
  const auto start = Clock::now();
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: slow\r\nX-Pad: ";
  for (size_t i = 0; Clock::now() - start < std::chrono::seconds(5); ++i) {
    if (!s.send(std::string(1, i < head.size() ? head[i] : 'a'))) break;
    std::this_thread::sleep_for(milliseconds(100));
    if (Clock::now() - start > milliseconds(1300)) break;
  }
  const RawSocket::Received r = s.read_until_closed(milliseconds(3000));
  const auto took = Clock::now() - start;
  EXPECT_TRUE(r.closed);
  EXPECT_NE(r.data.find("HTTP/1.1 408"), std::string::npos) << r.data;
  EXPECT_NE(r.data.find("request_timeout"), std::string::npos) << r.data;
  EXPECT_LT(took, std::chrono::seconds(4));
}

TEST(Hardening, ASlowBodyIsCutOffAtTheTimeout) {
  server::ServerOptions o = test_options();
  o.request_timeout_ms = 1000;
  RunningServer server(o);
  RawSocket s(server.port());
  ASSERT_TRUE(s.connected());
  const auto start = Clock::now();
  // The head and 20 KB of a 100 KB body at once (enough to get a worker), then a trickle.
  ASSERT_TRUE(s.send("POST /v1/completions HTTP/1.1\r\nHost: slow\r\nContent-Type: "
                     "application/json\r\nContent-Length: 100000\r\n\r\n" +
                     std::string(20000, ' ')));
  for (int i = 0; i < 30 && Clock::now() - start < milliseconds(1500); ++i) {
    s.send(" ");
    std::this_thread::sleep_for(milliseconds(100));
  }
  const RawSocket::Received r = s.read_until_closed(milliseconds(3000));
  EXPECT_NE(r.data.find(" 408 "), std::string::npos) << r.data;
  EXPECT_NE(r.data.find("request_timeout"), std::string::npos) << r.data;
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(4));
}

// A declared body over the limit is refused at once, not after waiting for the body until
// the request deadline (the client may never send it).
TEST(Hardening, ContentLengthOverTheLimitIsRefusedAtOnce) {
  RunningServer server;  // request timeout 30 s
  for (const std::string length : {"9000000000", "99999999999999999999"}) {
    RawSocket s(server.port());
    ASSERT_TRUE(s.connected());
    const auto start = Clock::now();
    ASSERT_TRUE(s.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                       length + "\r\n\r\n{}"));
    const RawSocket::Received r = s.read_until_closed(milliseconds(10000));
    EXPECT_NE(r.data.find("HTTP/1.1 413"), std::string::npos) << r.data;
    EXPECT_NE(r.data.find("payload_too_large"), std::string::npos) << r.data;
    EXPECT_LT(Clock::now() - start, hang_bound(3));
  }
  // Under the limit, the server still waits for the body it was promised.
  RawSocket s(server.port());
  ASSERT_TRUE(s.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 33\r\n\r\n"
                     "{\"prompt\": \"ab\","));
  std::this_thread::sleep_for(milliseconds(300));
  ASSERT_TRUE(s.send(" \"max_tokens\": 2}"));
  const RawSocket::Received r = s.read_until_closed(milliseconds(10000));
  EXPECT_NE(r.data.find("HTTP/1.1 200"), std::string::npos) << r.data;
}

TEST(Hardening, TooManyConnectionsStillSendingGet503) {
  server::ServerOptions o = test_options();
  o.max_pending_connections = 3;
  RunningServer server(o);
  std::vector<std::unique_ptr<RawSocket>> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(std::make_unique<RawSocket>(server.port()));
    idle.back()->send("GET /hea");
  }
  std::this_thread::sleep_for(milliseconds(300));
  RawSocket extra(server.port());
  const RawSocket::Received r = extra.read_until_closed(milliseconds(3000));
  EXPECT_NE(r.data.find("HTTP/1.1 503"), std::string::npos) << r.data;
  EXPECT_NE(r.data.find("too_many_connections"), std::string::npos) << r.data;
  idle.clear();  // they leave; the server takes new requests again
  std::this_thread::sleep_for(milliseconds(300));
  auto c = server.client();
  EXPECT_EQ(get_json(c, "/health").status, 200);
}

// ---- authentication ----

class Auth : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server::ServerOptions o = test_options();
    o.api_key = "sekrit";
    server_ = new RunningServer(o);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  int status_with(const httplib::Headers& headers) {
    httplib::Client c("127.0.0.1", server_->port());
    auto res = c.Get("/v1/models", headers);
    return res ? res->status : -1;
  }
  static inline RunningServer* server_ = nullptr;
};

TEST_F(Auth, BearerSchemeIsCaseInsensitive) {
  EXPECT_EQ(status_with({{"Authorization", "Bearer sekrit"}}), 200);
  EXPECT_EQ(status_with({{"Authorization", "bearer sekrit"}}), 200);
  EXPECT_EQ(status_with({{"Authorization", "BEARER   sekrit"}}), 200);
  EXPECT_EQ(status_with({{"Authorization", "Bearer sekri"}}), 401);
  EXPECT_EQ(status_with({{"Authorization", "Bearersekrit"}}), 401);
  EXPECT_EQ(status_with({{"Authorization", "Basic sekrit"}}), 401);
  EXPECT_EQ(status_with({{"Authorization", "sekrit"}}), 401);
  EXPECT_EQ(status_with({}), 401);
}

TEST_F(Auth, TwoAuthorizationHeadersAreA400) {
  httplib::Client c("127.0.0.1", server_->port());
  auto res = c.Get("/v1/models", httplib::Headers{{"Authorization", "Bearer sekrit"},
                                                  {"Authorization", "Bearer other"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("invalid_authorization"), std::string::npos) << res->body;
}

TEST_F(Auth, ARefusedBodyIsReadAwayBeforeClosing) {
  // The 401 comes before the 200 KB body is read; closing with it unread would reset the
  // connection and could destroy the answer before the client reads it.
  RawSocket s(server_->port());
  ASSERT_TRUE(s.connected());
  std::thread sender([&s] {
    s.send(raw_post("/v1/completions", std::string(200000, ' '), "HTTP/1.1",
                    "Authorization: Bearer wrong\r\n"));
  });
  const RawSocket::Received r = s.read_until_closed(milliseconds(5000));
  sender.join();
  EXPECT_NE(r.data.find("HTTP/1.1 401"), std::string::npos) << r.data;
  EXPECT_TRUE(r.closed);
  EXPECT_FALSE(r.reset);
}

// ---- HTTP versions and pipelining ----

class Wire : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new RunningServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static RawSocket::Received exchange(const std::string& request) {
    RawSocket s(server_->port());
    EXPECT_TRUE(s.connected());
    s.send(request);
    return s.read_until_closed(milliseconds(30000));
  }
  static inline RunningServer* server_ = nullptr;
};

TEST_F(Wire, Http10ClientGetsNoChunkedEncoding) {
  json body = chat_body("hello", 6);
  const RawSocket::Received r =
      exchange(raw_post("/v1/chat/completions", body.dump(), "HTTP/1.0"));
  ASSERT_TRUE(r.closed);
  const RawResponse res = split_response(r.data);
  EXPECT_NE(res.head.find(" 200 "), std::string::npos) << res.head;
  EXPECT_EQ(lower(res.head).find("chunked"), std::string::npos) << res.head;
  const json j = json::parse(res.body, nullptr, false);  // leading keep-alive spaces are fine
  ASSERT_FALSE(j.is_discarded()) << res.body;
  EXPECT_EQ(j["object"], "chat.completion");
}

TEST_F(Wire, Http10StreamIsCloseDelimitedServerSentEvents) {
  json body = chat_body("hello", 6);
  body["stream"] = true;
  const RawSocket::Received r =
      exchange(raw_post("/v1/chat/completions", body.dump(), "HTTP/1.0"));
  ASSERT_TRUE(r.closed);
  EXPECT_FALSE(r.reset);
  const RawResponse res = split_response(r.data);
  EXPECT_EQ(lower(res.head).find("chunked"), std::string::npos) << res.head;
  EXPECT_TRUE(res.body.starts_with("data: {")) << res.body;
  EXPECT_TRUE(res.body.ends_with("data: [DONE]\n\n")) << res.body;
}

TEST_F(Wire, Http10SmallAnswersHaveAContentLength) {
  const RawSocket::Received r = exchange("GET /health HTTP/1.0\r\n\r\n");
  const RawResponse res = split_response(r.data);
  EXPECT_NE(res.head.find("Content-Length: " + std::to_string(res.body.size())),
            std::string::npos)
      << r.data;
  EXPECT_EQ(json::parse(res.body)["status"], "ok");
}

TEST_F(Wire, PipelinedRequestsGetTheFirstAnswerAndACleanClose) {
  const RawSocket::Received r = exchange(
      "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r.closed);
  EXPECT_FALSE(r.reset);
  EXPECT_EQ(count_of(r.data, "HTTP/1.1 "), 1u) << r.data;
  const RawResponse res = split_response(r.data);
  EXPECT_NE(res.head.find("Connection: close"), std::string::npos) << res.head;
  EXPECT_EQ(json::parse(res.body)["status"], "ok");
}

TEST_F(Wire, EveryAnswerClosesItsConnection) {
  // One request per connection (httplib loses bytes pipelined behind a request otherwise).
  const RawSocket::Received r = exchange("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(r.closed);
  EXPECT_NE(r.data.find("Connection: close"), std::string::npos) << r.data;
}

}  // namespace
}  // namespace dsv3::testing
