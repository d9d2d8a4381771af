// dsv3 generate: continue a prompt. With --tokens (ids), prints the greedy continuation as
// comma-separated ids; with --prompt (text), streams the sampled completion as text.
#include <cstdio>
#include <fstream>

#include "engine/generation.h"
#include "engine/reasoning.h"
#include "engine/session.h"
#include "structured/grammar.h"
#include "structured/output_constraint.h"
#include "text_flags.h"

namespace dsv3::cli {

namespace {

struct GenerateFlags {
  TextModelFlags text;
  SamplingFlags sampling;
  SpeculativeFlags speculative;
  std::string tokens, prompt;
  bool chat = false;
  bool quiet_stats = false;
  bool json = false;        // --json: the output is a JSON object
  std::string json_schema;  // --json-schema FILE: the output follows the schema
};

// The grammar --json / --json-schema ask for, over this tokenizer's vocabulary; null without.
// When the prompt opens a reasoning block (--chat with a thinking template), the reasoning is
// free and the answer after </think> follows the grammar.
std::shared_ptr<const structured::OutputConstraint> output_constraint(const GenerateFlags& f,
                                                                      const Tokenizer& tokenizer,
                                                                      bool opens_reasoning) {
  if (!f.json && f.json_schema.empty()) return nullptr;
  structured::Grammar grammar;
  if (f.json_schema.empty()) {
    grammar = structured::json_object_grammar();
  } else {
    std::ifstream in(f.json_schema);
    if (!in) throw CommandError("--json-schema: cannot read " + f.json_schema);
    nlohmann::ordered_json schema = nlohmann::ordered_json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (schema.is_discarded()) throw CommandError("--json-schema: " + f.json_schema + " is not valid JSON");
    Result<structured::Grammar> g = structured::compile_json_schema(schema);
    if (!g.ok()) throw CommandError("--json-schema " + f.json_schema + ": " + g.error().message);
    grammar = std::move(g).value();
  }
  auto trie = structured::TokenTrie::build(tokenizer);
  auto answer = std::make_shared<const structured::CompiledConstraint>(std::move(grammar), trie);
  if (!opens_reasoning) return structured::OutputConstraint::whole(std::move(answer));
  return unwrap(structured::OutputConstraint::make(
      {.trie = trie, .reasoning_end = std::string(kReasoningEnd), .answer = std::move(answer)}));
}

void run_tokens(const GenerateFlags& f) {
  const auto prompt = parse_token_list(f.tokens, "--tokens");
  auto model = f.text.model.load(/*with_mtp=*/false);
  Session session(*model, f.text.model.context);
  const auto out = unwrap(generate_greedy(session, prompt, f.sampling.max_new_tokens));
  std::string line;
  for (size_t i = 0; i < out.size(); ++i) line += (i ? "," : "") + std::to_string(out[i]);
  std::printf("%s\n", line.c_str());
}

void run_text(const GenerateFlags& f) {
  auto tm = f.text.load(/*with_mtp=*/f.speculative.enabled());
  GenerationRequest req;
  bool opens_reasoning = false;
  if (f.chat) {
    nlohmann::ordered_json messages = {{{"role", "user"}, {"content", f.prompt}}};
    const std::string text = unwrap(tm->render(messages, true));
    opens_reasoning = prompt_opens_reasoning(text);
    req.prompt = unwrap(tm->tokenizer().encode_checked(text, /*add_bos=*/false));
  } else {
    req.prompt = unwrap(tm->encode_prompt(f.prompt));
  }
  req.max_new_tokens = f.sampling.max_new_tokens;
  req.sampling = f.sampling.params;
  req.stop = f.sampling.stop;
  req.stop_at_eos = !f.sampling.ignore_eos;
  if (f.chat) req.turn_end_tokens = chat_turn_markers(tm->tokenizer());
  req.draft = f.speculative.drafts_for(tm->model());
  req.adaptive_draft = f.speculative.adaptive;
  req.mtp_auto = f.speculative.automatic();
  req.constraint = output_constraint(f, tm->tokenizer(), opens_reasoning);
  unwrap(validate(req.sampling));
  Session session(tm->model(), SessionOptions{.context = f.text.model.context, .mtp = req.draft > 0});
  auto result = unwrap(generate_text(session, tm->tokenizer(), req, {.on_text = [](std::string_view t) {
    std::fwrite(t.data(), 1, t.size(), stdout);
    std::fflush(stdout);
    return true;
  }}));
  // Flushed before the speed line, so that it starts a line of its own in a shared pipe.
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (!f.quiet_stats) {
    std::fprintf(stderr, "%s finish: %s\n", speed_line(result).c_str(),
                 finish_reason_name(result.finish));
  }
}

}  // namespace

void add_generate_command(CLI::App& root) {
  auto f = std::make_shared<GenerateFlags>();
  CLI::App* cmd = root.add_subcommand("generate", "continue a prompt (token ids or text)");
  f->text.add_to(cmd);
  f->sampling.add_to(cmd, /*default_temperature=*/0.8f);
  f->speculative.add_to(cmd);
  auto* tokens = cmd->add_option("--tokens", f->tokens,
                                 "prompt as comma-separated token ids; prints greedy ids");
  auto* prompt = cmd->add_option("--prompt,-p", f->prompt, "prompt text; streams the completion");
  tokens->excludes(prompt);
  cmd->add_flag("--chat", f->chat, "wrap --prompt as one user message with the chat template");
  cmd->add_flag("--no-stats", f->quiet_stats, "do not print the speed line on stderr");
  auto* json = cmd->add_flag("--json", f->json, "constrain the output to a JSON object");
  auto* schema = cmd->add_option("--json-schema", f->json_schema,
                                 "constrain the output to JSON following this JSON Schema file");
  json->excludes(schema);
  set_model_command_callback(cmd, f->text.model, [f, tokens, prompt] {
    if (*tokens) return run_tokens(*f);
    if (*prompt) return run_text(*f);
    throw CommandError("pass --tokens IDS or --prompt TEXT");
  });
}

}  // namespace dsv3::cli
