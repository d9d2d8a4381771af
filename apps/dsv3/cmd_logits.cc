// dsv3 logits: raw float32 logits of every position, for checking against references.
#include <cstdio>
#include <fstream>

#include "command.h"
#include "model/logits_guard.h"

namespace dsv3::cli {

namespace {

struct LogitsFlags {
  ModelFlags model;
  std::string tokens, mode = "prefill", out, attention = "absorbed";
  bool mtp = false;
};

void write_floats(const std::string& path, const std::vector<float>& v) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
  if (!f) throw CommandError("cannot write " + path);
}

void run(const LogitsFlags& flags) {
  const auto tokens = parse_token_list(flags.tokens, "--tokens");
  const bool with_mtp = flags.mtp;
  auto model = flags.model.load(with_mtp);
  const auto& c = model->config();
  unwrap(check_tokens(c, tokens));
  const int64_t T = int64_t(tokens.size());
  if (T > model->max_positions()) throw CommandError("more tokens than --ctx allows");
  if (with_mtp && model->mtp_depth() == 0) {
    throw CommandError(flags.model.model_dir + " has no MTP layer (num_nextn_predict_layers is 0)");
  }
  const AttentionImpl impl = flags.attention == "naive" ? AttentionImpl::kNaive : AttentionImpl::kAbsorbed;
  KvCache cache = model->new_cache();
  Arena arena;
  std::vector<float> logits(T * c.vocab_size), hidden(T * c.hidden_size);
  const int64_t step = flags.mode == "decode" ? 1 : T;
  for (int64_t pos = 0; pos < T; pos += step) {
    model->forward({.tokens = std::span(tokens).subspan(pos, step), .cache = &cache,
                    .arena = &arena, .hidden_out = hidden.data() + pos * c.hidden_size,
                    .logits_out = logits.data() + pos * c.vocab_size, .attention = impl});
  }
  // Nothing is written from a forward that went non-finite (broken weights or config).
  unwrap(check_logits_finite(logits, c.vocab_size, "the forward pass"));
  if (!with_mtp) return write_floats(flags.out, logits);
  std::vector<float> mtp_logits((T - 1) * c.vocab_size);
  if (T > 1) {
    KvCache mtp_cache = model->new_mtp_cache();
    model->mtp_forward({.tokens = std::span(tokens).subspan(1), .hidden = hidden.data(),
                        .cache = &mtp_cache, .arena = &arena, .logits_out = mtp_logits.data(),
                        .attention = impl});
  }
  unwrap(check_logits_finite(mtp_logits, c.vocab_size, "the MTP layer's forward pass"));
  write_floats(flags.out, mtp_logits);
}

}  // namespace

void add_logits_command(CLI::App& root) {
  auto flags = std::make_shared<LogitsFlags>();
  CLI::App* cmd = root.add_subcommand(
      "logits", "write the logits of every position as little-endian float32 [T, vocab]");
  flags->model.add_to(cmd);
  cmd->add_option("--tokens", flags->tokens, "comma-separated token ids, e.g. 0,5,17")->required();
  cmd->add_option("--mode", flags->mode, "prefill (one pass) or decode (one token at a time)")
      ->check(CLI::IsMember({"prefill", "decode"}));
  cmd->add_flag("--mtp", flags->mtp, "write the MTP layer's logits instead, [T-1, vocab]");
  cmd->add_option("--attention", flags->attention, "absorbed (default) or naive MLA")
      ->check(CLI::IsMember({"absorbed", "naive"}));
  cmd->add_option("--out,-o", flags->out, "output file")->required();
  set_model_command_callback(cmd, flags->model, [flags] { run(*flags); });
}

}  // namespace dsv3::cli
