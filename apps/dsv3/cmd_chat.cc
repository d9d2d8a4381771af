// dsv3 chat: an interactive multi-turn conversation in the terminal. Streams tokens, keeps
// the history and the KV cache between turns (only the new part of each prompt is computed),
// shows R1-style reasoning dimmed, /reset and /exit, Ctrl-C stops the answer (not the program).
// With piped standard input it reads one message per line, for scripts.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>

#include "engine/generation.h"
#include "engine/reasoning.h"
#include "text_flags.h"

namespace dsv3::cli {

namespace {

std::atomic<bool> g_generating{false};
std::atomic<bool> g_cancel{false};

void on_sigint(int) {
  if (g_generating.load()) {
    g_cancel.store(true);
    return;
  }
  const char msg[] = "\n";
  (void)!::write(STDOUT_FILENO, msg, 1);
  ::_exit(130);
}

struct ChatFlags {
  TextModelFlags text;
  SamplingFlags sampling;
  SpeculativeFlags speculative;
  std::string system;
  bool thinking = false;
  bool color = true;
};

class ChatRepl {
 public:
  ChatRepl(const ChatFlags& f, std::unique_ptr<TextModel> tm)
      : f_(f), tm_(std::move(tm)), draft_(f.speculative.drafts_for(tm_->model())),
        session_(tm_->model(), SessionOptions{.context = f.text.model.context, .mtp = draft_ > 0}),
        tty_(::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO)), color_(tty_ && f.color) {
    reset();
  }

  void run() {
    if (tty_) {
      std::printf("dsv3 chat: %s (context %ld). /reset clears the conversation, /exit quits, "
                  "Ctrl-C stops an answer.\n", f_.text.model.model_dir.c_str(),
                  long(session_.capacity()));
    }
    std::string line;
    for (;;) {
      if (tty_) std::printf("%s> %s", color_ ? "\x1b[1;32m" : "", color_ ? "\x1b[0m" : "");
      std::fflush(stdout);
      if (!std::getline(std::cin, line)) break;
      if (line == "/exit" || line == "/quit") break;
      if (line == "/reset") {
        reset();
        std::printf("[conversation cleared]\n");
        continue;
      }
      if (line.empty()) continue;
      answer(line);
    }
  }

 private:
  void reset() {
    messages_ = nlohmann::ordered_json::array();
    if (!f_.system.empty()) messages_.push_back({{"role", "system"}, {"content", f_.system}});
    session_.reset();
  }

  void answer(const std::string& user) {
    messages_.push_back({{"role", "user"}, {"content", user}});
    const nlohmann::ordered_json extra =
        f_.thinking ? nlohmann::ordered_json{{"thinking", true}} : nlohmann::ordered_json();
    auto prompt_text = tm_->render(messages_, /*add_generation_prompt=*/true, extra);
    if (!prompt_text.ok()) {
      std::fprintf(stderr, "error: %s\n", prompt_text.error().message.c_str());
      messages_.erase(messages_.size() - 1);
      return;
    }
    GenerationRequest req{.prompt = tm_->tokenizer().encode(*prompt_text),
                          .max_new_tokens = f_.sampling.max_new_tokens,
                          .sampling = f_.sampling.params,
                          .stop = f_.sampling.stop,
                          .stop_at_eos = !f_.sampling.ignore_eos,
                          .turn_end_tokens = chat_turn_markers(tm_->tokenizer()),
                          .skip_special_in_text = true,
                          .draft = draft_,
                          .adaptive_draft = f_.speculative.adaptive,
                          .mtp_auto = f_.speculative.automatic()};
    ReasoningSplitter splitter(prompt_opens_reasoning(*prompt_text));
    std::string answer, reasoning;
    auto show = [&](const std::vector<ReasoningSplitter::Segment>& segs) {
      for (const auto& s : segs) {
        (s.reasoning ? reasoning : answer) += s.text;
        if (s.reasoning && color_) std::printf("\x1b[2m%s\x1b[0m", s.text.c_str());
        else std::fwrite(s.text.data(), 1, s.text.size(), stdout);
      }
      std::fflush(stdout);
    };
    g_cancel = false;
    g_generating = true;
    auto result = generate_text(session_, tm_->tokenizer(), req,
                                {.on_text = [&](std::string_view t) { show(splitter.feed(t)); return true; },
                                 .cancel = &g_cancel});
    g_generating = false;
    show(splitter.flush());
    // The answer's own line ends here; flushed before anything goes to stderr, so the speed
    // line starts on a line of its own also when stdout and stderr share a pipe or a file.
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (!result.ok()) {
      std::fprintf(stderr, "error: %s\n", result.error().message.c_str());
      messages_.erase(messages_.size() - 1);
      return;
    }
    // The answer goes back into the conversation without its reasoning, which templates
    // (R1's, V3.2's) leave out of earlier turns anyway.
    nlohmann::ordered_json reply = {{"role", "assistant"}, {"content", answer}};
    if (!reasoning.empty()) reply["reasoning_content"] = reasoning;
    messages_.push_back(std::move(reply));
    std::fprintf(stderr, "%s\n", speed_line(*result).c_str());
  }

  const ChatFlags& f_;
  std::unique_ptr<TextModel> tm_;
  int draft_;
  Session session_;
  nlohmann::ordered_json messages_;
  bool tty_, color_;
};

void run(const ChatFlags& f) {
  auto tm = f.text.load(/*with_mtp=*/f.speculative.enabled());
  if (!tm->has_chat_template()) throw CommandError("the tokenizer has no chat_template");
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  ::sigaction(SIGINT, &sa, nullptr);
  ChatRepl(f, std::move(tm)).run();
}

}  // namespace

void add_chat_command(CLI::App& root) {
  auto f = std::make_shared<ChatFlags>();
  CLI::App* cmd = root.add_subcommand("chat", "interactive multi-turn chat in the terminal");
  f->text.add_to(cmd);
  f->sampling.add_to(cmd, /*default_temperature=*/0.6f);
  f->sampling.max_new_tokens = 1024;
  f->speculative.add_to(cmd);
  cmd->add_option("--system", f->system, "system prompt");
  cmd->add_flag("--thinking", f->thinking,
                "thinking mode where the chat format has one (V3.1 templates, V3.2): the model "
                "reasons in <think> first");
  cmd->add_flag("!--no-color", f->color, "no ANSI colours");
  set_model_command_callback(cmd, f->text.model, [f] { run(*f); });
}

}  // namespace dsv3::cli
