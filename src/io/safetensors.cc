#include "io/safetensors.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace dsv3 {

namespace {

using nlohmann::json;

Result<TensorView> parse_entry(const std::string& path, const std::string& name,
                               const json& entry, const uint8_t* data, uint64_t data_size) {
  const std::string where = path + ": tensor '" + name + "'";
  if (!entry.is_object()) return Err(where, ": header entry is not an object");
  if (!entry.contains("dtype") || !entry["dtype"].is_string()) {
    return Err(where, ": missing or non-string 'dtype'");
  }
  const std::string dtype_str = entry["dtype"];
  const auto dtype = dtype_from_name(dtype_str);
  if (!dtype) {
    return Err(where, ": unsupported dtype '", dtype_str,
               "' (expected F32, F16, BF16, F8_E4M3, I32, I64, I8 or U8)");
  }
  if (!entry.contains("shape") || !entry["shape"].is_array()) {
    return Err(where, ": missing or non-array 'shape'");
  }
  TensorView t;
  t.name = name;
  t.dtype = *dtype;
  t.file = path;
  uint64_t numel = 1;
  for (const auto& d : entry["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      return Err(where, ": shape ", entry["shape"].dump(), " has a non-integer or negative size");
    }
    const uint64_t dim = d.get<uint64_t>();
    if (dim != 0 && numel > (uint64_t(1) << 50) / dim) return Err(where, ": shape too large");
    numel *= dim;
    t.shape.push_back(int64_t(dim));
  }
  const auto& offsets = entry.contains("data_offsets") ? entry["data_offsets"] : json();
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    return Err(where, ": 'data_offsets' must be two non-negative integers");
  }
  const uint64_t begin = offsets[0], end = offsets[1];
  if (begin > end || end > data_size) {
    return Err(where, ": data_offsets [", begin, ", ", end, "] outside the data section of ",
               data_size, " bytes (truncated or corrupt file?)");
  }
  const uint64_t expected = numel * dtype_size(*dtype);
  if (end - begin != expected) {
    return Err(where, ": ", end - begin, " bytes for ", dtype_str, " ", t.shape_string(),
               ", expected ", expected);
  }
  t.data = data + begin;
  t.nbytes = expected;
  return t;
}

// The format (and the reference implementation, which refuses anything else) requires the
// tensors' byte ranges, sorted by offset, to tile the data section exactly: no overlap (a lying
// header could alias two weights), no gap and nothing after the last tensor (extra bytes mean
// a header that no longer describes the data: every later tensor would be read shifted).
Status check_data_layout(const std::string& path, const std::map<std::string, TensorView>& ts,
                         const uint8_t* data, uint64_t data_size) {
  struct Range {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  for (const auto& [name, t] : ts) {
    const uint64_t begin = uint64_t(t.data - data);
    ranges.push_back({begin, begin + t.nbytes, &name});
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const std::string* previous = nullptr;
  for (const Range& r : ranges) {
    const std::string after =
        previous ? "tensor '" + *previous + "' ends" : "the data section starts";
    if (r.begin < covered) {
      return Err(path, ": tensors '", *previous, "' and '", *r.name,
                 "' overlap in the data section ('", *r.name, "' starts at byte ", r.begin,
                 ", '", *previous, "' ends at ", covered, ")");
    }
    if (r.begin > covered) {
      return Err(path, ": tensor '", *r.name, "' has data_offsets [", r.begin, ", ", r.end,
                 "] but ", after, " at byte ", covered, ": a gap of ", r.begin - covered,
                 " bytes (tensors must cover the data section contiguously, in offset order)");
    }
    covered = r.end;
    previous = r.name;
  }
  if (covered != data_size) {
    const std::string last = previous ? "the last tensor '" + *previous + "' ends at byte " +
                                            std::to_string(covered)
                                      : "the header lists no tensor";
    return Err(path, ": the data section has ", data_size, " bytes but ", last, ": ",
               data_size - covered,
               " bytes are not described by the header (corrupt file, or bytes inserted)");
  }
  return OkStatus();
}

}  // namespace

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  DSV3_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path));
  DSV3_ASSIGN_OR_RETURN(SafetensorsFile st, parse(mapped.data(), mapped.size(), path));
  st.file_ = std::move(mapped);  // the tensors point into the mapping it keeps
  return st;
}

Result<SafetensorsFile> SafetensorsFile::parse(const uint8_t* bytes, size_t size,
                                               const std::string& path) {
  SafetensorsFile st;
  st.origin_ = path;
  if (size < 8) return Err(path, ": ", size, " bytes, too short for a safetensors header");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxSafetensorsHeaderBytes || header_len > size - 8) {
    return Err(path, ": header length ", header_len, " is absurd (file is ", size,
               " bytes; at most ", kMaxSafetensorsHeaderBytes, " accepted)");
  }
  const char* header = reinterpret_cast<const char*>(bytes + 8);
  json j = json::parse(header, header + header_len, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Err(path, ": header is not a valid JSON object");
  }
  const uint8_t* data = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  for (const auto& [name, entry] : j.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return Err(path, ": __metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        st.metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
      }
      continue;
    }
    DSV3_ASSIGN_OR_RETURN(auto t, parse_entry(path, name, entry, data, data_size));
    st.tensors_.emplace(name, std::move(t));
  }
  DSV3_TRY(check_data_layout(path, st.tensors_, data, data_size));
  return st;
}

}  // namespace dsv3
