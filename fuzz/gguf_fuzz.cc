// Fuzzes the GGUF reader with whole files parsed from memory (GgufFile::parse: the bytes
// the fuzzer owns, so ASan sees a read one byte past the input), then what dsv3 makes of
// an accepted file: the deepseek2 metadata as a ModelConfig (gguf_model_config) and the
// tokenizer.* metadata as a Tokenizer (tokenizer_from_gguf).
// Beyond "no crash": every tensor lies inside the data section at a multiple of the
// alignment, its byte count agrees with its type and shape, no two overlap, and every row
// of a decodable type decodes; every metadata getter answers or refuses with a message.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/gguf_tokenizer.h"
#include "fuzz_support.h"
#include "io/gguf.h"
#include "model/gguf_model.h"
#include "tokenizer/stream_decoder.h"

namespace {

constexpr const char* kOrigin = "fuzz.gguf";

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "gguf_fuzz: %s\n", what.c_str());
  std::abort();
}

template <typename T>
void expect_message(const dsv3::Result<T>& r, const std::string& what) {
  if (!r.ok() && r.error().message.empty()) fail(what + ": an error without a message");
}

void check_tensors(const dsv3::GgufFile& file, const uint8_t* begin, size_t size) {
  const uint8_t* end = begin + size;
  std::vector<std::pair<const uint8_t*, uint64_t>> spans;
  std::vector<float> row;
  for (const auto& [name, t] : file.tensors()) {
    const dsv3::GgmlTypeInfo& info = dsv3::ggml_type_info(t.type);
    if (t.ne.empty() || t.ne[0] % info.block_elements != 0) fail("'" + name + "': bad shape");
    uint64_t rows = 1;
    for (size_t d = 1; d < t.ne.size(); ++d) rows *= uint64_t(t.ne[d]);
    const int64_t row_bytes = dsv3::ggml_row_bytes(t.type, t.ne[0]);
    if (uint64_t(row_bytes) * rows != t.nbytes) fail("'" + name + "': bytes disagree with shape");
    if (t.nbytes == 0) continue;
    if (t.data < begin || t.data > end || t.nbytes > uint64_t(end - t.data)) {
      fail("'" + name + "' lies outside the input");
    }
    if (uint64_t(t.data - begin) % file.alignment() != 0) fail("'" + name + "' is not aligned");
    spans.emplace_back(t.data, t.nbytes);
    if (!info.decodable) continue;
    // Every row: the work is bounded by the tensor's bytes, which the input holds.
    row.resize(size_t(t.ne[0]));
    for (uint64_t r = 0; r < rows; ++r) {
      dsv3::decode_ggml_row(t.type, t.data + r * uint64_t(row_bytes), t.ne[0], row.data());
    }
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i - 1].first + spans[i - 1].second > spans[i].first) fail("two tensors overlap");
  }
}

// Every typed getter on every key: conversions between the stored and the asked type.
void check_metadata(const dsv3::GgufMetadata& md) {
  for (const auto& [key, value] : md.values()) {
    expect_message(md.get_int(key), key);
    expect_message(md.get_float(key), key);
    expect_message(md.get_bool(key), key);
    expect_message(md.get_string(key), key);
    expect_message(md.get_string_array(key), key);
    expect_message(md.get_int_array(key), key);
    expect_message(md.get_float_array(key), key);
  }
}

void check_model_config(const dsv3::GgufModelFiles& files) {
  dsv3::Result<dsv3::ModelConfig> config = dsv3::gguf_model_config(files);
  expect_message(config, "gguf_model_config");
  dsv3::fuzz::note(config.ok() ? "config accepted" : config.error().message);
  if (config.ok()) (void)dsv3::describe(*config);
}

void check_tokenizer(const dsv3::GgufMetadata& md) {
  dsv3::Result<dsv3::Tokenizer> tok = dsv3::tokenizer_from_gguf(md, kOrigin);
  expect_message(tok, "tokenizer_from_gguf");
  dsv3::fuzz::note(tok.ok() ? "tokenizer accepted" : tok.error().message);
  if (!tok.ok()) return;
  const std::vector<int32_t> ids = tok->encode("Hello the world, 12345 日本", /*add_bos=*/true);
  const std::string decoded = tok->decode(ids);
  dsv3::StreamDecoder stream(*tok);
  std::string streamed;
  for (int32_t id : ids) streamed += stream.feed(id);
  streamed += stream.flush();
  if (streamed != decoded) fail("streaming decode differs from decode");
  (void)tok->chat_template();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return -1;
  dsv3::Result<dsv3::GgufFile> file = dsv3::GgufFile::parse(data, size, kOrigin);
  expect_message(file, "GgufFile::parse");
  if (!file.ok()) {
    dsv3::fuzz::note(file.error().message);
    return 0;
  }
  dsv3::fuzz::note("file accepted");
  check_tensors(*file, data, size);
  check_metadata(file->metadata());
  dsv3::Result<dsv3::GgufModelFiles> files = dsv3::GgufModelFiles::from_file(std::move(*file));
  expect_message(files, "GgufModelFiles::from_file");
  if (!files.ok()) return 0;
  check_model_config(*files);
  check_tokenizer(files->metadata());
  return 0;
}
