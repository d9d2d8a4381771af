// Fuzzes a sharded checkpoint directory: model.safetensors.index.json (the first section of
// the input) against a fixed valid shard a.safetensors (tensors "a" and "b") and an optional
// second shard b.safetensors (the second section). Every tensor the checkpoint lists must
// come from a shard and agree with what the index says.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fuzz_support.h"
#include "io/checkpoint.h"

namespace {

// A valid single-file safetensors with tensors a (F32 [2]) and b (U8 [4]).
std::string fixed_shard() {
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}})";
  std::string file(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) file[size_t(i)] = char((n >> (8 * i)) & 0xFF);
  return file + header + std::string(12, '\x01');
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dsv3::fuzz::write_scratch_file("a.safetensors", fixed_shard());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (256u << 10)) return -1;
  const auto sections = dsv3::fuzz::split_sections(dsv3::fuzz::as_text(data, size), 2);
  dsv3::fuzz::write_scratch_file("model.safetensors.index.json", sections[0]);
  if (sections.size() > 1) {
    dsv3::fuzz::write_scratch_file("b.safetensors", sections[1]);
  } else {
    dsv3::fuzz::remove_scratch_file("b.safetensors");
  }
  dsv3::Result<dsv3::Checkpoint> ck = dsv3::Checkpoint::open(dsv3::fuzz::scratch_dir());
  dsv3::fuzz::note(ck.ok() ? "checkpoint accepted" : ck.error().message);
  if (!ck.ok()) {
    if (ck.error().message.empty()) std::abort();
    return 0;
  }
  for (const auto& [name, t] : ck->tensors()) {
    if (!ck->has(name) || !ck->get(name).ok()) {
      std::fprintf(stderr, "checkpoint_index_fuzz: listed tensor '%s' cannot be fetched\n",
                   name.c_str());
      std::abort();
    }
    if (t.nbytes) {
      volatile uint8_t sink = t.data[0] ^ t.data[t.nbytes - 1];
      (void)sink;
    }
  }
  (void)ck->total_bytes();
  return 0;
}
