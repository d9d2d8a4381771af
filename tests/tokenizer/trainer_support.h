// Shared pieces of the tokenizer-training tests: a generated English-like corpus and a
// temporary directory per test. Header-only, like tokenizer_support.h.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace dsv3::testing {

// Deterministic text of about `bytes` bytes: sentences of words drawn with Zipf-like
// frequencies (so " the" is by far the most common piece), with numbers, contractions,
// accented words, CJK, emoji and paragraphs separated by blank lines.
inline std::string generated_corpus(size_t bytes, uint64_t seed = 1) {
  static const std::vector<std::string> kWords = {
      "the",    "of",      "and",     "to",      "a",       "in",      "that",    "is",
      "was",    "he",      "for",     "it",      "with",    "as",      "his",     "on",
      "be",     "at",      "by",      "had",     "not",     "are",     "but",     "from",
      "or",     "have",    "an",      "they",    "which",   "one",     "you",     "were",
      "her",    "all",     "she",     "there",   "would",   "their",   "we",      "him",
      "been",   "has",     "when",    "who",     "will",    "more",    "no",      "if",
      "out",    "so",      "said",    "what",    "up",      "its",     "about",   "into",
      "than",   "them",    "can",     "only",    "other",   "new",     "some",    "could",
      "time",   "these",   "two",     "may",     "then",    "do",      "first",   "any",
      "my",     "now",     "such",    "like",    "our",     "over",    "man",     "me",
      "even",   "most",    "made",    "after",   "also",    "did",     "many",    "before",
      "must",   "through", "back",    "years",   "where",   "much",    "your",    "way",
      "well",   "down",    "should",  "because", "each",    "just",    "those",   "people",
      "how",    "too",     "little",  "state",   "good",    "very",    "make",    "world",
      "still",  "own",     "see",     "men",     "work",    "long",    "get",     "here",
      "between", "both",   "life",    "being",   "under",   "never",   "day",     "same",
      "another", "know",   "while",   "last",    "might",   "us",      "great",   "old",
      "year",   "off",     "come",    "since",   "against", "go",      "came",    "right",
      "café",   "naïve",   "don't",   "it's",    "Zürich",  "日本語",  "🙂",      "über"};
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return uint32_t(state >> 33);
  };
  // Zipf: rank r has weight 1/(r+1); drawn from the cumulative weights.
  std::vector<double> cumulative;
  double total = 0;
  for (size_t r = 0; r < kWords.size(); ++r) cumulative.push_back(total += 1.0 / double(r + 1));
  std::string text;
  int sentence = 0;
  while (text.size() < bytes) {
    const int length = 5 + int(next() % 11);
    for (int w = 0; w < length; ++w) {
      std::string word;
      if (next() % 40 == 0) {
        word = std::to_string(next() % 100000);
      } else {
        const double x = double(next()) / 4294967296.0 * total;
        size_t r = 0;
        while (r + 1 < cumulative.size() && cumulative[r] < x) ++r;
        word = kWords[r];
      }
      if (w == 0 && word[0] >= 'a' && word[0] <= 'z') word[0] = char(word[0] - 'a' + 'A');
      text += (w == 0 ? "" : " ") + word;
    }
    text += next() % 5 == 0 ? "?" : ".";
    text += ++sentence % 3 == 0 ? "\n\n" : " ";
  }
  return text;
}

// A fresh directory per test, removed afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("dsv3_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" +
            std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& contents) const {
    std::ofstream(path(name), std::ios::binary) << contents;
    return path(name);
  }
  static std::string slurp(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
  }

  std::filesystem::path dir_;
};

}  // namespace dsv3::testing
