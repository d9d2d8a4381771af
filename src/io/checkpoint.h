// A Hugging Face checkpoint directory: config.json plus either model.safetensors.index.json
// with its shards or a single model.safetensors. Shards are mapped, none copied.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace dsv3 {

// Which tensors a process needs, by name (an expert-parallel rank needs only its share).
using TensorFilter = std::function<bool(const std::string& name)>;

class Checkpoint {
 public:
  // With a filter, only the tensors it accepts are listed, and a sharded checkpoint opens
  // only the shards that hold one of them (per the index): a rank never maps, nor needs on
  // its disk, the shards of experts it does not hold.
  static Result<Checkpoint> open(const std::string& dir, const TensorFilter& wanted = nullptr);

  // A checkpoint made of views that another loader built (GGUF files mapped as HF tensor
  // names); `storage` keeps what they point into alive (mapped files, decoded buffers).
  static Checkpoint from_views(std::string origin, std::map<std::string, TensorView> tensors,
                               std::shared_ptr<const void> storage);

  const std::string& dir() const { return dir_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // The tensor, or an error naming it and the checkpoint.
  Result<TensorView> get(const std::string& name) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  size_t total_bytes() const;  // of the listed tensors
  size_t num_shards_open() const { return shards_.size(); }
  // Pins the listed tensors in memory (--mlock).
  Status lock_all();

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, TensorView> tensors_;
  std::shared_ptr<const void> storage_;
};

}  // namespace dsv3
