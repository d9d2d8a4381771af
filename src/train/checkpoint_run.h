// The folder of a training run (dsv3 train --out RUN), laid out so that a save interrupted at
// any moment (SIGKILL, power cut, full disk) leaves the previous checkpoint whole:
//
//   RUN/step-00000400/      one complete checkpoint: config.json, model shards and index,
//                           optimizer.safetensors (every file fsynced)
//   RUN/current             symlink to the checkpoint to resume from; a save switches it with
//                           one atomic rename, only once the new directory is complete
//   RUN/config.json, ...    symlinks to current/<file> for every file of the checkpoint, so
//                           RUN itself stays a model directory for --model, --init-from, ...
//   RUN/metrics.jsonl
//
// A new checkpoint is written as RUN/step-N.tmp.PID and renamed to RUN/step-N when complete;
// older step directories are removed after the switch. What a killed save leaves behind
// (*.tmp.* entries, a step directory that never became current) is removed by clean_run_dir
// when the next `dsv3 train` starts.
#pragma once

#include <functional>
#include <string>

#include "util/result.h"

namespace dsv3::train {

inline constexpr const char* kCurrentCheckpointLink = "current";

// Where the files of the run's current checkpoint are: RUN/step-N when `run` has a current
// link, else `run` itself (a run of an older dsv3, or any model directory).
std::string checkpoint_files_dir(const std::string& run);

// Whether `run` holds a checkpoint with optimizer state (something --resume can continue).
bool holds_training_run(const std::string& run);

// Removes what interrupted saves left in `run` and restores the links to the current
// checkpoint. Nothing to do for a folder that does not exist yet.
Status clean_run_dir(const std::string& run);

// Writes one checkpoint of update `step`: `write` fills a fresh directory, which then becomes
// the run's current checkpoint atomically; the previous one is removed only after that.
using CheckpointWriter = std::function<Status(const std::string& dir)>;
Status commit_checkpoint(const std::string& run, int64_t step, const CheckpointWriter& write);

}  // namespace dsv3::train
