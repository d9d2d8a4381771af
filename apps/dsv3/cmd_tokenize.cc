// dsv3 tokenize / detokenize / template: the text pipeline on its own, without a model.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "model/config.h"
#include "text_flags.h"
#include "util/json_limits.h"

namespace dsv3::cli {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw CommandError("cannot read " + path);
  return {std::istreambuf_iterator<char>(f), {}};
}

struct TokenizeFlags {
  TokenizerSourceFlags source;
  bool bos = false;
  std::string text, file;
  bool text_given = false;
};

void run_tokenize(const TokenizeFlags& f) {
  const Tokenizer tok = unwrap(load_tokenizer(f.source.dir()));
  const std::string text = f.file.empty() ? f.text : read_file(f.file);
  const auto ids = unwrap(tok.encode_checked(text, f.bos));
  std::printf("%s\n", nlohmann::json(ids).dump().c_str());
}

struct DetokenizeFlags {
  TokenizerSourceFlags source;
  std::string ids;
  bool skip_special = false;
};

void run_detokenize(const DetokenizeFlags& f) {
  const Tokenizer tok = unwrap(load_tokenizer(f.source.dir()));
  const auto ids = f.ids.empty() ? std::vector<int32_t>{} : parse_token_list(f.ids, "--ids");
  const std::string text = unwrap(tok.decode_checked(ids, f.skip_special));
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::printf("\n");
}

struct TemplateFlags {
  TokenizerSourceFlags source;
  std::string messages_file;
  bool generation_prompt = false;
  bool thinking = false;
  std::string format = "auto";
};

// The model_type of --model DIR's config.json ("" without one): a V3.2 checkpoint whose
// tokenizer has no chat_template renders with the built-in encoder.
std::string model_type_of(const TokenizerSourceFlags& source) {
  if (source.model_dir.empty() || !std::filesystem::exists(source.model_dir + "/config.json")) return "";
  return unwrap(load_model_config(source.model_dir)).model_type;
}

void run_template(const TemplateFlags& f) {
  const std::string dir = f.source.dir();
  const Tokenizer tok = unwrap(load_tokenizer(dir));
  const ChatTemplate tmpl = f.format == "deepseek-v32"
                                ? ChatTemplate::deepseek_v32()
                                : unwrap(load_chat_template(tok, dir, model_type_of(f.source)));
  // Bounded: a file nested thousands deep would overflow the stack of the walks after parsing.
  const auto messages = unwrap(
      parse_json_bounded<nlohmann::ordered_json>(read_file(f.messages_file), {}, f.messages_file));
  if (!messages.is_array()) {
    throw CommandError(f.messages_file + ": expected a JSON array of messages, got " +
                       messages.type_name());
  }
  const nlohmann::ordered_json extra =
      f.thinking ? nlohmann::ordered_json{{"thinking", true}} : nlohmann::ordered_json();
  const std::string text = unwrap(
      render_chat(tmpl, messages, f.generation_prompt, tok.bos_token(), tok.eos_token(), extra));
  std::fwrite(text.data(), 1, text.size(), stdout);  // exactly, no newline added
}

}  // namespace

void add_tokenize_commands(CLI::App& root) {
  auto tf = std::make_shared<TokenizeFlags>();
  CLI::App* t = root.add_subcommand("tokenize", "print the token ids of a text as a JSON array");
  tf->source.add_to(t);
  t->add_flag("--bos", tf->bos, "prepend the BOS token");
  auto* text = t->add_option("--text,-p", tf->text, "the text");
  auto* file = t->add_option("--file,-f", tf->file, "read the text from a file");
  text->excludes(file);
  t->callback([tf, text, file] {
    if (!*text && !*file) throw CommandError("pass --text STR or --file F");
    run_tokenize(*tf);
  });

  auto df = std::make_shared<DetokenizeFlags>();
  CLI::App* d = root.add_subcommand("detokenize", "print the text of comma-separated token ids");
  df->source.add_to(d);
  d->add_option("--ids", df->ids, "comma-separated token ids")->required();
  d->add_flag("--skip-special", df->skip_special, "leave special tokens out");
  d->callback([df] { run_detokenize(*df); });

  auto mf = std::make_shared<TemplateFlags>();
  CLI::App* m = root.add_subcommand("template", "render OpenAI-style messages with the chat template");
  mf->source.add_to(m);
  m->add_option("--messages", mf->messages_file, "JSON file: an array of {role, content} messages")
      ->required();
  m->add_flag("--generation-prompt", mf->generation_prompt, "end with the assistant prompt");
  m->add_flag("--thinking", mf->thinking,
              "thinking mode (sets the template variable `thinking`: V3.1 templates, V3.2)");
  m->add_option("--chat-format", mf->format,
                "auto: the tokenizer's chat_template (a V3.2 --model without one: the V3.2 "
                "encoder); deepseek-v32: DeepSeek-V3.2's encoder")
      ->check(CLI::IsMember({"auto", "deepseek-v32"}))
      ->capture_default_str();
  m->callback([mf] { run_template(*mf); });
}

}  // namespace dsv3::cli
