// Writing safetensors files and whole Hugging Face checkpoint directories (config.json,
// shards, model.safetensors.index.json). Every file is written atomically.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "util/atomic_file.h"
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

// --- Streaming: the header is known up front, the data arrives in pieces, so a tensor never
// has to be in memory whole (random-weight checkpoints of any size, `dsv3 synth`).

// A tensor's name, type and shape; its bytes come later.
struct TensorSpec {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t numel() const;
  uint64_t bytes() const { return numel() * dtype_size(dtype); }
};

// One safetensors file written front to back: create() writes the header, append() the data
// of the tensors in header order, commit() checks that every byte arrived and renames the
// file into place. An uncommitted file is removed.
class SafetensorsStreamWriter {
 public:
  static Result<SafetensorsStreamWriter> create(
      const std::string& path, std::vector<TensorSpec> tensors,
      const std::map<std::string, std::string>& metadata = {});

  Status append(const void* data, size_t n);
  uint64_t data_written() const { return written_; }
  uint64_t data_size() const { return total_; }
  const std::string& path() const { return path_; }
  Status commit();

 private:
  SafetensorsStreamWriter(std::string path, AtomicFile file, uint64_t total)
      : path_(std::move(path)), file_(std::move(file)), total_(total) {}
  std::string path_;
  AtomicFile file_;
  uint64_t total_ = 0, written_ = 0;  // tensor data bytes
  uint64_t file_bytes_ = 0;           // header included (for the test crash hook)
  std::optional<uint64_t> crash_after_;
};

// Appends exactly tensors[index].bytes() bytes of tensor `index` to `out`.
using TensorProducer = std::function<Status(size_t index, SafetensorsStreamWriter& out)>;

// write_checkpoint for streamed tensors: plans the shards from the specs (same split and names
// as write_checkpoint), then calls `produce` once per tensor, in order. Returns the number of
// shards written.
Result<size_t> write_checkpoint_streaming(const std::string& dir,
                                          const std::string& config_json,
                                          std::span<const TensorSpec> tensors,
                                          size_t max_shard_bytes, const TensorProducer& produce);

}  // namespace dsv3
