#include "train/checkpoint_run.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "io/crash_hook.h"
#include "train/checkpoint.h"

namespace dsv3::train {

namespace fs = std::filesystem;

namespace {

std::string tmp_suffix() { return ".tmp." + std::to_string(::getpid()); }

// "step-00000400", or "step-00000400-b" when the plain name is the current checkpoint (a run
// saved twice at the same step: the new copy must not overwrite what `current` points at).
std::string step_dir_name(int64_t step, const std::string& current) {
  char name[40];
  std::snprintf(name, sizeof name, "step-%08lld", static_cast<long long>(step));
  return current == name ? std::string(name) + "-b" : std::string(name);
}

// Names that only commit_checkpoint creates: step-<digits> with an optional -b.
bool is_step_dir_name(const std::string& name) {
  if (name.rfind("step-", 0) != 0) return false;
  std::string rest = name.substr(5);
  if (rest.size() > 2 && rest.compare(rest.size() - 2, 2, "-b") == 0) rest.resize(rest.size() - 2);
  return !rest.empty() && rest.find_first_not_of("0123456789") == std::string::npos;
}

// The step directory `current` points at, "" without one.
std::string current_target(const fs::path& run) {
  std::error_code ec;
  const fs::path link = run / kCurrentCheckpointLink;
  if (!fs::is_symlink(fs::symlink_status(link, ec))) return "";
  const fs::path target = fs::read_symlink(link, ec);
  return ec ? "" : target.filename().string();
}

// A rename or a new entry is only durable once its directory is synced.
Status sync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Err("cannot open directory ", dir.string(), ": ", std::strerror(errno));
  const bool ok = ::fsync(fd) == 0;
  const int e = errno;
  ::close(fd);
  if (!ok) return Err("fsync of directory ", dir.string(), " failed: ", std::strerror(e));
  return OkStatus();
}

// Points `link` at `target` by creating a temporary link and renaming it over `link`: at no
// moment is there no `link` (or a half-made one).
Status replace_with_symlink(const fs::path& link, const fs::path& target) {
  const fs::path tmp = link.string() + tmp_suffix();
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp, ec);
  if (ec) return Err("cannot create symlink ", tmp.string(), ": ", ec.message());
  if (std::rename(tmp.c_str(), link.c_str()) != 0) {
    const int e = errno;
    fs::remove(tmp, ec);
    return Err("renaming ", tmp.string(), " to ", link.string(), " failed: ", std::strerror(e));
  }
  return OkStatus();
}

// RUN/<file> -> current/<file> for every file of `files_dir`. Entries that are not already
// such links are left alone unless `replace` (before the switch they still hold the current
// checkpoint of a run written by an older dsv3). Links into current/ to files it no longer
// has are removed.
Status link_checkpoint_files(const fs::path& run, const fs::path& files_dir, bool replace) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(files_dir, ec)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    const fs::path link = run / name, target = fs::path(kCurrentCheckpointLink) / name;
    const fs::file_status st = fs::symlink_status(link);
    if (fs::is_symlink(st) && fs::read_symlink(link) == target) continue;
    if (fs::exists(st) && !replace) continue;
    DSV3_TRY(replace_with_symlink(link, target));
  }
  if (ec) return Err("cannot list ", files_dir.string(), ": ", ec.message());
  if (!replace) return OkStatus();
  for (const auto& entry : fs::directory_iterator(run, ec)) {
    if (!entry.is_symlink()) continue;
    const fs::path target = fs::read_symlink(entry.path(), ec);
    if (ec || target.empty() || *target.begin() != fs::path(kCurrentCheckpointLink)) continue;
    if (!fs::exists(run / target)) fs::remove(entry.path(), ec);
  }
  return OkStatus();
}

// Step directories other than `keep` (older checkpoints, or complete ones a kill stopped
// from becoming current) and every *.tmp.* entry.
void remove_stale_entries(const fs::path& run, const std::string& keep) {
  std::error_code ec;
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(run, ec)) {
    const std::string name = entry.path().filename().string();
    const bool tmp = name.find(".tmp.") != std::string::npos;
    const bool old_step = is_step_dir_name(name) && name != keep && entry.is_directory();
    if (tmp || old_step) stale.push_back(entry.path());
  }
  for (const fs::path& p : stale) fs::remove_all(p, ec);
}

// The new step directory becomes the run's checkpoint, its files reachable from RUN.
Status switch_current(const fs::path& run, const std::string& name) {
  DSV3_TRY(link_checkpoint_files(run, run / name, /*replace=*/false));
  DSV3_TRY(replace_with_symlink(run / kCurrentCheckpointLink, name));
  DSV3_TRY(sync_dir(run));
  crash_hook::point("checkpoint-switched");
  DSV3_TRY(link_checkpoint_files(run, run / name, /*replace=*/true));
  return sync_dir(run);
}

}  // namespace

std::string checkpoint_files_dir(const std::string& run) {
  const std::string target = current_target(run);
  return target.empty() ? run : (fs::path(run) / target).string();
}

bool holds_training_run(const std::string& run) {
  std::error_code ec;
  return fs::exists(fs::path(checkpoint_files_dir(run)) / kOptimizerFileName, ec);
}

Status clean_run_dir(const std::string& run) {
  std::error_code ec;
  if (!fs::is_directory(run, ec)) return OkStatus();
  const std::string current = current_target(run);
  remove_stale_entries(run, current);
  if (current.empty()) return OkStatus();
  if (!fs::is_directory(fs::path(run) / current)) {
    return Err(run, "/", kCurrentCheckpointLink, " points at ", current,
               ", which does not exist: the run folder was damaged outside dsv3");
  }
  DSV3_TRY(link_checkpoint_files(run, fs::path(run) / current, /*replace=*/true));
  return sync_dir(run);
}

Status commit_checkpoint(const std::string& run, int64_t step, const CheckpointWriter& write) {
  const fs::path root(run);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Err("cannot create directory ", run, ": ", ec.message());
  const std::string name = step_dir_name(step, current_target(root));
  const fs::path staging = root / (name + tmp_suffix()), final_dir = root / name;
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) return Err("cannot create directory ", staging.string(), ": ", ec.message());
  Status written = write(staging.string());
  if (written.ok()) written = sync_dir(staging);
  if (!written.ok()) {
    fs::remove_all(staging, ec);
    return written;
  }
  crash_hook::point("checkpoint-written");
  fs::remove_all(final_dir, ec);  // a step directory that never became current
  if (std::rename(staging.c_str(), final_dir.c_str()) != 0) {
    const int e = errno;
    fs::remove_all(staging, ec);
    return Err("renaming ", staging.string(), " to ", final_dir.string(), " failed: ",
               std::strerror(e));
  }
  DSV3_TRY(sync_dir(root));
  crash_hook::point("checkpoint-renamed");
  DSV3_TRY(switch_current(root, name));
  remove_stale_entries(root, name);
  return sync_dir(root);
}

}  // namespace dsv3::train
