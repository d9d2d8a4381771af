#!/bin/bash
# The depth table of docs/deepseek-v32.md: decode speed of bench-v32 (FP8) after DEPTH tokens
# of context, sparse attention against its dense twin (the same shards with index_topk 65536 in
# config.json: every position kept, the indexer's scoring skipped), run by turns (sparse,
# dense, sparse, dense, ...) so the machine's drift hits both alike. Prints one line per run
# and, per depth, the median of the per-pair ratios with their spread.
# Usage: scripts/bench_v32_depth.sh [WORK_DIR] [PAIRS] [DEPTHS...]
# (default /tmp/dsv3-v32, 3 pairs, depths 1024 8192 32768; ~1.5 GB of disk; a release build).
# PREFILL=1 measures prompt processing instead (-p DEPTH, no synthetic context).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/dsv3-v32}
pairs=${2:-3}
shift 2 || shift $# || true
depths=("$@")
[ ${#depths[@]} -gt 0 ] || depths=(1024 8192 32768)
dsv3=build/release/dsv3
[ -x "$dsv3" ] || { echo "build first: cmake --preset release && cmake --build build/release" >&2; exit 1; }

sparse=$work/bench-v32-fp8
dense=$work/bench-v32-fp8-dense
[ -f "$sparse/config.json" ] || "$dsv3" synth --preset bench-v32 --dtype fp8 --seed 1 --out "$sparse" >&2
if [ ! -f "$dense/config.json" ]; then
  mkdir -p "$dense"
  for f in "$sparse"/*; do [ "$(basename "$f")" = config.json ] || ln -sf "$(realpath "$f")" "$dense/"; done
  python3 -c 'import json, sys
c = json.load(open(sys.argv[1])); c["index_topk"] = 65536
json.dump(c, open(sys.argv[2], "w"), indent=2)' "$sparse/config.json" "$dense/config.json"
fi

if [ "${PREFILL:-0}" = 1 ]; then
  flags=(-n 1 -r 1) field=prefill_tok_s
else
  flags=(-n 16 -r 1 --synthetic-context) field=decode_tok_s
fi
results=$(mktemp)
for depth in "${depths[@]}"; do
  for ((i = 1; i <= pairs; ++i)); do
    for kind in sparse dense; do
      dir=$sparse
      [ $kind = dense ] && dir=$dense
      tok_s=$("$dsv3" bench --model "$dir" -p "$depth" -t 2 --mtp off --probe-mib 0 --json "${flags[@]}" |
        python3 -c 'import json, sys; print("%.3f" % json.load(sys.stdin)[sys.argv[1]])' "$field")
      echo "$depth $i $kind $tok_s $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$results"
    done
  done
done
python3 - "$results" "$field" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    depth, pair, kind, tok_s = line.split()[:4]
    runs.setdefault(int(depth), {}).setdefault(int(pair), {})[kind] = float(tok_s)
print("| depth | sparse %s (median, range) | dense | sparse / dense (median, range of pairs) |" % sys.argv[2])
print("| ---: | ---: | ---: | ---: |")
for depth, pairs in sorted(runs.items()):
    s = [p["sparse"] for p in pairs.values()]
    d = [p["dense"] for p in pairs.values()]
    r = [p["sparse"] / p["dense"] for p in pairs.values()]
    print("| %d | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %.2fx (%.2f-%.2f) |" % (
        depth, statistics.median(s), min(s), max(s), statistics.median(d), min(d), max(d),
        statistics.median(r), min(r), max(r)))
PY
rm -f "$results"
