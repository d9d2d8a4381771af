// Helpers shared by the libFuzzer harnesses: splitting one input into the several files a
// loader reads, and a private scratch directory for loaders that only take paths.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace dsv3::fuzz {

// Sections of one input are separated by 0x1E (ASCII record separator): JSON cannot hold
// it unescaped, so a valid JSON section never contains one, and the mutator can still
// move, drop or duplicate separators to produce missing or extra sections.
inline constexpr char kSectionSeparator = '\x1e';

inline std::vector<std::string_view> split_sections(std::string_view input, size_t max_sections) {
  std::vector<std::string_view> sections;
  while (sections.size() + 1 < max_sections) {
    const size_t cut = input.find(kSectionSeparator);
    if (cut == std::string_view::npos) break;
    sections.push_back(input.substr(0, cut));
    input.remove_prefix(cut + 1);
  }
  sections.push_back(input);
  return sections;
}

// With DSV3_FUZZ_VERBOSE set, says what became of an input (to check that seeds reach the
// code they are meant for: a "valid" seed that is refused only tests the refusal).
inline void note(std::string_view what) {
  static const bool verbose = std::getenv("DSV3_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "dsv3 fuzz: %.*s\n", int(what.size()), what.data());
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A directory of this process's own (in /dev/shm when it exists, so writing a file per
// input costs no disk I/O); created once, reused by every input.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string templ = base + "/dsv3-fuzz-XXXXXX";
    if (!mkdtemp(templ.data())) {
      std::perror("dsv3 fuzz: mkdtemp");
      std::abort();
    }
    return templ;
  }();
  static const bool cleanup_registered = [] {
    // libFuzzer leaves through exit() when its time or run budget is spent.
    return std::atexit([] {
             std::error_code ignored;
             std::filesystem::remove_all(scratch_dir(), ignored);
           }) == 0;
  }();
  (void)cleanup_registered;
  return dir;
}

// Writes `bytes` to scratch_dir()/name, replacing what an earlier input left there.
inline std::string write_scratch_file(const std::string& name, std::string_view bytes) {
  const std::string path = scratch_dir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) {
    std::perror(("dsv3 fuzz: writing " + path).c_str());
    std::abort();
  }
  return path;
}

inline void remove_scratch_file(const std::string& name) {
  std::remove((scratch_dir() + "/" + name).c_str());
}

}  // namespace dsv3::fuzz
