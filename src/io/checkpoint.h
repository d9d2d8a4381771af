// A Hugging Face checkpoint directory: config.json plus either model.safetensors.index.json
// with its shards or a single model.safetensors. All shards are mapped, none copied.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace dsv3 {

class Checkpoint {
 public:
  static Result<Checkpoint> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // The tensor, or an error naming it and the checkpoint.
  Result<TensorView> get(const std::string& name) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  size_t total_bytes() const;
  // Pins every shard in memory (--mlock).
  Status lock_all();

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, TensorView> tensors_;
};

}  // namespace dsv3
