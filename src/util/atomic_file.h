// Files that are either fully written or not there at all: data goes to a temporary file in
// the same directory, is flushed to disk, then renamed over the target (rename is atomic).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "util/result.h"

namespace dsv3 {

class AtomicFile {
 public:
  static Result<AtomicFile> create(const std::string& path);
  AtomicFile(AtomicFile&& o) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  ~AtomicFile();  // an uncommitted file is removed

  Status write(const void* data, size_t n);
  Status write(std::string_view s) { return write(s.data(), s.size()); }
  // Flushes, fsyncs and renames into place.
  Status commit();

 private:
  AtomicFile(std::string path, std::string tmp, std::FILE* f)
      : path_(std::move(path)), tmp_(std::move(tmp)), f_(f) {}
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
};

// Writes a whole small file atomically.
Status write_file_atomically(const std::string& path, std::string_view contents);

}  // namespace dsv3
