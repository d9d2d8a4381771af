// GGUF files (the format of llama.cpp / ik_llama.cpp), versions 2 and 3:
//
//   "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x   (string key | u32 value type | value)
//   tensor_count x (string name | u32 n_dims | u64 ne[n_dims] | u32 ggml type |
//   u64 offset) padding to general.alignment (default 32) | data section
//
// Strings are a u64 byte length and the bytes (no terminator); arrays are a u32
// element type, a u64 count and the elements. Everything is little-endian.
// ne[0] is the innermost (contiguous) dimension: a Hugging Face weight of shape
// [rows, cols] is ne = [cols, rows]. Offsets are relative to the data section
// and multiples of the alignment.
//
// The file is mapped; tensors point into it. Every claim of the header is
// checked against the file (counts, string lengths, dimensions, offsets,
// alignment, overlaps) before anything is handed out, and the work done is
// bounded by the file's size.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tensor/gguf_blocks.h"
#include "util/mapped_file.h"
#include "util/result.h"

namespace dsv3 {

// Metadata value types, as numbered in the file.
enum class GgufValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
const char *gguf_value_type_name(GgufValueType t);

// One metadata value. Integers of every width are held as int64 or uint64,
// floats as double; `type` keeps what the file said. Arrays hold scalars or
// strings (arrays of arrays are refused: no model file uses them).
struct GgufValue {
  GgufValueType type = GgufValueType::kU8;
  std::variant<uint64_t, int64_t, double, bool, std::string> scalar;
  GgufValueType element_type = GgufValueType::kU8; // arrays only
  std::vector<GgufValue> array;                    // arrays only

  bool is_array() const { return type == GgufValueType::kArray; }
};

struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::kF32;
  std::vector<int64_t> ne; // ne[0] innermost, as in the file
  const uint8_t *data = nullptr;
  uint64_t nbytes = 0;
  std::string file; // for error messages

  int64_t numel() const;
  // The shape outermost first, as torch / safetensors write it: [ne[n-1], ...,
  // ne[0]].
  std::vector<int64_t> torch_shape() const;
};

// Typed access to metadata by key, with errors that name the key, the type
// found and the type expected.
class GgufMetadata {
public:
  const GgufValue *find(const std::string &key) const;
  bool has(const std::string &key) const { return find(key) != nullptr; }
  // Any integer type whose value fits.
  Result<int64_t> get_int(const std::string &key) const;
  // Any float or integer type.
  Result<double> get_float(const std::string &key) const;
  Result<bool> get_bool(const std::string &key) const;
  Result<std::string> get_string(const std::string &key) const;
  Result<std::vector<std::string>>
  get_string_array(const std::string &key) const;
  Result<std::vector<int64_t>> get_int_array(const std::string &key) const;
  Result<std::vector<double>> get_float_array(const std::string &key) const;
  // Defaults for optional keys (a key present with the wrong type is still an
  // error).
  Result<int64_t> get_int_or(const std::string &key, int64_t fallback) const;
  Result<double> get_float_or(const std::string &key, double fallback) const;
  Result<bool> get_bool_or(const std::string &key, bool fallback) const;

  const std::map<std::string, GgufValue> &values() const { return values_; }
  std::map<std::string, GgufValue> &mutable_values() { return values_; }
  void set_origin(std::string origin) { origin_ = std::move(origin); }

private:
  Error wrong_type(const std::string &key, const GgufValue &v,
                   const char *expected) const;
  std::string origin_; // file name, for messages
  std::map<std::string, GgufValue> values_;
};

class GgufFile {
public:
  static Result<GgufFile> open(const std::string &path);
  // The same checks on a file's bytes already in memory (a fuzzer's input):
  // tensors point into `data`, which must outlive the result; `origin` names it
  // in errors and mapping() is empty.
  static Result<GgufFile> parse(const uint8_t *data, size_t size,
                                const std::string &origin);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const GgufMetadata &metadata() const { return metadata_; }
  const std::map<std::string, GgufTensor> &tensors() const { return tensors_; }
  const std::string &path() const { return origin_; }
  MappedFile &mapping() { return file_; }

private:
  friend class GgufParser;
  MappedFile file_;
  std::string origin_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  GgufMetadata metadata_;
  std::map<std::string, GgufTensor> tensors_;
};

// A model stored as one GGUF file or split into NAME-0000i-of-0000N.gguf
// (llama.cpp's gguf-split). Opening any part opens all of them; the metadata is
// the first part's, and the split.* keys of every part are checked (split.no,
// split.count, split.tensors.count).
class GgufModelFiles {
public:
  static Result<GgufModelFiles> open(const std::string &path);
  // A model of one part already opened or parsed (GgufFile::parse); its split.*
  // keys, when present, must say "part 1 of 1".
  static Result<GgufModelFiles> from_file(GgufFile file);

  const GgufMetadata &metadata() const { return parts_.front()->metadata(); }
  const std::map<std::string, GgufTensor> &tensors() const { return tensors_; }
  Result<GgufTensor> get(const std::string &name) const;
  bool has(const std::string &name) const { return tensors_.count(name) != 0; }
  size_t num_parts() const { return parts_.size(); }
  const std::string &path() const { return parts_.front()->path(); }
  uint64_t total_bytes() const;

private:
  // Checks part `index` (1-based) of `count` and takes its tensors.
  Status add_part(GgufFile part, int index, int count);

  std::vector<std::unique_ptr<GgufFile>> parts_;
  std::map<std::string, GgufTensor> tensors_;
};

// "NAME-00002-of-00005.gguf" -> {"NAME", 2, 5}; nullopt for any other name.
struct GgufSplitName {
  std::string prefix;
  int index = 0;
  int count = 0;
};
std::optional<GgufSplitName> parse_gguf_split_name(const std::string &path);
std::string gguf_split_path(const std::string &prefix, int index, int count);

// Limits of what we accept: far above any real file, low enough that a lying
// header cannot make us allocate or loop without bound.
inline constexpr uint64_t kGgufMaxStringBytes = 64u << 20;
inline constexpr int kGgufMaxDims = 4;

} // namespace dsv3
