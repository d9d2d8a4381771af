#!/usr/bin/env bash
# Fuzzes one target of fuzz/ for as long as asked, then prints executions and crashes.
# Usage: scripts/fuzz.sh TARGET [SECONDS] [--keep-going] [-- LIBFUZZER_FLAGS...]
#   TARGET        safetensors, checkpoint_index, config, tokenizer, template, openai_request
#                 or http_request (fuzz/<TARGET>_fuzz.cc)
#   SECONDS       how long to fuzz (default 60)
#   --keep-going  fork mode: record a crash, timeout or OOM and go on fuzzing (otherwise
#                 libFuzzer stops at the first one)
# Builds the `fuzz` preset first when needed. New corpus entries go to
# build/fuzz/fuzz/work/TARGET, crash inputs to build/fuzz/fuzz/artifacts/TARGET-*.
# Exits 1 when a crash (or timeout / OOM) was found, 0 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:?usage: scripts/fuzz.sh TARGET [SECONDS] [--keep-going] [-- LIBFUZZER_FLAGS...]}"
shift
seconds=60
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then seconds="$1"; shift; fi
keep_going=0
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --keep-going) keep_going=1 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "fuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
if [[ ! -f "fuzz/${target}_fuzz.cc" ]]; then
  echo "fuzz.sh: no target '${target}' (expected fuzz/${target}_fuzz.cc); targets:" \
    $(ls fuzz/*_fuzz.cc | sed 's|fuzz/||; s|_fuzz.cc||') >&2
  exit 2
fi

build=build/fuzz
[[ -f "$build/CMakeCache.txt" ]] || cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "${target}_fuzz" -j "$(nproc)" >/dev/null

work="$build/fuzz/work/$target"
artifacts="$build/fuzz/artifacts"
mkdir -p "$work" "$artifacts"
log="$build/fuzz/${target}.log"
marker=$(mktemp)
trap 'rm -f "$marker"' EXIT

flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
       -artifact_prefix="$artifacts/$target-")
if ((keep_going)); then
  flags+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi
echo "fuzz.sh: fuzzing $target for ${seconds}s (log: $log)" >&2
set +e
"$build/fuzz/${target}_fuzz" "${flags[@]}" "${extra[@]}" "$work" "fuzz/corpus/$target" >"$log" 2>&1
status=$?
set -e

# Executions: the final stats of a plain run, or the last progress line of fork mode.
execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
if [[ -z "$execs" ]]; then
  execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
fi
found=$(find "$artifacts" -name "$target-*" -newer "$marker" -type f | sort)
count=$(printf '%s' "$found" | grep -c . || true)
echo "target:     $target"
echo "seconds:    $seconds"
echo "executions: ${execs:-unknown}"
echo "crashes:    $count (crash, timeout, leak and OOM inputs)"
if ((count)); then
  printf '  %s\n' $found
  grep -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|ALARM|out-of-memory|deadly signal' "$log" | sort | uniq -c | head -20
fi
if ((status != 0 && count == 0)); then
  echo "fuzz.sh: the fuzzer exited with status $status; see $log" >&2
  tail -20 "$log" >&2
  exit "$status"
fi
((count == 0))
