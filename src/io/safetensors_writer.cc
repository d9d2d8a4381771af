#include "io/safetensors_writer.h"

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/crash_hook.h"

namespace dsv3 {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

// The 8-byte little-endian length plus the JSON header, padded so the data is 8-byte aligned.
std::string header_bytes(std::span<const TensorSpec> tensors,
                         const std::map<std::string, std::string>& metadata) {
  ordered_json header = ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes()}}};
    offset += t.bytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char(uint8_t(uint64_t(text.size()) >> (8 * i)));
  return out + text;
}

// Greedy split in the given order; a tensor larger than the limit gets a shard of its own.
// Returns [begin, end) index ranges.
std::vector<std::pair<size_t, size_t>> plan_shards(const std::vector<uint64_t>& sizes,
                                                   size_t max_shard_bytes) {
  std::vector<std::pair<size_t, size_t>> shards;
  size_t begin = 0;
  uint64_t bytes = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i > begin && bytes + sizes[i] > max_shard_bytes) {
      shards.emplace_back(begin, i);
      begin = i;
      bytes = 0;
    }
    bytes += sizes[i];
  }
  if (begin < sizes.size() || shards.empty()) shards.emplace_back(begin, sizes.size());
  return shards;
}

std::string shard_name(size_t s, size_t n) {
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, n);
  return name;
}

// write_file_atomically, with the test crash hook (crash_hook.h) keyed on the file's name.
Status write_small_file(const std::string& dir, const std::string& name, const std::string& text) {
  DSV3_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create((fs::path(dir) / name).string()));
  uint64_t written = 0;
  DSV3_TRY(crash_hook::write(f, text.data(), text.size(), written, crash_hook::arm(name)));
  return f.commit();
}

Status write_index_and_config(const std::string& dir, const ordered_json& weight_map,
                              uint64_t total, const std::string& config_json) {
  ordered_json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  DSV3_TRY(write_small_file(dir, "model.safetensors.index.json", index.dump(2) + "\n"));
  return write_small_file(dir, "config.json", config_json);
}

Status make_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Err("cannot create directory ", dir, ": ", ec.message());
  return OkStatus();
}

}  // namespace

uint64_t TensorSpec::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= uint64_t(d);
  return n;
}

Status write_safetensors(const std::string& path, std::span<const TensorToWrite> tensors,
                         const std::map<std::string, std::string>& metadata) {
  std::vector<TensorSpec> specs;
  for (const auto& t : tensors) {
    specs.push_back({t.name, t.dtype, t.shape});
    if (specs.back().bytes() != t.bytes.size()) {
      return Err(path, ": tensor '", t.name, "' has ", t.bytes.size(), " bytes, expected ",
                 specs.back().bytes());
    }
  }
  DSV3_ASSIGN_OR_RETURN(SafetensorsStreamWriter w,
                        SafetensorsStreamWriter::create(path, std::move(specs), metadata));
  for (const auto& t : tensors) DSV3_TRY(w.append(t.bytes.data(), t.bytes.size()));
  return w.commit();
}

Status write_checkpoint(const std::string& dir, const std::string& config_json,
                        std::span<const TensorToWrite> tensors, size_t max_shard_bytes) {
  DSV3_TRY(make_dir(dir));
  std::vector<uint64_t> sizes;
  for (const auto& t : tensors) sizes.push_back(t.bytes.size());
  const auto shards = plan_shards(sizes, max_shard_bytes);
  ordered_json weight_map = ordered_json::object();
  uint64_t total = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string name = shard_name(s, shards.size());
    const auto part = tensors.subspan(shards[s].first, shards[s].second - shards[s].first);
    DSV3_TRY(write_safetensors((fs::path(dir) / name).string(), part, {{"format", "pt"}}));
    for (const auto& t : part) {
      weight_map[t.name] = name;
      total += t.bytes.size();
    }
  }
  return write_index_and_config(dir, weight_map, total, config_json);
}

Result<SafetensorsStreamWriter> SafetensorsStreamWriter::create(
    const std::string& path, std::vector<TensorSpec> tensors,
    const std::map<std::string, std::string>& metadata) {
  uint64_t total = 0;
  for (const auto& t : tensors) total += t.bytes();
  const std::string header = header_bytes(tensors, metadata);
  DSV3_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create(path));
  SafetensorsStreamWriter w(path, std::move(f), total);
  w.crash_after_ = crash_hook::arm(fs::path(path).filename().string());
  DSV3_TRY(crash_hook::write(w.file_, header.data(), header.size(), w.file_bytes_, w.crash_after_));
  return w;
}

Status SafetensorsStreamWriter::append(const void* data, size_t n) {
  if (written_ + n > total_) {
    return Err(path_, ": ", written_ + n, " bytes of tensor data, the header declares ", total_);
  }
  DSV3_TRY(crash_hook::write(file_, data, n, file_bytes_, crash_after_));
  written_ += n;
  return OkStatus();
}

Status SafetensorsStreamWriter::commit() {
  if (written_ != total_) {
    return Err(path_, ": only ", written_, " of ", total_, " bytes of tensor data were written");
  }
  return file_.commit();
}

Result<size_t> write_checkpoint_streaming(const std::string& dir,
                                          const std::string& config_json,
                                          std::span<const TensorSpec> tensors,
                                          size_t max_shard_bytes, const TensorProducer& produce) {
  DSV3_TRY(make_dir(dir));
  std::vector<uint64_t> sizes;
  for (const auto& t : tensors) sizes.push_back(t.bytes());
  const auto shards = plan_shards(sizes, max_shard_bytes);
  ordered_json weight_map = ordered_json::object();
  uint64_t total = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    const auto [begin, end] = shards[s];
    const std::string name = shard_name(s, shards.size());
    std::vector<TensorSpec> part(tensors.begin() + begin, tensors.begin() + end);
    DSV3_ASSIGN_OR_RETURN(SafetensorsStreamWriter w,
                          SafetensorsStreamWriter::create((fs::path(dir) / name).string(),
                                                          std::move(part), {{"format", "pt"}}));
    for (size_t i = begin; i < end; ++i) {
      const uint64_t before = w.data_written();
      DSV3_TRY(produce(i, w));
      if (w.data_written() - before != sizes[i]) {
        return Err(w.path(), ": tensor '", tensors[i].name, "' got ", w.data_written() - before,
                   " bytes, expected ", sizes[i]);
      }
      weight_map[tensors[i].name] = name;
      total += sizes[i];
    }
    DSV3_TRY(w.commit());
  }
  DSV3_TRY(write_index_and_config(dir, weight_map, total, config_json));
  return shards.size();
}

}  // namespace dsv3
