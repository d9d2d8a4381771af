// Fuzzes tokenizer loading and use. Input sections (0x1E between them): tokenizer.json,
// tokenizer_config.json, then a short text. A tokenizer that loads must encode the text,
// decode the ids (plain, skipping specials, and token by token through the stream decoder)
// and decode arbitrary ids taken from the text's bytes without crashing; streaming decode
// must give the same text as decoding all ids at once.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace {

void exercise(const dsv3::Tokenizer& tok, std::string_view text) {
  const std::vector<int32_t> ids = tok.encode(text, /*add_bos=*/true);
  (void)tok.encode_checked(text);
  (void)tok.pieces(text);
  const std::string decoded = tok.decode(ids);
  (void)tok.decode(ids, /*skip_special=*/true);

  dsv3::StreamDecoder stream(tok);
  std::string streamed;
  for (int32_t id : ids) streamed += stream.feed(id);
  streamed += stream.flush();
  if (streamed != decoded) {
    std::fprintf(stderr, "tokenizer_fuzz: streaming decode gave %zu bytes, decode %zu\n",
                 streamed.size(), decoded.size());
    std::abort();
  }

  // Ids from raw bytes: negative, out of range and special ids included.
  std::vector<int32_t> raw(text.size() / 4);
  if (!raw.empty()) std::memcpy(raw.data(), text.data(), raw.size() * 4);
  (void)tok.decode(raw);
  (void)tok.decode_checked(raw, /*skip_special=*/true);
  for (int32_t id : raw) {
    (void)tok.token_text(id);
    (void)tok.token_bytes(id);
    if (tok.is_valid_id(id)) (void)tok.is_special(id);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (128u << 10)) return -1;
  const auto sections = dsv3::fuzz::split_sections(dsv3::fuzz::as_text(data, size), 3);
  dsv3::fuzz::write_scratch_file("tokenizer.json", sections[0]);
  dsv3::fuzz::write_scratch_file("tokenizer_config.json",
                                 sections.size() > 1 ? sections[1] : std::string_view("{}"));
  dsv3::Result<dsv3::Tokenizer> tok = dsv3::Tokenizer::load(dsv3::fuzz::scratch_dir());
  if (!tok.ok()) {
    dsv3::fuzz::note(tok.error().message);
    if (tok.error().message.empty()) std::abort();
    return 0;
  }
  // A short text: encoding cost grows with it, and a few hundred bytes reach every branch.
  std::string_view text = sections.size() > 2 ? sections[2] : std::string_view("Hello, world!");
  if (text.size() > 512) text = text.substr(0, 512);
  dsv3::fuzz::note("tokenizer loaded");
  exercise(*tok, text);
  return 0;
}
