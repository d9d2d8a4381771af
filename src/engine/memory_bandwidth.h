// The machine's memory read bandwidth, measured: the denominator of the decode roofline
// (a token cannot be faster than reading its weights once at this rate).
#pragma once

#include <cstddef>

namespace dsv3 {

struct BandwidthProbe {
  int threads = 1;
  size_t bytes = size_t(1) << 30;  // buffer size: far beyond the last-level cache
  int runs = 7;                    // the best run counts (others are disturbed by neighbours)
};

// Bytes per second that `threads` threads reach summing disjoint parts of one buffer with
// kernels::sum (full-width vector loads, eight accumulators): what a streaming kernel can
// reach without software prefetching.
double measure_read_bandwidth(const BandwidthProbe& probe);

}  // namespace dsv3
