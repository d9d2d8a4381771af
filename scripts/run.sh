#!/usr/bin/env bash
# Sets up (packages + build) and runs the main job: a chat with the built-in default model.
# Extra arguments go to dsv3 instead (e.g. scripts/run.sh info --model DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
if (($#)); then exec build/release/dsv3 "$@"; fi
exec build/release/dsv3 chat --model models/default
