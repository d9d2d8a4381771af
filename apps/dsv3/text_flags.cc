#include "text_flags.h"

#include <cstdlib>

namespace dsv3::cli {

std::string default_model_dir() {
  if (const char* env = std::getenv("DSV3_DEFAULT_MODEL")) return env;
  return DSV3_DEFAULT_MODEL_DIR;  // models/default of the source tree this binary was built from
}

void TextModelFlags::add_to(CLI::App* cmd, bool model_required) {
  // Without --model, text commands talk to the built-in default model.
  if (!model_required) model.model_dir = default_model_dir();
  model.add_to(cmd, model_required);
  cmd->add_option("--tokenizer", tokenizer_dir,
                  "directory with tokenizer.json and tokenizer_config.json (default: --model)");
}

std::unique_ptr<TextModel> TextModelFlags::load(bool with_mtp) const {
  return unwrap(TextModel::attach(model.load(with_mtp), model.model_dir, tokenizer_dir));
}

void SamplingFlags::add_to(CLI::App* cmd, float default_temperature) {
  params.temperature = default_temperature;
  cmd->add_option("-n,--n-predict,--max-new-tokens", max_new_tokens, "tokens to generate at most")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 24));
  cmd->add_option("--temp", params.temperature, "temperature; 0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", params.top_k, "keep the k most likely tokens; 0 = off")->capture_default_str();
  cmd->add_option("--top-p", params.top_p, "nucleus sampling; 1 = off")->capture_default_str();
  cmd->add_option("--min-p", params.min_p, "drop tokens below min-p x p(best); 0 = off")->capture_default_str();
  cmd->add_option("--repeat-penalty", params.repeat_penalty, "1 = off")->capture_default_str();
  cmd->add_option("--repeat-last-n", params.repeat_last_n, "tokens the penalties look back; -1 = all")
      ->capture_default_str();
  cmd->add_option("--presence-penalty", params.presence_penalty, "OpenAI-style, -2..2");
  cmd->add_option("--frequency-penalty", params.frequency_penalty, "OpenAI-style, -2..2");
  cmd->add_option("-s,--seed", params.seed, "random seed for reproducible sampling");
  cmd->add_option("--stop", stop, "stop string (repeatable); not included in the output");
  cmd->add_flag("--ignore-eos", ignore_eos, "keep generating after the end-of-sequence token");
}

void SpeculativeFlags::add_to(CLI::App* cmd) {
  cmd->add_option("--mtp", mtp,
                  "speculative decoding with the checkpoint's MTP layer; auto: only while it is "
                  "measured to be faster than plain decoding")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  cmd->add_option("--draft", draft, "tokens the MTP layer drafts per step (re-applied beyond 1)")
      ->check(CLI::Range(1, 8))
      ->capture_default_str();
  cmd->add_flag("--adaptive-draft", adaptive,
                "--draft is the most: the depth follows the running acceptance rate");
}

std::string mtp_auto_summary(const MtpAutoReport& a) {
  char buf[128];
  if (!a.decided) return "mtp auto: measuring";
  if (a.speculating) {
    std::snprintf(buf, sizeof buf, "mtp auto: on, %.2f tok/step, %.2fx", a.tokens_per_step, a.speedup);
  } else {
    std::snprintf(buf, sizeof buf, "mtp auto: off (%.2fx)", a.speedup);
  }
  return buf;
}

std::string speed_line(const GenerationResult& r) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "[%zu tokens, %.2f tok/s, prompt %ld tokens (%ld cached) in %.2f s",
                r.tokens.size(), r.decode_tok_s(), long(r.prompt_tokens), long(r.cached_prompt_tokens),
                r.prefill_seconds);
  std::string s = buf;
  if (!r.mtp.drafted.empty()) {
    s += ", MTP acceptance";
    for (size_t i = 0; i < r.mtp.drafted.size(); ++i) {
      std::snprintf(buf, sizeof buf, " %.0f%%", 100.0 * r.mtp.acceptance(i));
      s += buf;
    }
    std::snprintf(buf, sizeof buf, ", %.2f tokens/forward", r.mtp.tokens_per_forward());
    s += buf;
  }
  if (r.mtp_auto) s += ", " + mtp_auto_summary(*r.mtp_auto);
  if (r.constraint.masks > 0) {
    std::snprintf(buf, sizeof buf, ", JSON constraint %.1f us/mask over %ld masks",
                  r.constraint.micros_per_mask(), long(r.constraint.masks));
    s += buf;
  }
  if (r.finish == FinishReason::kCancelled) s += ", stopped";
  return s + "]";
}

void TokenizerSourceFlags::add_to(CLI::App* cmd) {
  auto* m = cmd->add_option("--model,-m", model_dir, "model directory holding the tokenizer files");
  auto* t = cmd->add_option("--tokenizer", tokenizer_dir,
                            "directory with tokenizer.json and tokenizer_config.json");
  m->excludes(t);
}

std::string TokenizerSourceFlags::dir() const {
  if (!tokenizer_dir.empty()) return tokenizer_dir;
  if (!model_dir.empty()) return model_dir;
  throw CommandError("pass --model DIR or --tokenizer DIR");
}

}  // namespace dsv3::cli
