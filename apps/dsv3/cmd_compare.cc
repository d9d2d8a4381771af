// dsv3 compare: how far a model's next-token distributions are from a reference model's over
// the same text (top-1 agreement, KL divergence, perplexities), e.g. what `dsv3 quantize`
// costs: dsv3 compare --reference DIR --model DIR_Q8 --file text.txt
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "engine/logit_comparison.h"
#include "text_flags.h"

namespace dsv3::cli {

namespace {

struct CompareFlags {
  std::string model_dir, reference_dir, tokenizer_dir;
  std::string text, file, tokens;
  std::string kv_type = "f32";
  std::string activations = "int8";
  int64_t chunk = 512;
  bool json = false;
};

std::vector<int32_t> input_tokens(const CompareFlags& f) {
  if (!f.tokens.empty()) return parse_token_list(f.tokens, "--tokens");
  std::string text = f.text;
  if (!f.file.empty()) {
    std::ifstream in(f.file, std::ios::binary);
    if (!in) throw CommandError("cannot read " + f.file);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string dir = f.tokenizer_dir.empty() ? f.reference_dir : f.tokenizer_dir;
  const Tokenizer tok = unwrap(load_tokenizer(dir));
  return unwrap(tok.encode_checked(text, /*add_bos=*/true));
}

// Logits of tokens[begin, end) with a fresh cache: each chunk is scored on its own.
std::vector<float> chunk_logits(const Model& m, std::span<const int32_t> tokens) {
  KvCache cache = m.new_cache();
  Arena arena;
  std::vector<float> logits(tokens.size() * size_t(m.config().vocab_size));
  m.forward({.tokens = tokens, .cache = &cache, .arena = &arena, .logits_out = logits.data()});
  return logits;
}

void run(const CompareFlags& f) {
  const std::vector<int32_t> tokens = input_tokens(f);
  if (tokens.size() < 2) throw CommandError("need at least 2 tokens to compare");
  apply_activations(f.activations);
  ModelOptions options{.max_positions = f.chunk, .load_mtp = false};
  const auto reference = unwrap(Model::load(f.reference_dir, options));
  ModelOptions tested = options;
  tested.kv_format = format_from_name(f.kv_type).value_or(WeightFormat::kF32);
  const auto model = unwrap(Model::load(f.model_dir, tested));
  const int64_t V = reference->config().vocab_size;
  if (model->config().vocab_size != V) {
    throw CommandError("vocabularies differ: " + std::to_string(V) + " in " + f.reference_dir +
                       ", " + std::to_string(model->config().vocab_size) + " in " + f.model_dir);
  }
  unwrap(check_tokens(reference->config(), tokens));
  LogitComparison cmp;
  for (size_t begin = 0; begin < tokens.size(); begin += size_t(f.chunk)) {
    const auto chunk = std::span(tokens).subspan(begin, std::min(tokens.size() - begin,
                                                                 size_t(f.chunk)));
    const std::vector<float> want = chunk_logits(*reference, chunk);
    const std::vector<float> got = chunk_logits(*model, chunk);
    for (size_t t = 0; t < chunk.size(); ++t) {
      const int32_t next = begin + t + 1 < tokens.size() ? tokens[begin + t + 1] : -1;
      cmp.add(want.data() + t * V, got.data() + t * V, V, next);
    }
  }
  if (f.json) {
    const nlohmann::json out = {{"positions", cmp.positions()},
                                {"top1_agreement", cmp.top1_agreement()},
                                {"mean_kl", cmp.mean_kl()},
                                {"max_abs_logit_diff", cmp.max_abs_diff()},
                                {"reference_perplexity", cmp.reference_perplexity()},
                                {"perplexity", cmp.tested_perplexity()},
                                {"reference_weights", reference->weights().format_summary},
                                {"weights", model->weights().format_summary}};
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  std::printf("reference   %s (%s)\nmodel       %s (%s)\n", f.reference_dir.c_str(),
              reference->weights().format_summary.c_str(), f.model_dir.c_str(),
              model->weights().format_summary.c_str());
  std::printf("positions   %lld\ntop-1       %.2f%% agree\nmean KL     %.3g nats\n"
              "max |dlogit| %.4g\nperplexity  %.3f (reference %.3f)\n",
              (long long)cmp.positions(), 100 * cmp.top1_agreement(), cmp.mean_kl(),
              double(cmp.max_abs_diff()), cmp.tested_perplexity(), cmp.reference_perplexity());
}

}  // namespace

void add_compare_command(CLI::App& root) {
  auto f = std::make_shared<CompareFlags>();
  CLI::App* cmd = root.add_subcommand(
      "compare", "compare a model's next-token distributions with a reference model's");
  cmd->add_option("--model,-m", f->model_dir, "the model under test (e.g. a quantized copy)")
      ->required();
  cmd->add_option("--reference,-r", f->reference_dir, "the reference model")->required();
  auto* text = cmd->add_option("--text", f->text, "text to score");
  auto* file = cmd->add_option("--file,-f", f->file, "file whose text to score");
  auto* ids = cmd->add_option("--tokens", f->tokens, "comma-separated token ids to score");
  text->excludes(file)->excludes(ids);
  file->excludes(ids);
  cmd->add_option("--kv-type", f->kv_type,
                  "KV cache of the model under test (the reference keeps float32): f32, bf16, "
                  "f16, fp8")
      ->check(CLI::IsMember({"f32", "bf16", "f16", "fp8"}))
      ->capture_default_str();
  add_activations_flag(cmd, f->activations);
  cmd->add_option("--tokenizer", f->tokenizer_dir, "tokenizer directory (default: --reference)");
  cmd->add_option("--chunk", f->chunk, "tokens per independently scored chunk")
      ->check(CLI::Range(int64_t(2), int64_t(1) << 20))
      ->capture_default_str();
  cmd->add_flag("--json", f->json, "print one JSON object");
  cmd->callback([f] {
    if (f->text.empty() && f->file.empty() && f->tokens.empty()) {
      throw CommandError("give the input with --text, --file or --tokens");
    }
    run(*f);
  });
}

}  // namespace dsv3::cli
