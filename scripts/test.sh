#!/usr/bin/env bash
# Sets up (packages + build) and runs every test through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
scripts/setup.sh "$preset"
ctest --preset "$preset" --output-on-failure -j "$(nproc)"

# The fuzz targets (fuzz/README.md): a clang build of only the parsers, each corpus replayed
# and each target fuzzed for a few seconds.
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"
ctest --preset fuzz -j "$(nproc)"
