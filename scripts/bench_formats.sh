#!/bin/bash
# The speed table of docs/performance.md: the bench-moe model (the benchmark shape, random
# weights) in every weight format, benchmarked back to back so the machine's drift hits all
# of them alike. Usage: scripts/bench_formats.sh [WORK_DIR] [extra dsv3 bench flags...]
# Needs ~9 GB of disk in WORK_DIR (default /tmp/dsv3-bench) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/dsv3-bench}
shift || true
dsv3=build/release/dsv3
[ -x "$dsv3" ] || { echo "build first: cmake --preset release && cmake --build build/release" >&2; exit 1; }
mkdir -p "$work"

make_model() {  # name, command...
  local dir="$work/bench-moe-$1"
  shift
  [ -f "$dir/config.json" ] || "$@" --out "$dir" >&2
}
make_model bf16 "$dsv3" synth --preset bench-moe --dtype bf16 --seed 1
make_model fp8 "$dsv3" synth --preset bench-moe --dtype fp8 --seed 1
make_model q8 "$dsv3" quantize --model "$work/bench-moe-bf16" --to q8
make_model q4 "$dsv3" quantize --model "$work/bench-moe-bf16" --to q4

echo "| weights | prefill 512 tok/s | decode tok/s | MB read per token | decode GB/s | probe GB/s | roofline % |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for f in bf16 fp8 q8 q4; do
  "$dsv3" bench --model "$work/bench-moe-$f" -p 512 -n 128 -r 5 --mtp off --json "$@" |
    python3 -c '
import json, sys
d = json.load(sys.stdin)
mb = d["bytes_per_token"] / 1e6
print("| %s | %.0f (%.0f-%.0f) | %.1f (%.1f-%.1f) | %.0f | %.1f | %.1f | %.0f |" % (
    sys.argv[1], d["prefill_tok_s"], d["prefill_tok_s_min"], d["prefill_tok_s_max"],
    d["decode_tok_s"], d["decode_tok_s_min"], d["decode_tok_s_max"], mb,
    mb * d["decode_tok_s"] / 1e3, d["bandwidth_gb_s"], d["roofline_pct"]))' "$f"
done
