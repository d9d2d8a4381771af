#include "io/gguf.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <regex>

namespace dsv3 {

namespace {

constexpr uint64_t kDefaultAlignment = 32;
// Bytes a value of each scalar type takes in the file (0 for strings and
// arrays).
uint64_t scalar_bytes(GgufValueType t) {
  switch (t) {
  case GgufValueType::kU8:
  case GgufValueType::kI8:
  case GgufValueType::kBool:
    return 1;
  case GgufValueType::kU16:
  case GgufValueType::kI16:
    return 2;
  case GgufValueType::kU32:
  case GgufValueType::kI32:
  case GgufValueType::kF32:
    return 4;
  case GgufValueType::kU64:
  case GgufValueType::kI64:
  case GgufValueType::kF64:
    return 8;
  default:
    return 0;
  }
}

} // namespace

const char *gguf_value_type_name(GgufValueType t) {
  switch (t) {
  case GgufValueType::kU8:
    return "uint8";
  case GgufValueType::kI8:
    return "int8";
  case GgufValueType::kU16:
    return "uint16";
  case GgufValueType::kI16:
    return "int16";
  case GgufValueType::kU32:
    return "uint32";
  case GgufValueType::kI32:
    return "int32";
  case GgufValueType::kF32:
    return "float32";
  case GgufValueType::kBool:
    return "bool";
  case GgufValueType::kString:
    return "string";
  case GgufValueType::kArray:
    return "array";
  case GgufValueType::kU64:
    return "uint64";
  case GgufValueType::kI64:
    return "int64";
  case GgufValueType::kF64:
    return "float64";
  }
  return "unknown";
}

// Reads the header with every read bounded by the file; errors say where (byte
// offset) and what (key / tensor) was being read.
class GgufParser {
public:
  GgufParser(const uint8_t *data, uint64_t size, std::string path)
      : data_(data), size_(size), path_(std::move(path)) {}

  Status parse(GgufFile &out) {
    if (size_ < 24)
      return fail("file of ", size_, " bytes is too short for a GGUF header");
    if (std::memcmp(data_, "GGUF", 4) != 0) {
      return fail(
          "magic is not \"GGUF\" (not a GGUF file, or a big-endian one)");
    }
    pos_ = 4;
    uint32_t version = 0;
    DSV3_TRY(read(version));
    if (version != 2 && version != 3) {
      return fail("GGUF version ", version,
                  " is not supported (expected 2 or 3)");
    }
    out.version_ = version;
    uint64_t n_tensors = 0, n_kv = 0;
    DSV3_TRY(read(n_tensors));
    DSV3_TRY(read(n_kv));
    // Each key-value pair takes at least 13 bytes, each tensor info at
    // least 24.
    if (n_kv > remaining() / 13)
      return fail("metadata count ", n_kv, " is absurd for the file size");
    if (n_tensors > remaining() / 24) {
      return fail("tensor count ", n_tensors, " is absurd for the file size");
    }
    out.metadata_.set_origin(path_);
    for (uint64_t i = 0; i < n_kv; ++i)
      DSV3_TRY(parse_kv(out.metadata_));
    DSV3_TRY(read_alignment(out));
    std::vector<std::pair<GgufTensor, uint64_t>>
        infos; // tensor, offset in the data section
    for (uint64_t i = 0; i < n_tensors; ++i) {
      DSV3_ASSIGN_OR_RETURN(auto info, parse_tensor_info());
      infos.push_back(std::move(info));
    }
    const uint64_t data_start = align_up(pos_, out.alignment_);
    if (data_start > size_)
      return fail("the data section would start past the end of the file");
    for (auto &[t, offset] : infos) {
      DSV3_TRY(place_tensor(t, offset, data_start, out.alignment_));
      if (out.tensors_.count(t.name))
        return fail("tensor '", t.name, "' appears twice");
      out.tensors_.emplace(t.name, std::move(t));
    }
    return check_no_overlap(out.tensors_);
  }

private:
  template <typename... Parts> Error fail(const Parts &...parts) const {
    return Err(path_, ": ", parts...);
  }
  uint64_t remaining() const { return size_ - pos_; }
  static uint64_t align_up(uint64_t x, uint64_t a) {
    return (x + a - 1) / a * a;
  }

  template <typename T> Status read(T &v) {
    if (remaining() < sizeof(T)) {
      return fail("truncated at byte ", pos_, ": needs ", sizeof(T),
                  " more bytes");
    }
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return OkStatus();
  }

  Result<std::string> read_string(const char *what) {
    uint64_t n = 0;
    DSV3_TRY(read(n));
    if (n > remaining() || n > kGgufMaxStringBytes) {
      return fail(what, " at byte ", pos_ - 8, " claims ", n, " bytes (",
                  remaining(), " left in the file, at most ",
                  kGgufMaxStringBytes, " accepted)");
    }
    std::string s(reinterpret_cast<const char *>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

  Result<GgufValueType> read_value_type(const std::string &key) {
    uint32_t t = 0;
    DSV3_TRY(read(t));
    if (t > uint32_t(GgufValueType::kF64)) {
      return fail("metadata '", key, "' has value type ", t,
                  " (expected 0..12)");
    }
    return GgufValueType(t);
  }

  Status read_scalar(GgufValueType t, const std::string &key, GgufValue &v) {
    v.type = t;
    switch (t) {
    case GgufValueType::kU8: {
      uint8_t x = 0;
      DSV3_TRY(read(x));
      v.scalar = uint64_t(x);
      break;
    }
    case GgufValueType::kU16: {
      uint16_t x = 0;
      DSV3_TRY(read(x));
      v.scalar = uint64_t(x);
      break;
    }
    case GgufValueType::kU32: {
      uint32_t x = 0;
      DSV3_TRY(read(x));
      v.scalar = uint64_t(x);
      break;
    }
    case GgufValueType::kU64: {
      uint64_t x = 0;
      DSV3_TRY(read(x));
      v.scalar = x;
      break;
    }
    case GgufValueType::kI8: {
      int8_t x = 0;
      DSV3_TRY(read(x));
      v.scalar = int64_t(x);
      break;
    }
    case GgufValueType::kI16: {
      int16_t x = 0;
      DSV3_TRY(read(x));
      v.scalar = int64_t(x);
      break;
    }
    case GgufValueType::kI32: {
      int32_t x = 0;
      DSV3_TRY(read(x));
      v.scalar = int64_t(x);
      break;
    }
    case GgufValueType::kI64: {
      int64_t x = 0;
      DSV3_TRY(read(x));
      v.scalar = x;
      break;
    }
    case GgufValueType::kF32: {
      float x = 0;
      DSV3_TRY(read(x));
      v.scalar = double(x);
      break;
    }
    case GgufValueType::kF64: {
      double x = 0;
      DSV3_TRY(read(x));
      v.scalar = x;
      break;
    }
    case GgufValueType::kBool: {
      uint8_t x = 0;
      DSV3_TRY(read(x));
      if (x > 1)
        return fail("metadata '", key, "': bool value ", int(x),
                    " (expected 0 or 1)");
      v.scalar = x == 1;
      break;
    }
    case GgufValueType::kString: {
      DSV3_ASSIGN_OR_RETURN(std::string s,
                            read_string(("value of '" + key + "'").c_str()));
      v.scalar = std::move(s);
      break;
    }
    case GgufValueType::kArray:
      return fail("metadata '", key, "': arrays of arrays are not supported");
    }
    return OkStatus();
  }

  Status parse_kv(GgufMetadata &md) {
    DSV3_ASSIGN_OR_RETURN(std::string key, read_string("a metadata key"));
    DSV3_ASSIGN_OR_RETURN(GgufValueType type, read_value_type(key));
    GgufValue v;
    if (type != GgufValueType::kArray) {
      DSV3_TRY(read_scalar(type, key, v));
    } else {
      v.type = type;
      DSV3_ASSIGN_OR_RETURN(v.element_type, read_value_type(key));
      uint64_t count = 0;
      DSV3_TRY(read(count));
      // A string element takes at least its 8-byte length.
      const uint64_t min_bytes =
          std::max<uint64_t>(scalar_bytes(v.element_type),
                             8 * (v.element_type == GgufValueType::kString));
      if (v.element_type == GgufValueType::kArray) {
        return fail("metadata '", key, "': arrays of arrays are not supported");
      }
      if (count > remaining() / min_bytes) {
        return fail("metadata '", key, "': array of ", count, " ",
                    gguf_value_type_name(v.element_type),
                    " does not fit in the ", remaining(), " bytes left");
      }
      v.array.resize(count);
      for (auto &e : v.array)
        DSV3_TRY(read_scalar(v.element_type, key, e));
    }
    if (!md.mutable_values().emplace(key, std::move(v)).second) {
      return fail("metadata key '", key, "' appears twice");
    }
    return OkStatus();
  }

  Status read_alignment(GgufFile &out) {
    out.alignment_ = kDefaultAlignment;
    if (!out.metadata_.has("general.alignment"))
      return OkStatus();
    DSV3_ASSIGN_OR_RETURN(int64_t a,
                          out.metadata_.get_int("general.alignment"));
    if (a <= 0 || a > (1 << 20) || (a & (a - 1)) != 0) {
      return fail("general.alignment is ", a,
                  " (expected a power of two up to 1 MiB)");
    }
    out.alignment_ = uint64_t(a);
    return OkStatus();
  }

  Result<std::pair<GgufTensor, uint64_t>> parse_tensor_info() {
    GgufTensor t;
    t.file = path_;
    DSV3_ASSIGN_OR_RETURN(t.name, read_string("a tensor name"));
    uint32_t n_dims = 0;
    DSV3_TRY(read(n_dims));
    if (n_dims == 0 || n_dims > uint32_t(kGgufMaxDims)) {
      return fail("tensor '", t.name, "' has ", n_dims,
                  " dimensions (expected 1 to ", kGgufMaxDims, ")");
    }
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = 0;
      DSV3_TRY(read(ne));
      if (ne == 0 || ne > (uint64_t(1) << 50) ||
          numel > (uint64_t(1) << 50) / ne) {
        return fail("tensor '", t.name, "': dimension ", d, " is ", ne,
                    " (expected 1 to 2^50, product too)");
      }
      numel *= ne;
      t.ne.push_back(int64_t(ne));
    }
    uint32_t type_id = 0;
    DSV3_TRY(read(type_id));
    const auto type = ggml_type_from_id(type_id);
    if (!type)
      return fail("tensor '", t.name, "' has ggml type ", type_id,
                  ", which is not a known type");
    t.type = *type;
    const GgmlTypeInfo &info = ggml_type_info(t.type);
    if (t.ne[0] % info.block_elements != 0) {
      return fail("tensor '", t.name, "': row length ", t.ne[0],
                  " is not a multiple of ", info.block_elements,
                  ", the block size of ", info.name);
    }
    t.nbytes =
        numel / uint64_t(info.block_elements) * uint64_t(info.block_bytes);
    uint64_t offset = 0;
    DSV3_TRY(read(offset));
    return std::pair(std::move(t), offset);
  }

  Status place_tensor(GgufTensor &t, uint64_t offset, uint64_t data_start,
                      uint64_t alignment) {
    if (offset % alignment != 0) {
      return fail("tensor '", t.name, "': offset ", offset,
                  " is not a multiple of the alignment ", alignment);
    }
    const uint64_t data_size = size_ - data_start;
    if (offset > data_size || t.nbytes > data_size - offset) {
      return fail("tensor '", t.name, "': bytes [", offset, ", ",
                  offset + t.nbytes, ") of the data section lie past its end (",
                  data_size, " bytes; truncated or corrupt file?)");
    }
    t.data = data_ + data_start + offset;
    return OkStatus();
  }

  // Tensors must not share bytes: a lying header could alias two weights.
  Status check_no_overlap(const std::map<std::string, GgufTensor> &ts) const {
    std::vector<const GgufTensor *> sorted;
    for (const auto &[name, t] : ts)
      sorted.push_back(&t);
    std::sort(sorted.begin(), sorted.end(),
              [](const GgufTensor *a, const GgufTensor *b) {
                return a->data < b->data;
              });
    for (size_t i = 1; i < sorted.size(); ++i) {
      if (sorted[i - 1]->data + sorted[i - 1]->nbytes > sorted[i]->data) {
        return fail("tensors '", sorted[i - 1]->name, "' and '",
                    sorted[i]->name, "' overlap in the data section");
      }
    }
    return OkStatus();
  }

  const uint8_t *data_;
  uint64_t size_;
  std::string path_;
  uint64_t pos_ = 0;
};

int64_t GgufTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : ne)
    n *= d;
  return n;
}

std::vector<int64_t> GgufTensor::torch_shape() const {
  return {ne.rbegin(), ne.rend()};
}

Result<GgufFile> GgufFile::open(const std::string &path) {
  DSV3_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path));
  DSV3_ASSIGN_OR_RETURN(GgufFile f,
                        parse(mapped.data(), mapped.size(), path));
  f.file_ = std::move(mapped); // the tensors point into the mapping it keeps
  return f;
}

Result<GgufFile> GgufFile::parse(const uint8_t *data, size_t size,
                                 const std::string &origin) {
  GgufFile f;
  f.origin_ = origin;
  GgufParser parser(data, size, origin);
  DSV3_TRY(parser.parse(f));
  return f;
}

// ---- Metadata getters
// ------------------------------------------------------------------------

const GgufValue *GgufMetadata::find(const std::string &key) const {
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

Error GgufMetadata::wrong_type(const std::string &key, const GgufValue &v,
                               const char *expected) const {
  std::string found = gguf_value_type_name(v.type);
  if (v.is_array())
    found += std::string(" of ") + gguf_value_type_name(v.element_type);
  return Err(origin_, ": metadata '", key, "' is ", found, ", expected ",
             expected);
}

namespace {

std::optional<int64_t> as_int(const GgufValue &v) {
  if (const auto *u = std::get_if<uint64_t>(&v.scalar)) {
    if (*u > uint64_t(std::numeric_limits<int64_t>::max()))
      return std::nullopt;
    return int64_t(*u);
  }
  if (const auto *i = std::get_if<int64_t>(&v.scalar))
    return *i;
  return std::nullopt;
}

std::optional<double> as_float(const GgufValue &v) {
  if (const auto *d = std::get_if<double>(&v.scalar))
    return *d;
  if (auto i = as_int(v))
    return double(*i);
  return std::nullopt;
}

} // namespace

#define DSV3_GGUF_FIND(key)                                                    \
  const GgufValue *v = find(key);                                              \
  if (v == nullptr)                                                            \
  return Err(origin_, ": metadata '", key, "' is missing")

Result<int64_t> GgufMetadata::get_int(const std::string &key) const {
  DSV3_GGUF_FIND(key);
  auto i = v->is_array() ? std::nullopt : as_int(*v);
  if (!i)
    return wrong_type(key, *v, "an integer");
  return *i;
}

Result<double> GgufMetadata::get_float(const std::string &key) const {
  DSV3_GGUF_FIND(key);
  auto d = v->is_array() ? std::nullopt : as_float(*v);
  if (!d)
    return wrong_type(key, *v, "a number");
  return *d;
}

Result<bool> GgufMetadata::get_bool(const std::string &key) const {
  DSV3_GGUF_FIND(key);
  if (v->type != GgufValueType::kBool)
    return wrong_type(key, *v, "a bool");
  return std::get<bool>(v->scalar);
}

Result<std::string> GgufMetadata::get_string(const std::string &key) const {
  DSV3_GGUF_FIND(key);
  if (v->type != GgufValueType::kString)
    return wrong_type(key, *v, "a string");
  return std::get<std::string>(v->scalar);
}

Result<std::vector<std::string>>
GgufMetadata::get_string_array(const std::string &key) const {
  DSV3_GGUF_FIND(key);
  if (!v->is_array() || v->element_type != GgufValueType::kString) {
    return wrong_type(key, *v, "an array of strings");
  }
  std::vector<std::string> out;
  out.reserve(v->array.size());
  for (const auto &e : v->array)
    out.push_back(std::get<std::string>(e.scalar));
  return out;
}

Result<std::vector<int64_t>>
GgufMetadata::get_int_array(const std::string &key) const {
  DSV3_GGUF_FIND(key);
  if (!v->is_array())
    return wrong_type(key, *v, "an array of integers");
  std::vector<int64_t> out;
  out.reserve(v->array.size());
  for (const auto &e : v->array) {
    auto i = as_int(e);
    if (!i)
      return wrong_type(key, *v, "an array of integers");
    out.push_back(*i);
  }
  return out;
}

Result<std::vector<double>>
GgufMetadata::get_float_array(const std::string &key) const {
  DSV3_GGUF_FIND(key);
  if (!v->is_array())
    return wrong_type(key, *v, "an array of numbers");
  std::vector<double> out;
  out.reserve(v->array.size());
  for (const auto &e : v->array) {
    auto d = as_float(e);
    if (!d)
      return wrong_type(key, *v, "an array of numbers");
    out.push_back(*d);
  }
  return out;
}

#undef DSV3_GGUF_FIND

Result<int64_t> GgufMetadata::get_int_or(const std::string &key,
                                         int64_t fallback) const {
  return has(key) ? get_int(key) : Result<int64_t>(fallback);
}
Result<double> GgufMetadata::get_float_or(const std::string &key,
                                          double fallback) const {
  return has(key) ? get_float(key) : Result<double>(fallback);
}
Result<bool> GgufMetadata::get_bool_or(const std::string &key,
                                       bool fallback) const {
  return has(key) ? get_bool(key) : Result<bool>(fallback);
}

// ---- Split files
// -----------------------------------------------------------------------------

std::optional<GgufSplitName> parse_gguf_split_name(const std::string &path) {
  static const std::regex kSplit(R"((.*)-(\d{5})-of-(\d{5})\.gguf)");
  std::smatch m;
  if (!std::regex_match(path, m, kSplit))
    return std::nullopt;
  GgufSplitName s{m[1].str(), std::stoi(m[2].str()), std::stoi(m[3].str())};
  if (s.count < 1 || s.index < 1 || s.index > s.count)
    return std::nullopt;
  return s;
}

std::string gguf_split_path(const std::string &prefix, int index, int count) {
  char tail[32];
  std::snprintf(tail, sizeof tail, "-%05d-of-%05d.gguf", index, count);
  return prefix + tail;
}

namespace {

// The split.* keys of part `index` (1-based) of `count` must say so.
Status check_split_keys(const GgufFile &part, int index, int count) {
  const GgufMetadata &md = part.metadata();
  if (!md.has("split.count")) {
    if (count == 1)
      return OkStatus();
    return Err(part.path(), ": part ", index, " of ", count,
               " has no 'split.count' metadata");
  }
  DSV3_ASSIGN_OR_RETURN(int64_t n, md.get_int("split.count"));
  DSV3_ASSIGN_OR_RETURN(int64_t no, md.get_int_or("split.no", 0));
  if (n != count || no != index - 1) {
    return Err(part.path(), ": split.count = ", n, ", split.no = ", no,
               ", expected ", count, " and ", index - 1, " from the file name");
  }
  return OkStatus();
}

} // namespace

Status GgufModelFiles::add_part(GgufFile part, int index, int count) {
  DSV3_TRY(check_split_keys(part, index, count));
  auto owned = std::make_unique<GgufFile>(std::move(part));
  for (const auto &[name, t] : owned->tensors()) {
    if (!tensors_.emplace(name, t).second) {
      return Err(owned->path(), ": tensor '", name,
                 "' is also in an earlier part");
    }
  }
  parts_.push_back(std::move(owned));
  return OkStatus();
}

Result<GgufModelFiles> GgufModelFiles::from_file(GgufFile file) {
  GgufModelFiles m;
  DSV3_TRY(m.add_part(std::move(file), 1, 1));
  return m;
}

Result<GgufModelFiles> GgufModelFiles::open(const std::string &path) {
  GgufModelFiles m;
  const auto split = parse_gguf_split_name(path);
  const int count = split ? split->count : 1;
  for (int i = 1; i <= count; ++i) {
    const std::string part_path =
        split ? gguf_split_path(split->prefix, i, count) : path;
    DSV3_ASSIGN_OR_RETURN(GgufFile part, GgufFile::open(part_path));
    DSV3_TRY(m.add_part(std::move(part), i, count));
  }
  const GgufMetadata &md = m.metadata();
  if (split && md.has("split.tensors.count")) {
    DSV3_ASSIGN_OR_RETURN(int64_t n, md.get_int("split.tensors.count"));
    if (uint64_t(n) != m.tensors_.size()) {
      return Err(path, ": split.tensors.count = ", n, " but the ", count,
                 " parts hold ", m.tensors_.size(), " tensors");
    }
  }
  return m;
}

Result<GgufTensor> GgufModelFiles::get(const std::string &name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    return Err(path(), ": tensor '", name, "' is missing");
  return it->second;
}

uint64_t GgufModelFiles::total_bytes() const {
  uint64_t n = 0;
  for (const auto &[name, t] : tensors_)
    n += t.nbytes;
  return n;
}

} // namespace dsv3
