// Fuzzes the safetensors reader with whole files parsed from memory (SafetensorsFile::parse:
// the bytes the fuzzer owns, so ASan sees a read one byte past the input, and no file is
// written per input): header length, JSON header, data section.
// Beyond "no crash", every tensor handed out must lie inside the mapped file and inside the
// data section, and its byte count must agree with its dtype and shape.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz_support.h"
#include "io/safetensors.h"

namespace {

void fail(const char* what, const std::string& name) {
  std::fprintf(stderr, "safetensors_fuzz: tensor '%s': %s\n", name.c_str(), what);
  std::abort();
}

void check_tensors(const dsv3::SafetensorsFile& file, const uint8_t* begin, size_t size) {
  const uint8_t* end = begin + size;
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | begin[i];
  const uint8_t* data_section = begin + 8 + header_len;
  for (const auto& [name, t] : file.tensors()) {
    if (t.nbytes == 0) continue;
    if (t.data < data_section || t.data > end || t.nbytes > size_t(end - t.data)) {
      fail("lies outside the data section", name);
    }
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= uint64_t(d);
    if (numel * dsv3::dtype_size(t.dtype) != t.nbytes)
      fail("byte count disagrees with shape", name);
    // Touch the first and last byte, so a wrong pointer faults here, not in a kernel later.
    volatile uint8_t sink = t.data[0] ^ t.data[t.nbytes - 1];
    (void)sink;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // 1 MiB is plenty for headers that exercise every check.
  if (size > (1u << 20)) return -1;
  dsv3::Result<dsv3::SafetensorsFile> file =
      dsv3::SafetensorsFile::parse(data, size, "fuzz.safetensors");
  dsv3::fuzz::note(file.ok() ? "file accepted" : file.error().message);
  if (file.ok()) {
    check_tensors(*file, data, size);
  } else if (file.error().message.empty()) {
    std::fprintf(stderr, "safetensors_fuzz: an error without a message\n");
    std::abort();
  }
  return 0;
}
