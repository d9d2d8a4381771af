#!/usr/bin/env bash
# Does a model end its chat answers by itself? Asks `dsv3 chat` 20 different one-line
# questions, each with its own seed, at chat's default sampling and token cap (1,024), and
# counts the answers that stopped at EOS (fewer tokens than the cap) and their lengths.
#
# Usage: scripts/chat_eos_check.sh [MODEL_DIR] [DSV3_BINARY]
#   (defaults: models/default, build/release/dsv3). One line per answer, then a summary:
#   "ended with EOS: K/20, mean length M tokens (median D), mean MTP acceptance A%".
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-models/default}"
dsv3="${2:-build/release/dsv3}"
cap=1024

prompts=(
  "Tell me about the city."
  "What did the jury say?"
  "Who won the election?"
  "Describe your house."
  "What is the weather like today?"
  "Tell me a story about a dog."
  "Why did the church close?"
  "What do you think of the new president?"
  "How do I cook rice?"
  "Where were you last night?"
  "What is the best way to learn music?"
  "Tell me about the war."
  "What happened at the meeting?"
  "Who is your favorite writer?"
  "What is science?"
  "Explain the budget of the state."
  "How was the game?"
  "What does the law say about taxes?"
  "Tell me about your family."
  "What will happen next year?"
)

stderr_file="$(mktemp)"
trap 'rm -f "$stderr_file"' EXIT
lengths=()
ended=0
acceptance_sum=0
acceptance_count=0
for i in "${!prompts[@]}"; do
  seed=$((i + 1))
  answer="$(printf '%s\n' "${prompts[$i]}" |
    "$dsv3" chat --model "$model" -n "$cap" --seed "$seed" --no-color 2>"$stderr_file")"
  speed="$(grep -E '^\[[0-9]+ tokens' "$stderr_file" | tail -1)"
  tokens="$(sed -E 's/^\[([0-9]+) tokens.*/\1/' <<<"$speed")"
  [[ "$tokens" =~ ^[0-9]+$ ]] || { echo "chat_eos_check: no speed line for prompt $seed" >&2; cat "$stderr_file" >&2; exit 1; }
  lengths+=("$tokens")
  stop="cap"
  if ((tokens < cap)); then stop="EOS"; ended=$((ended + 1)); fi
  if [[ "$speed" =~ MTP\ acceptance\ ([0-9]+)% ]]; then
    acceptance_sum=$((acceptance_sum + BASH_REMATCH[1]))
    acceptance_count=$((acceptance_count + 1))
  fi
  preview="$(tr '\n' ' ' <<<"$answer" | cut -c1-100)"
  printf '%2d  %-4s %5d tokens  %-42s | %s\n' "$seed" "$stop" "$tokens" "${prompts[$i]}" "$preview"
done
sorted=($(printf '%s\n' "${lengths[@]}" | sort -n))
sum=0
for n in "${lengths[@]}"; do sum=$((sum + n)); done
count=${#lengths[@]}
median=$(( (sorted[(count - 1) / 2] + sorted[count / 2]) / 2 ))
acceptance="n/a"
((acceptance_count > 0)) && acceptance="$((acceptance_sum / acceptance_count))%"
echo "ended with EOS: $ended/$count, mean length $((sum / count)) tokens (median $median)," \
  "mean MTP acceptance $acceptance"
