// Encode / decode throughput of the DeepSeek-V3 tokenizer (Google Benchmark).
// Text is built from the golden vectors; set DSV3_TOKENIZER_DIR to use another tokenizer
// directory (it needs tokenizer.json, tokenizer_config.json and vectors.jsonl).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace dsv3 {
namespace {

std::string tokenizer_dir() {
  if (const char* env = std::getenv("DSV3_TOKENIZER_DIR")) return env;
  return std::string(DSV3_TEST_DATA_DIR) + "/tokenizer/deepseek-v3";
}

const Tokenizer& tokenizer() {
  static const Tokenizer* t = [] {
    Result<Tokenizer> r = Tokenizer::load(tokenizer_dir());
    DSV3_CHECK(r.ok(), "%s", r.error().message.c_str());
    return new Tokenizer(std::move(r).value());
  }();
  return *t;
}

// The vectors' texts joined by newlines. `english_only` keeps the ASCII cases (English
// prose, code, numbers, punctuation) except the long_* ones: a 500-letter "aaaa..." is
// not English, and pieces that long skip the cache and take the O(n log n) merge.
std::string corpus_once(bool english_only) {
  std::ifstream in(tokenizer_dir() + "/vectors.jsonl");
  std::string line, text;
  while (std::getline(in, line)) {
    const nlohmann::json c = nlohmann::json::parse(line);
    const std::string t = c["text"];
    bool ascii = true;
    for (char ch : t) ascii &= static_cast<unsigned char>(ch) < 0x80;
    const bool long_case = c["name"].get<std::string>().starts_with("long_");
    if (!english_only || (ascii && !long_case)) text += t + "\n";
  }
  return text;
}

// About `bytes` bytes of corpus. Repeating the corpus keeps the piece cache warm, as
// real text with its Zipfian word frequencies mostly does.
std::string corpus(bool english_only, size_t bytes) {
  const std::string once = corpus_once(english_only);
  std::string text;
  while (text.size() < bytes) text += once;
  return text;
}

void BM_Encode(benchmark::State& state, bool english_only) {
  const Tokenizer& tok = tokenizer();
  const std::string text = corpus(english_only, size_t(4) << 20);
  size_t tokens = 0;
  for (auto _ : state) {
    const std::vector<int32_t> ids = tok.encode(text);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
  state.counters["tokens"] = double(tokens);
}
BENCHMARK_CAPTURE(BM_Encode, english_4MB, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, all_vectors_4MB, false)->Unit(benchmark::kMillisecond);

// Short prompts: the per-call overhead (regex match data, segment lists) matters here.
void BM_EncodeShort(benchmark::State& state) {
  const Tokenizer& tok = tokenizer();
  const std::string text = "<｜User｜>What is the capital of France?<｜Assistant｜>";
  for (auto _ : state) benchmark::DoNotOptimize(tok.encode(text));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_EncodeShort);

void BM_Decode(benchmark::State& state) {
  const Tokenizer& tok = tokenizer();
  const std::vector<int32_t> ids = tok.encode(corpus(false, size_t(4) << 20));
  size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = tok.decode(ids);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
}
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond);

void BM_StreamDecode(benchmark::State& state) {
  const Tokenizer& tok = tokenizer();
  const std::vector<int32_t> ids = tok.encode(corpus(false, size_t(1) << 20));
  for (auto _ : state) {
    StreamDecoder decoder(tok);
    size_t bytes = 0;
    for (int32_t id : ids) bytes += decoder.feed(id).size();
    bytes += decoder.flush().size();
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(ids.size()));
}
BENCHMARK(BM_StreamDecode)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace dsv3

BENCHMARK_MAIN();
