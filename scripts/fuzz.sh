#!/usr/bin/env bash
# Fuzzes one target of fuzz/ for as long as asked, then prints executions and crashes.
# Usage: scripts/fuzz.sh TARGET [SECONDS] [--keep-going] [-- LIBFUZZER_FLAGS...]
#   TARGET        safetensors, checkpoint_index, gguf, config, tokenizer, template,
#                 openai_request or http_request (fuzz/<TARGET>_fuzz.cc; its libFuzzer flags,
#                 such as -max_len, in fuzz/<TARGET>.options)
#   SECONDS       how long to fuzz (default 60)
#   --keep-going  record a crash, timeout or OOM and go on fuzzing for the time left
#                 (otherwise libFuzzer stops at the first one)
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

read -ra target_flags <"fuzz/$target.options"
flags=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${target_flags[@]}"
       -artifact_prefix="$artifacts/$target-")
echo "fuzz.sh: fuzzing $target for ${seconds}s (log: $log)" >&2
: >"$log"
# libFuzzer stops at the first crash; with --keep-going it is started again (same corpus)
# for the time left. (Its own fork mode does that too, but re-reads the corpus per job and
# runs ~100x fewer inputs per second on a busy 2-core machine.)
deadline=$((SECONDS + seconds))
execs=0
status=0
while left=$((deadline - SECONDS)); ((left > 0)); do
  set +e
  "$build/fuzz/${target}_fuzz" "${flags[@]}" -max_total_time="$left" "${extra[@]}" \
    "$work" "fuzz/corpus/$target" >"$log.run" 2>&1
  status=$?
  set -e
  # Executions of this run: its final stats, or (stopped by a crash) its last progress line.
  n=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log.run" | tail -1 | awk '{print $2}')
  [[ -n "$n" ]] || n=$(grep -oE '^#[0-9]+' "$log.run" | tail -1 | tr -d '#')
  execs=$((execs + ${n:-0}))
  cat "$log.run" >>"$log"
  rm -f "$log.run"
  ((status != 0 && keep_going)) || break
done

found=$(find "$artifacts" -name "$target-*" -newer "$marker" -type f | sort)
count=$(printf '%s' "$found" | grep -c . || true)
echo "target:     $target"
echo "seconds:    $seconds"
echo "executions: $execs"
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
