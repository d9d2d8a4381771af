// Writes GGUF v3 files (layout in io/gguf.h): metadata, then tensor infos, then
// the data section with every tensor at a multiple of the alignment. Used by
// `dsv3 convert --to gguf` and by the tests, which also use it to build
// malformed files (serialize(), then corrupt). The whole file is assembled in
// memory: meant for small and medium models.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "util/result.h"

namespace dsv3 {

class GgufWriter {
public:
  explicit GgufWriter(uint32_t version = 3) : version_(version) {}

  void add_uint32(const std::string &key, uint32_t v);
  void add_int32(const std::string &key, int32_t v);
  void add_uint64(const std::string &key, uint64_t v);
  void add_float32(const std::string &key, float v);
  void add_bool(const std::string &key, bool v);
  void add_string(const std::string &key, const std::string &v);
  void add_string_array(const std::string &key,
                        const std::vector<std::string> &v);
  void add_int32_array(const std::string &key, const std::vector<int32_t> &v);
  void add_float32_array(const std::string &key, const std::vector<float> &v);
  // Any value, as the reader holds it (for copying metadata).
  void add_value(const std::string &key, const GgufValue &v);

  // `ne` innermost first (see io/gguf.h); `bytes` must be ggml_row_bytes(type,
  // ne[0]) times the other dimensions (checked).
  void add_tensor(const std::string &name, GgmlType type,
                  const std::vector<int64_t> &ne, std::vector<uint8_t> bytes);

  size_t num_tensors() const { return tensors_.size(); }
  // The file's bytes.
  std::vector<uint8_t> serialize() const;
  // Writes the file atomically; its size in bytes.
  Result<uint64_t> write(const std::string &path) const;

private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> bytes;
  };
  void key(const std::string &k, GgufValueType t);

  uint32_t version_;
  uint64_t n_kv_ = 0;
  uint64_t alignment_ = 32;
  std::vector<uint8_t> kv_bytes_;
  std::vector<Tensor> tensors_;
};

} // namespace dsv3
