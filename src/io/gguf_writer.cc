#include "io/gguf_writer.h"

#include <cstring>

#include "util/atomic_file.h"

namespace dsv3 {

namespace {

template <typename T> void put(std::vector<uint8_t> &out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

void put_string(std::vector<uint8_t> &out, const std::string &s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void put_scalar(std::vector<uint8_t> &out, const GgufValue &v) {
  const auto u = [&] { return std::get<uint64_t>(v.scalar); };
  const auto i = [&] { return std::get<int64_t>(v.scalar); };
  const auto d = [&] { return std::get<double>(v.scalar); };
  switch (v.type) {
  case GgufValueType::kU8:
    put<uint8_t>(out, uint8_t(u()));
    break;
  case GgufValueType::kU16:
    put<uint16_t>(out, uint16_t(u()));
    break;
  case GgufValueType::kU32:
    put<uint32_t>(out, uint32_t(u()));
    break;
  case GgufValueType::kU64:
    put<uint64_t>(out, u());
    break;
  case GgufValueType::kI8:
    put<int8_t>(out, int8_t(i()));
    break;
  case GgufValueType::kI16:
    put<int16_t>(out, int16_t(i()));
    break;
  case GgufValueType::kI32:
    put<int32_t>(out, int32_t(i()));
    break;
  case GgufValueType::kI64:
    put<int64_t>(out, i());
    break;
  case GgufValueType::kF32:
    put<float>(out, float(d()));
    break;
  case GgufValueType::kF64:
    put<double>(out, d());
    break;
  case GgufValueType::kBool:
    put<uint8_t>(out, std::get<bool>(v.scalar) ? 1 : 0);
    break;
  case GgufValueType::kString:
    put_string(out, std::get<std::string>(v.scalar));
    break;
  case GgufValueType::kArray:
    DSV3_CHECK(false, "nested GGUF arrays are not written");
    break;
  }
}

} // namespace

void GgufWriter::key(const std::string &k, GgufValueType t) {
  put_string(kv_bytes_, k);
  put<uint32_t>(kv_bytes_, uint32_t(t));
  ++n_kv_;
}

void GgufWriter::add_uint32(const std::string &k, uint32_t v) {
  key(k, GgufValueType::kU32);
  put(kv_bytes_, v);
  if (k == "general.alignment")
    alignment_ = v;
}
void GgufWriter::add_int32(const std::string &k, int32_t v) {
  key(k, GgufValueType::kI32);
  put(kv_bytes_, v);
}
void GgufWriter::add_uint64(const std::string &k, uint64_t v) {
  key(k, GgufValueType::kU64);
  put(kv_bytes_, v);
}
void GgufWriter::add_float32(const std::string &k, float v) {
  key(k, GgufValueType::kF32);
  put(kv_bytes_, v);
}
void GgufWriter::add_bool(const std::string &k, bool v) {
  key(k, GgufValueType::kBool);
  put<uint8_t>(kv_bytes_, v ? 1 : 0);
}
void GgufWriter::add_string(const std::string &k, const std::string &v) {
  key(k, GgufValueType::kString);
  put_string(kv_bytes_, v);
}
void GgufWriter::add_string_array(const std::string &k,
                                  const std::vector<std::string> &v) {
  key(k, GgufValueType::kArray);
  put<uint32_t>(kv_bytes_, uint32_t(GgufValueType::kString));
  put<uint64_t>(kv_bytes_, v.size());
  for (const auto &s : v)
    put_string(kv_bytes_, s);
}
void GgufWriter::add_int32_array(const std::string &k,
                                 const std::vector<int32_t> &v) {
  key(k, GgufValueType::kArray);
  put<uint32_t>(kv_bytes_, uint32_t(GgufValueType::kI32));
  put<uint64_t>(kv_bytes_, v.size());
  for (int32_t x : v)
    put(kv_bytes_, x);
}
void GgufWriter::add_float32_array(const std::string &k,
                                   const std::vector<float> &v) {
  key(k, GgufValueType::kArray);
  put<uint32_t>(kv_bytes_, uint32_t(GgufValueType::kF32));
  put<uint64_t>(kv_bytes_, v.size());
  for (float x : v)
    put(kv_bytes_, x);
}

void GgufWriter::add_value(const std::string &k, const GgufValue &v) {
  key(k, v.type);
  if (!v.is_array()) {
    put_scalar(kv_bytes_, v);
    if (k == "general.alignment")
      alignment_ = std::get<uint64_t>(v.scalar);
    return;
  }
  put<uint32_t>(kv_bytes_, uint32_t(v.element_type));
  put<uint64_t>(kv_bytes_, v.array.size());
  for (const auto &e : v.array)
    put_scalar(kv_bytes_, e);
}

void GgufWriter::add_tensor(const std::string &name, GgmlType type,
                            const std::vector<int64_t> &ne,
                            std::vector<uint8_t> bytes) {
  int64_t rows = 1;
  for (size_t d = 1; d < ne.size(); ++d)
    rows *= ne[d];
  DSV3_CHECK(!ne.empty() &&
                 uint64_t(ggml_row_bytes(type, ne[0]) * rows) == bytes.size(),
             "GgufWriter: tensor %s has %zu bytes for its shape", name.c_str(),
             bytes.size());
  tensors_.push_back({name, type, ne, std::move(bytes)});
}

std::vector<uint8_t> GgufWriter::serialize() const {
  std::vector<uint8_t> out = {'G', 'G', 'U', 'F'};
  put<uint32_t>(out, version_);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, n_kv_);
  out.insert(out.end(), kv_bytes_.begin(), kv_bytes_.end());
  const auto align = [&](uint64_t x) {
    return (x + alignment_ - 1) / alignment_ * alignment_;
  };
  uint64_t offset = 0;
  for (const auto &t : tensors_) {
    put_string(out, t.name);
    put<uint32_t>(out, uint32_t(t.ne.size()));
    for (int64_t d : t.ne)
      put<uint64_t>(out, uint64_t(d));
    put<uint32_t>(out, uint32_t(t.type));
    put<uint64_t>(out, offset);
    offset = align(offset + t.bytes.size());
  }
  out.resize(align(out.size()), 0);
  for (const auto &t : tensors_) {
    out.insert(out.end(), t.bytes.begin(), t.bytes.end());
    out.resize(align(out.size()), 0);
  }
  return out;
}

Result<uint64_t> GgufWriter::write(const std::string &path) const {
  const std::vector<uint8_t> bytes = serialize();
  DSV3_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create(path));
  DSV3_TRY(f.write(bytes.data(), bytes.size()));
  DSV3_TRY(f.commit());
  return uint64_t(bytes.size());
}

} // namespace dsv3
