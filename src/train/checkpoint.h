// Training checkpoints. The model goes out in the Hugging Face layout that inference loads
// (config.json, model-0000i-of-0000n.safetensors, model.safetensors.index.json), MTP layers
// and every router's e_score_correction_bias included; the MTP layers' embed_tokens and
// shared_head.head are written as copies of the main embedding and lm_head. The optimizer
// state goes beside it in optimizer.safetensors. Every file is written atomically (temporary
// file, fsync, rename); the optimizer file records a hash of the weights it belongs to, so a
// crash between the two writes is caught on resume instead of silently mixing steps.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "train/params.h"
#include "util/result.h"

namespace dsv3::train {

struct ModelFiles {
  const ModelConfig* config = nullptr;
  const ParamLayout* layout = nullptr;
  const RouterBiases* bias = nullptr;
};

// dtype F32 (exact, what resuming needs) or BF16 (half the size, for inference only).
Status save_model(const std::string& dir, const ModelFiles& m, const float* params,
                  DType dtype = DType::kF32);

// Reads the weights and router biases of a checkpoint written by save_model (F32, BF16 or F16
// tensors), checking every name and shape against the layout.
Status load_model(const std::string& dir, const ModelFiles& m, float* params, RouterBiases& bias);

// FNV-1a over the parameter bytes: ties an optimizer file to the weights it was saved with.
uint64_t params_fingerprint(const float* params, int64_t count);

// Optimizer moments plus string metadata (step, data position, options, fingerprint).
struct OptimizerFile {
  std::vector<float> exp_avg, exp_avg_sq;  // [layout.total] each
  std::map<std::string, std::string> metadata;
};

Status save_optimizer(const std::string& dir, const OptimizerFile& f);
Result<OptimizerFile> load_optimizer(const std::string& dir, int64_t expected_total);

inline constexpr const char* kOptimizerFileName = "optimizer.safetensors";

}  // namespace dsv3::train
