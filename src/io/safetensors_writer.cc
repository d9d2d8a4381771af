#include "io/safetensors_writer.h"

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "util/atomic_file.h"

namespace dsv3 {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

Status write_safetensors(const std::string& path, std::span<const TensorToWrite> tensors,
                         const std::map<std::string, std::string>& metadata) {
  ordered_json header = ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= uint64_t(d);
    if (numel * dtype_size(t.dtype) != t.bytes.size()) {
      return Err(path, ": tensor '", t.name, "' has ", t.bytes.size(), " bytes, expected ",
                 numel * dtype_size(t.dtype));
    }
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data 8-byte aligned
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
  DSV3_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create(path));
  DSV3_TRY(f.write(len, 8));
  DSV3_TRY(f.write(text));
  for (const auto& t : tensors) DSV3_TRY(f.write(t.bytes.data(), t.bytes.size()));
  return f.commit();
}

Status write_checkpoint(const std::string& dir, const std::string& config_json,
                        std::span<const TensorToWrite> tensors, size_t max_shard_bytes) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Err("cannot create directory ", dir, ": ", ec.message());
  // Greedy split in the given order; a tensor larger than the limit gets a shard of its own.
  std::vector<std::span<const TensorToWrite>> shards;
  size_t begin = 0, bytes = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (i > begin && bytes + tensors[i].bytes.size() > max_shard_bytes) {
      shards.push_back(tensors.subspan(begin, i - begin));
      begin = i;
      bytes = 0;
    }
    bytes += tensors[i].bytes.size();
  }
  if (begin < tensors.size() || shards.empty()) shards.push_back(tensors.subspan(begin));

  ordered_json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", ordered_json::object()}};
  size_t total = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
    DSV3_TRY(write_safetensors((fs::path(dir) / name).string(), shards[s], {{"format", "pt"}}));
    for (const auto& t : shards[s]) {
      index["weight_map"][t.name] = name;
      total += t.bytes.size();
    }
  }
  index["metadata"]["total_size"] = total;
  DSV3_TRY(write_file_atomically((fs::path(dir) / "model.safetensors.index.json").string(),
                                 index.dump(2) + "\n"));
  return write_file_atomically((fs::path(dir) / "config.json").string(), config_json);
}

}  // namespace dsv3
