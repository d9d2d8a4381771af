// dsv3 convert --to gguf: a checkpoint directory as one GGUF file in
// llama.cpp's deepseek2 layout (model/gguf_convert.h).
#include "command.h"
#include "model/gguf_convert.h"

namespace dsv3::cli {

namespace {

struct ConvertFlags {
  std::string model_dir, to = "gguf", out, type = "BF16";
  bool joint_kv_b = false, no_mtp = false;
};

void run(const ConvertFlags &f) {
  if (f.to != "gguf")
    throw CommandError("--to " + f.to + " is not supported (expected gguf)");
  const std::optional<GgmlType> type = ggml_type_from_name(f.type);
  if (!type)
    throw CommandError("--type " + f.type +
                       " is not a GGML type (expected F32, F16, BF16 or Q8_0)");
  const GgufConvertSummary s =
      unwrap(convert_to_gguf({.in_dir = f.model_dir,
                              .out_path = f.out,
                              .type = *type,
                              .split_kv_b = !f.joint_kv_b,
                              .with_mtp = !f.no_mtp}));
  std::printf("wrote %s: %lld tensors, %s, %.1f MB%s\n", f.out.c_str(),
              (long long)s.tensors, f.type.c_str(), double(s.bytes) / 1e6,
              s.tokenizer ? ", with tokenizer" : "");
}

} // namespace

void add_convert_command(CLI::App &root) {
  auto f = std::make_shared<ConvertFlags>();
  CLI::App *cmd = root.add_subcommand(
      "convert",
      "write a checkpoint as a GGUF file (llama.cpp's deepseek2 layout)");
  cmd->add_option("--model,-m", f->model_dir, "source checkpoint directory")
      ->required();
  cmd->add_option("--to", f->to, "target file format: gguf")
      ->capture_default_str();
  cmd->add_option("--type", f->type,
                  "type of the matrices: F32, F16, BF16 or Q8_0 (norms and the "
                  "router stay F32)")
      ->capture_default_str();
  cmd->add_option("--out,-o", f->out, "GGUF file to write")->required();
  cmd->add_flag("--joint-kv-b", f->joint_kv_b,
                "write attn_kv_b as one tensor (older llama.cpp files) instead "
                "of attn_k_b + attn_v_b");
  cmd->add_flag("--no-mtp", f->no_mtp,
                "leave the MTP layer out, as llama.cpp's converter does");
  cmd->callback([f] { run(*f); });
}

} // namespace dsv3::cli
