// Safetensors files: an 8-byte little-endian header length, a JSON header mapping tensor names
// to {dtype, shape, data_offsets}, then the raw data. The file is mapped; tensors point into it.
// Every claim of the header is checked against the file before any tensor is handed out.
#pragma once

#include <map>
#include <string>

#include "tensor/tensor_view.h"
#include "util/mapped_file.h"
#include "util/result.h"

namespace dsv3 {

class SafetensorsFile {
 public:
  static Result<SafetensorsFile> open(const std::string& path);
  // The same checks on a file's bytes already in memory (a fuzzer's input): tensors point
  // into `data`, which must outlive the result; `origin` names it in errors and mapping() is
  // empty.
  static Result<SafetensorsFile> parse(const uint8_t* data, size_t size, const std::string& origin);

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return origin_; }
  MappedFile& mapping() { return file_; }

 private:
  MappedFile file_;
  std::string origin_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Largest header we accept: real checkpoints have a few hundred KiB at most.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100u << 20;

}  // namespace dsv3
