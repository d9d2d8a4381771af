#!/usr/bin/env bash
# Builds dsv3 under a sanitizer and runs its tests. Slow (an ASan build at -O1 with asserts,
# or a TSan build, of everything): a documented check to run by hand or nightly, not part of
# scripts/test.sh.
# Usage: scripts/sanitize.sh asan|tsan [AREA[:GTEST_FILTER]]...
#   asan   AddressSanitizer + UndefinedBehaviorSanitizer (the `asan` preset)
#   tsan   ThreadSanitizer (the `tsan` preset)
#   AREA   a test folder (io, tokenizer, template, server, engine, kernels, ...): builds and
#          runs only build/<preset>/tests/AREA_tests, optionally with a gtest filter.
# With no AREA: asan builds everything and runs the whole suite through ctest; tsan runs the
# areas that start threads: the thread pool (kernels), the scheduler and the HTTP server
# (server) and the engine.
# Exits non-zero when a build fails, a test fails or a sanitizer reports anything.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:?usage: scripts/sanitize.sh asan|tsan [AREA[:GTEST_FILTER]]...}"
shift
case "$mode" in
  asan | tsan) ;;
  *) echo "sanitize.sh: unknown mode '$mode' (expected asan or tsan)" >&2; exit 2 ;;
esac
areas=("$@")
if [[ ${#areas[@]} -eq 0 && "$mode" == tsan ]]; then
  areas=(kernels:'ThreadPool*' server engine)
fi

# A report fails the test even where a test would carry on; leaks count as errors.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

cmake --preset "$mode" >/dev/null
if [[ ${#areas[@]} -eq 0 ]]; then
  cmake --build --preset "$mode" -j "$(nproc)"
  ctest --preset "$mode" --output-on-failure -j "$(nproc)"
  exit
fi

targets=()
for a in "${areas[@]}"; do
  targets+=("${a%%:*}_tests")
  # These areas' tests also run the dsv3 binary (they fail without it).
  case "${a%%:*}" in
    cli | synth | e2e | dist | parallel | tokenizer | train) targets+=(dsv3) ;;
  esac
done
cmake --build --preset "$mode" -j "$(nproc)" --target "${targets[@]}"
failed=()
for a in "${areas[@]}"; do
  area="${a%%:*}"
  filter='*'
  [[ "$a" == *:* ]] && filter="${a#*:}"
  echo "sanitize.sh: $mode: ${area}_tests --gtest_filter='$filter'" >&2
  # The tests find the dsv3 binary, models and test data by absolute paths; run from the
  # repository root as ctest would.
  if ! "build/$mode/tests/${area}_tests" --gtest_filter="$filter" --gtest_brief=1; then
    failed+=("$area")
  fi
done
if ((${#failed[@]})); then
  echo "sanitize.sh: $mode: failures in: ${failed[*]}" >&2
  exit 1
fi
echo "sanitize.sh: $mode: all passed: ${areas[*]}" >&2
