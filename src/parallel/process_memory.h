// What this process occupies, for the per-rank memory of `dsv3 bench` under mpirun.
#pragma once

#include <cstdint>

#include "io/checkpoint.h"

namespace dsv3::parallel {

// Resident set size (VmRSS of /proc/self/status), 0 where it cannot be read.
int64_t resident_set_bytes();

// Reads one byte of every page of the checkpoint tensors this process listed, so the pages
// are resident before anything is timed. Returns the bytes walked.
int64_t touch_tensors(const Checkpoint& ck);

}  // namespace dsv3::parallel
