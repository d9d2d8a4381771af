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

// MTP speculative decoding wherever the checkpoint has an MTP layer: by default (`auto`) only
// while it is measured to be faster than plain decoding (MtpAuto).
struct SpeculativeFlags {
  std::string mtp = "auto";
  int draft = 1;
  bool adaptive = false;  // --adaptive-draft: `draft` is the most per step
  void add_to(CLI::App* cmd);
  bool enabled() const { return mtp != "off" && draft > 0; }
  bool automatic() const { return mtp == "auto"; }
  // Drafts per step for this model (0 when it has no MTP layer or --mtp off).
  int drafts_for(const Model& model) const { return enabled() && model.mtp_depth() > 0 ? draft : 0; }
};

// "[12 tokens, 3.4 tok/s, ...]" plus the MTP acceptance when drafting and what `--mtp auto`
// chose.
std::string speed_line(const GenerationResult& r);
// "mtp auto: on, 1.63 tok/step, 1.40x" or "mtp auto: off (0.85x)": the choice and the
// measured speed of speculative over plain steps.
std::string mtp_auto_summary(const MtpAutoReport& report);

// Tokenizer directory for tokenize / detokenize / template: --tokenizer, else --model.
struct TokenizerSourceFlags {
  std::string model_dir, tokenizer_dir;
  void add_to(CLI::App* cmd);
  std::string dir() const;
};

}  // namespace dsv3::cli
