#!/usr/bin/env bash
# Sets up what the CLI needs (the Debian packages that are missing, then a build of the dsv3
# binary alone: no tests, no benchmarks) and runs the main job: a chat with the built-in
# default model. Extra arguments go to dsv3 instead (e.g. scripts/run.sh info --model DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x build/release/dsv3 ]; then
  then_what="a chat with models/default"
  if (($#)); then then_what="dsv3 $*"; fi
  echo "run: first run: installing what is missing and building the dsv3 CLI, then $then_what" >&2
fi
scripts/setup.sh --target dsv3 release
if (($#)); then exec build/release/dsv3 "$@"; fi
exec build/release/dsv3 chat --model models/default
