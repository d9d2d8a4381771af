// Flags of the text commands (generate --prompt, chat, serve): where the tokenizer is and how
// to sample. Names follow llama.cpp where they overlap.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "engine/sampler.h"
#include "engine/text_model.h"

namespace dsv3::cli {

struct TextModelFlags {
  ModelFlags model;
  std::string tokenizer_dir;
  void add_to(CLI::App* cmd, bool model_required = true);
  std::unique_ptr<TextModel> load(bool with_mtp = true) const;
};

struct SamplingFlags {
  SamplingParams params;
  int64_t max_new_tokens = 256;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  void add_to(CLI::App* cmd, float default_temperature);
};

// Tokenizer directory for tokenize / detokenize / template: --tokenizer, else --model.
struct TokenizerSourceFlags {
  std::string model_dir, tokenizer_dir;
  void add_to(CLI::App* cmd);
  std::string dir() const;
};

}  // namespace dsv3::cli
