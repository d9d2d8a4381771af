#include "io/checkpoint.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

namespace dsv3 {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// tensor name -> shard file name, from model.safetensors.index.json.
Result<std::map<std::string, std::string>> read_index(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Err("cannot read ", path);
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Err(path, ": not a valid JSON object");
  if (!j.contains("weight_map") || !j["weight_map"].is_object()) {
    return Err(path, ": missing object 'weight_map' (tensor name -> shard file)");
  }
  std::map<std::string, std::string> map;
  for (const auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string()) return Err(path, ": weight_map['", name, "'] is not a string");
    const std::string f = file;
    if (f.find('/') != std::string::npos || f == "..") {
      return Err(path, ": weight_map['", name, "'] = '", f, "' is not a file in the directory");
    }
    map[name] = f;
  }
  return map;
}

}  // namespace

Result<Checkpoint> Checkpoint::open(const std::string& dir, const TensorFilter& wanted) {
  Checkpoint ck;
  ck.dir_ = dir;
  if (!fs::is_directory(dir)) return Err("model directory ", dir, " does not exist");
  const std::string index_path = (fs::path(dir) / "model.safetensors.index.json").string();
  const std::string single_path = (fs::path(dir) / "model.safetensors").string();

  std::map<std::string, std::string> index;
  std::set<std::string> shard_names;
  if (fs::exists(index_path)) {
    DSV3_ASSIGN_OR_RETURN(index, read_index(index_path));
    if (wanted) std::erase_if(index, [&](const auto& entry) { return !wanted(entry.first); });
    for (const auto& [name, file] : index) shard_names.insert(file);
  } else if (fs::exists(single_path)) {
    shard_names.insert("model.safetensors");
  } else {
    return Err(dir, ": no model.safetensors.index.json and no model.safetensors");
  }

  for (const auto& shard : shard_names) {
    DSV3_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open((fs::path(dir) / shard).string()));
    auto owned = std::make_unique<SafetensorsFile>(std::move(file));
    for (const auto& [name, t] : owned->tensors()) {
      if (wanted && !wanted(name)) continue;
      if (!index.empty()) {
        auto it = index.find(name);
        if (it == index.end() || it->second != shard) continue;  // the index decides
      }
      if (!ck.tensors_.emplace(name, t).second) {
        return Err(dir, ": tensor '", name, "' appears in more than one shard");
      }
    }
    ck.shards_.push_back(std::move(owned));
  }
  for (const auto& [name, shard] : index) {
    if (!ck.tensors_.count(name)) {
      return Err(dir, "/", shard, ": tensor '", name,
                 "' is listed in model.safetensors.index.json but missing from the shard");
    }
  }
  return ck;
}

Checkpoint Checkpoint::from_views(std::string origin, std::map<std::string, TensorView> tensors,
                                  std::shared_ptr<const void> storage) {
  Checkpoint ck;
  ck.dir_ = std::move(origin);
  ck.tensors_ = std::move(tensors);
  ck.storage_ = std::move(storage);
  return ck;
}

Result<TensorView> Checkpoint::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return Err(dir_, ": tensor '", name, "' is missing");
  return it->second;
}

size_t Checkpoint::total_bytes() const {
  size_t n = 0;
  for (const auto& [name, t] : tensors_) n += t.nbytes;
  return n;
}

// Pins the listed tensors' pages, not whole shards: a rank of an expert-parallel job maps
// shards that also hold other ranks' experts, and pins only its own.
Status Checkpoint::lock_all() {
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  for (const auto& [name, t] : tensors_) {
    if (t.nbytes == 0) continue;
    const uintptr_t first = uintptr_t(t.data) & ~(page - 1);
    const uintptr_t end = uintptr_t(t.data) + t.nbytes;
    if (::mlock(reinterpret_cast<const void*>(first), end - first) != 0) {
      return Err("mlock of tensor '", name, "' in ", t.file, " (", t.nbytes, " bytes) failed: ",
                 std::strerror(errno), " (raise 'ulimit -l')");
    }
  }
  return OkStatus();
}

}  // namespace dsv3
