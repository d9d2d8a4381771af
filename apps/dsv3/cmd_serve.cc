// dsv3 serve: an OpenAI-compatible HTTP server with continuous batching (src/server/).
// SIGINT / SIGTERM stop it cleanly: running generations end, then the listener closes.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "kernels/kernels.h"
#include "server/http_server.h"
#include "server/malloc_tuning.h"
#include "text_flags.h"

namespace dsv3::cli {

namespace {

struct ServeFlags {
  TextModelFlags text;
  SpeculativeFlags speculative;
  server::ServerOptions server;
  int threads = 0;
};

// SIGINT / SIGTERM write a byte to this pipe (all a signal handler may safely do); a thread
// that reads it stops the server. Handlers rather than a blocked mask, because libraries
// start threads of their own before main() (OpenBLAS) and a signal may land on any of them.
int g_stop_pipe[2] = {-1, -1};

void on_stop_signal(int) {
  const char byte = 1;
  (void)!::write(g_stop_pipe[1], &byte, 1);
}

void run(ServeFlags& f) {
  // CLI11 takes an empty environment variable for an absent one; an empty key must not
  // silently turn authentication off either way (--api-key '' is refused by its check).
  if (const char* env = std::getenv("DSV3_API_KEY");
      env != nullptr && *env == '\0' && f.server.api_key.empty()) {
    throw CommandError(
        "DSV3_API_KEY is set but empty: the API key is empty, which would turn authentication "
        "off; give a key, or unset DSV3_API_KEY to serve without one");
  }
  if (f.threads > 0) kernels::set_num_threads(f.threads);
  // Before the threads exist: freed request memory goes back to the system.
  if (const std::string tuned = server::tune_malloc_for_serving(); !tuned.empty()) {
    std::fprintf(stderr, "dsv3 serve: %s\n", tuned.c_str());
  }
  f.server.scheduler.context = f.text.model.context;
  if (f.server.model_name.empty()) {
    f.server.model_name =
        std::filesystem::path(f.text.model.model_dir).lexically_normal().filename().string();
    if (f.server.model_name.empty()) f.server.model_name = "dsv3";
  }
  auto tm = f.text.load(/*with_mtp=*/f.speculative.enabled());
  f.server.scheduler.draft = f.speculative.drafts_for(tm->model());
  f.server.scheduler.adaptive_draft = f.speculative.adaptive;
  f.server.scheduler.mtp_auto = f.speculative.automatic();

  server::Server srv(*tm, f.server);
  unwrap(srv.bind());
  const int64_t kv_mib = f.server.scheduler.parallel * f.server.scheduler.context *
                             tm->model().new_cache(1).bytes_per_token() >>
                         20;
  std::fprintf(stderr,
               "dsv3 serve: model '%s' on http://%s:%d (%ld sequences x %ld tokens, KV cache %ld "
               "MiB, queue %ld%s%s)\n",
               f.server.model_name.c_str(), f.server.host.c_str(), srv.port(),
               long(f.server.scheduler.parallel), long(f.server.scheduler.context), long(kv_mib),
               long(f.server.scheduler.max_queue),
               f.server.api_key.empty() ? "" : ", API key required",
               f.server.scheduler.draft == 0      ? ""
               : f.server.scheduler.mtp_auto ? ", MTP drafts while faster (--mtp auto)"
                                             : ", MTP drafts");

  const std::string& host = f.server.host;
  if (f.server.api_key.empty() && host != "127.0.0.1" && host != "localhost" && host != "::1") {
    std::fprintf(stderr,
                 "dsv3 serve: warning: listening on %s without --api-key: anyone who can "
                 "reach this address can use the model\n",
                 host.c_str());
  }
  if (::pipe(g_stop_pipe) != 0) throw CommandError("pipe() failed");
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::thread waiter([&srv] {
    char byte = 0;
    while (::read(g_stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    if (byte == 1) std::fprintf(stderr, "dsv3 serve: stopping\n");
    srv.stop();
  });
  srv.run();
  const char wake = 2;  // the server stopped by itself: release the waiter
  (void)!::write(g_stop_pipe[1], &wake, 1);
  waiter.join();
  srv.stop();
}

}  // namespace

void add_serve_command(CLI::App& root) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd =
      root.add_subcommand("serve", "OpenAI-compatible HTTP server with continuous batching");
  f->text.add_to(cmd);
  f->speculative.add_to(cmd);
  f->server.model_name.clear();
  cmd->add_option("--host", f->server.host, "address to listen on (loopback unless told otherwise)")
      ->capture_default_str();
  cmd->add_option("--port", f->server.port, "TCP port; 0 = any free port")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--api-key", f->server.api_key,
                  "require 'Authorization: Bearer KEY' on every request")
      ->envname("DSV3_API_KEY")
      ->check(CLI::Validator(
          [](std::string& key) -> std::string {
            // An empty key would silently turn authentication off.
            if (key.empty()) {
              return "the API key is empty, which would turn authentication off; give a key, "
                     "or leave --api-key (and DSV3_API_KEY) out to serve without one";
            }
            for (unsigned char c : key) {
              if (c <= ' ' || c == 0x7f) {
                return "the API key contains a space or control character, which an "
                       "'Authorization: Bearer KEY' header cannot carry";
              }
            }
            return "";
          },
          "KEY"));
  cmd->add_option("--parallel", f->server.scheduler.parallel,
                  "sequences decoded together (one KV cache of --ctx tokens each)")
      ->check(CLI::Range(int64_t(1), int64_t(1024)))
      ->capture_default_str();
  cmd->add_option("--queue", f->server.scheduler.max_queue,
                  "requests that may wait for a free sequence; more get 429")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 16))
      ->capture_default_str();
  cmd->add_option("--prefill-chunk", f->server.scheduler.prefill_chunk,
                  "prompt tokens computed per batched step (over all new requests)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 16))
      ->capture_default_str();
  cmd->add_option("--model-name", f->server.model_name,
                  "name /v1/models reports (default: the model directory's name)");
  cmd->add_option("--max-body", f->server.max_body_bytes, "largest request body in bytes")
      ->capture_default_str();
  cmd->add_option("--request-timeout", f->server.request_timeout_ms,
                  "milliseconds a request may take to arrive, from its connection; later: 408")
      ->check(CLI::Range(100, 3600 * 1000))
      ->capture_default_str();
  cmd->add_option("--max-pending", f->server.max_pending_connections,
                  "connections that may be sending their requests at once; more: 503")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  cmd->add_option("-t,--threads", f->threads, "compute threads (default: every core)")
      ->check(CLI::Range(1, 4096));
  cmd->add_flag("!--no-log", f->server.log_requests, "do not log each request on stderr");
  set_model_command_callback(cmd, f->text.model, [f] { run(*f); }, &f->threads);
}

}  // namespace dsv3::cli
