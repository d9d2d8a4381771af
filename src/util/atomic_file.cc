#include "util/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace dsv3 {

Result<AtomicFile> AtomicFile::create(const std::string& path) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Err("cannot create ", tmp, ": ", std::strerror(errno));
  return AtomicFile(path, std::move(tmp), f);
}

AtomicFile::AtomicFile(AtomicFile&& o) noexcept
    : path_(std::move(o.path_)), tmp_(std::move(o.tmp_)), f_(std::exchange(o.f_, nullptr)) {}

AtomicFile::~AtomicFile() {
  if (f_) {
    std::fclose(f_);
    std::remove(tmp_.c_str());
  }
}

Status AtomicFile::write(const void* data, size_t n) {
  if (!f_) return Err(path_, ": already committed");
  if (n && std::fwrite(data, 1, n, f_) != n) return Err("write to ", tmp_, " failed: ", std::strerror(errno));
  return OkStatus();
}

Status AtomicFile::commit() {
  if (!f_) return Err(path_, ": already committed");
  const bool flushed = std::fflush(f_) == 0 && ::fsync(::fileno(f_)) == 0;
  const int e = errno;
  std::fclose(std::exchange(f_, nullptr));
  if (!flushed) {
    std::remove(tmp_.c_str());
    return Err("flushing ", tmp_, " failed: ", std::strerror(e));
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int re = errno;
    std::remove(tmp_.c_str());
    return Err("renaming ", tmp_, " to ", path_, " failed: ", std::strerror(re));
  }
  return OkStatus();
}

Status write_file_atomically(const std::string& path, std::string_view contents) {
  DSV3_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create(path));
  DSV3_TRY(f.write(contents));
  return f.commit();
}

}  // namespace dsv3
