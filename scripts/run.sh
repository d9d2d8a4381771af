#!/usr/bin/env bash
# Sets up (packages + build) and runs the main job. Extra arguments go to dsv3.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
if (($#)); then exec build/release/dsv3 "$@"; fi
model=../shared/golden/v3-tiny/checkpoint
build/release/dsv3 info --model "$model"
echo "greedy continuation of tokens 0,5,17:"
exec build/release/dsv3 generate --model "$model" --tokens 0,5,17 --max-new-tokens 16
