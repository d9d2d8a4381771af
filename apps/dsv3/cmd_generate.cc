// dsv3 generate: continue a prompt of token ids (greedy).
#include <cstdio>

#include "command.h"
#include "engine/session.h"

namespace dsv3::cli {

namespace {

struct GenerateFlags {
  ModelFlags model;
  std::string tokens;
  int64_t max_new_tokens = 16;
};

void run(const GenerateFlags& flags) {
  const auto prompt = parse_token_list(flags.tokens, "--tokens");
  auto model = flags.model.load(/*with_mtp=*/false);
  Session session(*model, flags.model.context);
  const auto out = unwrap(generate_greedy(session, prompt, flags.max_new_tokens));
  std::string line;
  for (size_t i = 0; i < out.size(); ++i) line += (i ? "," : "") + std::to_string(out[i]);
  std::printf("%s\n", line.c_str());
}

}  // namespace

void add_generate_command(CLI::App& root) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* cmd = root.add_subcommand("generate", "greedy continuation of a prompt");
  flags->model.add_to(cmd);
  cmd->add_option("--tokens", flags->tokens, "prompt as comma-separated token ids")->required();
  cmd->add_option("--max-new-tokens,-n", flags->max_new_tokens, "tokens to generate")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  cmd->callback([flags] { run(*flags); });
}

}  // namespace dsv3::cli
