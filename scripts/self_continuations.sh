#!/usr/bin/env bash
# Text for training an MTP layer to draft what its main model says: each corpus document's
# opening (80-1979 bytes) continued by the model itself to about 1000 tokens. The first set
# (SAMPLED=mixed) continues every third document by sampling (temperature 0.8) and the
# others greedily; SAMPLED=all samples every one. Greedy drafts must match the model's own
# greedy text, which repeats itself in ways a corpus never does; sampled text keeps the
# draft's distribution as broad as the model's. Used for the default model (README).
#
# Usage: scripts/self_continuations.sh MODEL_DIR OUT_DIR FILE...   (env: DSV3, SAMPLED, SEED)
# Runs two generations at a time. Writes OUT_DIR/N.txt, one per input file.
set -euo pipefail
cd "$(dirname "$0")/.."

if (($# < 3)); then
  echo "usage: $0 MODEL_DIR OUT_DIR FILE..." >&2
  exit 2
fi
model="$1"
out="$2"
shift 2
dsv3="${DSV3:-build/release/dsv3}"
sampled="${SAMPLED:-mixed}"
seed="${SEED:-0}"
mkdir -p "$out"

continue_one() {
  local i="$1" file="$2"
  RANDOM=$((seed + i))  # the opening's length is reproducible
  local bytes=$((RANDOM % 1900 + 80))
  local temp=0
  if [[ "$sampled" == all ]] || ((i % 3 == 2)); then temp=0.8; fi
  local opening
  opening="$(head -c "$bytes" "$file")"
  local continuation
  continuation="$("$dsv3" generate -m "$model" --prompt "$opening" -n $((1000 - bytes / 5)) \
    --temp "$temp" --seed $((seed + i)) --ignore-eos 2>/dev/null)"
  printf '%s%s' "$opening" "$continuation" >"$out/$i.txt"
}
export -f continue_one
export dsv3 model out sampled seed

i=0
for file in "$@"; do
  echo "$i $file"
  i=$((i + 1))
done | xargs -P 2 -L 1 bash -c 'continue_one "$0" "$1"'
