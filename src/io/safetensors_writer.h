// Writing safetensors files and whole Hugging Face checkpoint directories (config.json,
// shards, model.safetensors.index.json). Every file is written atomically.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "util/result.h"

namespace dsv3 {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const uint8_t> bytes;  // numel * dtype_size bytes, row-major
};

Status write_safetensors(const std::string& path, std::span<const TensorToWrite> tensors,
                         const std::map<std::string, std::string>& metadata = {});

// Writes config.json and the tensors split into shards of about `max_shard_bytes`
// (model-0000i-of-0000n.safetensors) plus model.safetensors.index.json; a single shard is
// still indexed, as the real releases do. Creates `dir` if needed.
Status write_checkpoint(const std::string& dir, const std::string& config_json,
                        std::span<const TensorToWrite> tensors, size_t max_shard_bytes);

}  // namespace dsv3
