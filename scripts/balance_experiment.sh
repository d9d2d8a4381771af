#!/usr/bin/env bash
# The load-balancing experiment (docs/training.md): the same train-small MoE model, the
# same seed, data and tokens, trained three ways (aux-loss-free bias, at two bias speeds;
# auxiliary balance loss only; no balancing), each evaluated on the whole validation set
# (loss, and MaxVio per MoE layer from the expert loads summed over the set). Writes the
# plots and the table (validation.md) into docs/balance.
#
# Usage: scripts/balance_experiment.sh        (env: DSV3, WORK, STEPS, THREADS, PLOTS)
# A run that is already complete is kept; an interrupted one is resumed (dsv3 train --resume).
set -euo pipefail
cd "$(dirname "$0")/.."

dsv3="${DSV3:-build/release/dsv3}"
work="${WORK:-build/balance}"
steps="${STEPS:-300}"
threads="${THREADS:-2}"
plots="${PLOTS:-docs/balance}"

corpus="$(scripts/fetch_corpus.sh build/corpus)"
mkdir -p "$work"
# The default model's tokenizer and its 5% validation split (the split is seeded).
if [[ ! -f "$work/val.bin" ]]; then
  "$dsv3" tokenizer encode --tokenizer models/default --data "$corpus"/*.txt \
    --out "$work/train.bin" --val-out "$work/val.bin" --val-fraction 0.05 --seed 0
fi

# Identical but for the balancing: batch 8 x 256 tokens per update, the whole validation set
# evaluated every 100 updates and at the end. aux-free uses DeepSeek-V3's gamma = 0.001 (and
# its sequence-wise loss, alpha 1e-4); aux-free-fast moves the bias ten times faster, as a
# run this short needs (the bias can move at most gamma x steps); aux-loss is the
# sequence-wise balance loss alone with the classic alpha = 1e-3.
common=(--preset train-small --data "$work/train.bin" --val-data "$work/val.bin"
        --steps "$steps" --batch 8 --seq 256 --lr 3e-3 --warmup 20 --seed 1
        --eval-every 100 --log-every 50 -t "$threads")
runs=("aux-free:--balance aux-free"
      "aux-free-fast:--balance aux-free --bias-update-speed 0.01"
      "aux-loss:--balance aux-loss"
      "none:--balance none")
for spec in "${runs[@]}"; do
  name="${spec%%:*}"
  read -r -a flags <<< "${spec#*:}"
  run="$work/$name"
  if grep -q "{\"step\":$steps,\"eval\"" "$run/metrics.jsonl" 2>/dev/null; then
    echo "balance_experiment: $run is complete" >&2
    continue
  fi
  resume=()
  [[ -f "$run/optimizer.safetensors" ]] && resume=(--resume)
  echo "balance_experiment: training $run" >&2
  "$dsv3" train "${common[@]}" "${flags[@]}" --out "$run" "${resume[@]}"
done

metrics=()
for spec in "${runs[@]}"; do
  name="${spec%%:*}"
  metrics+=(--metrics "$work/$name/metrics.jsonl" --label "$name")
done
"$dsv3" plot --out "$plots" --heatmap-columns 30 "${metrics[@]}"
cat "$plots/validation.md"
