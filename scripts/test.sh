#!/usr/bin/env bash
# Sets up everything the tests need (packages, node and the pinned openai npm client, a build
# of every target) and runs every test through ctest.
# Usage: scripts/test.sh [preset] [ctest args...]   (preset: release (default), debug, asan)
# With CI=true a skipped or not-run test fails the run: in CI every test must really run.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
scripts/setup.sh --tests "$preset"

junit="build/$preset/ctest-results.xml"
rm -f "$junit"
status=0
ctest --preset "$preset" --output-on-failure -j "$(nproc)" --output-junit "$(pwd)/$junit" "$@" ||
  status=$?

# ctest counts a gtest skip (GTEST_SKIP, "[  SKIPPED ]") as passed on its exit code; its JUnit
# report marks skipped, disabled and not-run tests.
if [ -f "$junit" ]; then
  not_run=$(grep -E '<testcase ' "$junit" | grep -E 'status="(notrun|disabled)"' |
    sed -E 's/.*name="([^"]*)".*/\1/' || true)
  if [ -n "$not_run" ]; then
    echo "test: $(echo "$not_run" | wc -l) test(s) skipped or not run:" >&2
    echo "$not_run" | sed 's/^/  /' >&2
    if [ "${CI:-}" = true ]; then
      echo "test: CI=true: every test must run, none may be skipped" >&2
      status=1
    fi
  fi
elif [ "${CI:-}" = true ]; then
  echo "test: ctest wrote no report ($junit): cannot check for skipped tests" >&2
  status=1
fi

# The fuzz targets (fuzz/README.md): a clang build of only the parsers, each corpus replayed
# and each target fuzzed for a few seconds.
echo "test: building and running the fuzz targets (clang, libFuzzer)" >&2
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"
ctest --preset fuzz --output-on-failure -j "$(nproc)" || status=$?
exit "$status"
