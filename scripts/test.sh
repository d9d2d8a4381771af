#!/usr/bin/env bash
# Sets up (packages + build) and runs every test through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
scripts/setup.sh "$preset"
ctest --preset "$preset" --output-on-failure -j "$(nproc)"
