// Flags of the text commands (generate --prompt, chat, serve): where the tokenizer is and how
// to sample. Names follow llama.cpp where they overlap.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "engine/generation.h"
#include "engine/sampler.h"
#include "engine/text_model.h"

namespace dsv3::cli {

// The built-in default model (models/default), or $DSV3_DEFAULT_MODEL.
std::string default_model_dir();

struct TextModelFlags {
  ModelFlags model;
  std::string tokenizer_dir;
  void add_to(CLI::App* cmd, bool model_required = false);
  std::unique_ptr<TextModel> load(bool with_mtp = true) const;
};

struct SamplingFlags {
  SamplingParams params;
  int64_t max_new_tokens = 256;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  void add_to(CLI::App* cmd, float default_temperature);
};

// MTP speculative decoding: on by default wherever the checkpoint has an MTP layer.
struct SpeculativeFlags {
  std::string mtp = "on";
  int draft = 1;
  bool adaptive = false;  // --adaptive-draft: `draft` is the most per step
  void add_to(CLI::App* cmd);
  bool enabled() const { return mtp == "on" && draft > 0; }
  // Drafts per step for this model (0 when it has no MTP layer or --mtp off).
  int drafts_for(const Model& model) const { return enabled() && model.mtp_depth() > 0 ? draft : 0; }
};

// "[12 tokens, 3.4 tok/s, ...]" plus the MTP acceptance when drafting.
std::string speed_line(const GenerationResult& r);

// Tokenizer directory for tokenize / detokenize / template: --tokenizer, else --model.
struct TokenizerSourceFlags {
  std::string model_dir, tokenizer_dir;
  void add_to(CLI::App* cmd);
  std::string dir() const;
};

}  // namespace dsv3::cli
