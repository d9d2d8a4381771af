#!/usr/bin/env bash
# The recipe of the built-in default model (models/default): the exact commands of its five
# stages, as docs/default-model.md describes them. Stages 1-3 take several hours on 2 cores;
# stages 4 and 5 (START=4, from stage 3's model) about 30 minutes.
#
#   1. the model: 1200 updates of 16 x 256 tokens of the Brown corpus
#   2. long sequences: 400 updates of 4 x 1024 tokens
#   3. the MTP layer alone, on 480 continuations the model wrote itself
#   4. chat turns: 100 updates of 4 x 1024 tokens, half the corpus as chat conversations (each
#      answer a paragraph followed by EOS, so that the model ends its turn), half plain text
#   5. the MTP layer alone again, on 240 continuations stage 4 wrote itself
#
# Usage: scripts/train_default_model.sh    (env: DSV3, WORK, START, THREADS)
#   WORK (default build/default-model) holds the tokenizer, token files, runs and stages; the
#   result is written to models/default. START=N begins at stage N, taking stage N-1's model
#   from WORK/stageN-1, or for START=4 from models/default as it is (stage 3's model is
#   models/default of the commits before stage 4 was added: git log -- models/default). A stage whose model
#   exists is kept; an interrupted run can be continued with `dsv3 train --resume`.
set -euo pipefail
cd "$(dirname "$0")/.."

dsv3="${DSV3:-build/release/dsv3}"
work="${WORK:-build/default-model}"
start="${START:-1}"
threads="${THREADS:-2}"
corpus="$(scripts/fetch_corpus.sh build/corpus)"
tok="$work/tok"
mkdir -p "$work"

# Writes a run's checkpoint as bf16 with the tokenizer files beside it.
export_bf16() {  # RUN_DIR OUT_DIR
  "$dsv3" quantize --model "$1" --to bf16 --out "$2"
  cp "$tok"/tokenizer*.json "$2"/
}

# The tokenizer: trained in stage 1 (the first default model's); from START=2 on it is the
# current models/default's (the same files: the ids and the validation split never changed).
if [[ ! -f "$tok/tokenizer.json" ]]; then
  if ((start == 1)); then
    "$dsv3" tokenizer train --vocab-size 4096 --data "$corpus"/*.txt --out "$tok" \
      --val-fraction 0.05 --seed 0
  else
    mkdir -p "$tok" && cp models/default/tokenizer*.json "$tok"/
  fi
fi
if [[ ! -f "$tok/val.bin" ]]; then
  "$dsv3" tokenizer encode --tokenizer "$tok" --data "$corpus"/*.txt --out "$tok/train.bin" \
    --val-out "$tok/val.bin" --val-fraction 0.05 --seed 0
fi

# 1. The model: 1200 updates of 16 x 256 tokens of the Brown corpus.
if ((start <= 1)) && [[ ! -d "$work/stage1" ]]; then
  "$dsv3" train --preset train-small --data "$tok/train.bin" --val-data "$tok/val.bin" \
    --out "$work/run1" --steps 1200 --batch 16 --seq 256 --lr 3e-3 --warmup 20 \
    --eval-every 200 --save-every 100 -t "$threads"
  export_bf16 "$work/run1" "$work/stage1"
fi

# 2. Long sequences: 400 updates of 4 x 1024 tokens (stage 1 never saw a position past 255).
if ((start <= 2)) && [[ ! -d "$work/stage2" ]]; then
  "$dsv3" train --init-from "$work/stage1" --data "$tok/train.bin" --val-data "$tok/val.bin" \
    --out "$work/run2" --steps 400 --batch 4 --seq 1024 --lr 1e-3 --warmup 20 -t "$threads"
  export_bf16 "$work/run2" "$work/stage2"
fi

# 3. The MTP layer alone (--freeze-main-model), on 480 continuations the model wrote itself
#    (1/3 greedy, 2/3 sampled); every 50th corpus document is kept out for measuring.
if ((start <= 3)) && [[ ! -d "$work/stage3" ]]; then
  ls "$corpus"/*.txt | awk 'NR % 50 != 1' >"$work/docs.txt"
  DSV3="$dsv3" scripts/self_continuations.sh "$work/stage2" "$work/self" \
    $(awk 'NR % 2 == 1' "$work/docs.txt" | head -240)
  DSV3="$dsv3" SEED=1000 SAMPLED=all scripts/self_continuations.sh "$work/stage2" \
    "$work/self-sampled" $(awk 'NR % 2 == 0' "$work/docs.txt" | head -240)
  "$dsv3" tokenizer encode --tokenizer "$tok" --data "$work"/self/*.txt \
    "$work"/self-sampled/*.txt --out "$tok/self.bin" --val-out "$tok/self-val.bin" \
    --val-fraction 0.02 --seed 0
  "$dsv3" train --init-from "$work/stage2" --data "$tok/self.bin" --val-data "$tok/val.bin" \
    --out "$work/run3" --steps 250 --batch 4 --seq 1024 --lr 1e-3 --warmup 10 \
    --freeze-main-model -t "$threads"
  export_bf16 "$work/run3" "$work/stage3"
fi
if ((start == 4)) && [[ ! -d "$work/stage3" ]]; then
  cp -r models/default "$work/stage3"
fi

# 4. Chat turns: every corpus file as one conversation in the chat template, its paragraphs
#    alternating as user message and answer, EOS after each answer (the same 5% of files held
#    out as above), mixed half and half with the plain text, BOS before each file (so that a
#    plain prompt, which starts with BOS, is continued as text and not answered as a chat).
#    Main model and MTP layer both train.
if [[ ! -d "$work/stage4" ]]; then
  "$dsv3" tokenizer encode --tokenizer "$tok" --data "$corpus"/*.txt --chat-format \
    --out "$tok/chat.bin" --val-out "$tok/chat-val.bin" --val-fraction 0.05 --seed 0
  "$dsv3" tokenizer encode --tokenizer "$tok" --data "$corpus"/*.txt --bos \
    --out "$tok/train-bos.bin" --val-out "$tok/val-bos.bin" --val-fraction 0.05 --seed 0
  cat "$tok/chat.bin" "$tok/train-bos.bin" >"$tok/chat-and-text.bin"  # int32 files concatenate
  "$dsv3" train --init-from "$work/stage3" --data "$tok/chat-and-text.bin" --out "$work/run4" \
    --steps 100 --batch 4 --seq 1024 --lr 5e-4 --warmup 10 --save-every 10 -t "$threads"
  export_bf16 "$work/run4" "$work/stage4"
fi

# 5. The MTP layer alone (--freeze-main-model), on 240 continuations stage 4 wrote itself
#    (as in stage 3, half as many), so that its drafts follow the changed main model.
if [[ ! -d "$work/stage5" ]]; then
  [[ -f "$work/docs.txt" ]] || ls "$corpus"/*.txt | awk 'NR % 50 != 1' >"$work/docs.txt"
  DSV3="$dsv3" scripts/self_continuations.sh "$work/stage4" "$work/self4" \
    $(awk 'NR % 2 == 1' "$work/docs.txt" | head -120)
  DSV3="$dsv3" SEED=1000 SAMPLED=all scripts/self_continuations.sh "$work/stage4" \
    "$work/self4-sampled" $(awk 'NR % 2 == 0' "$work/docs.txt" | head -120)
  "$dsv3" tokenizer encode --tokenizer "$tok" --data "$work"/self4/*.txt \
    "$work"/self4-sampled/*.txt --out "$tok/self4.bin" --val-out "$tok/self4-val.bin" \
    --val-fraction 0.02 --seed 0
  "$dsv3" train --init-from "$work/stage4" --data "$tok/self4.bin" --out "$work/run5" \
    --steps 40 --batch 4 --seq 1024 --lr 1e-3 --warmup 5 --freeze-main-model --save-every 10 \
    -t "$threads"
  export_bf16 "$work/run5" "$work/stage5"
fi

rm -rf models/default.new
cp -r "$work/stage5" models/default.new
rm -rf models/default
mv models/default.new models/default
echo "models/default is stage 5 of $work"
