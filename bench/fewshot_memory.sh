#!/usr/bin/env bash
# Peak memory of one meta-step (Conv-4, Kanji 28x28, 5-way 5-shot, 15 queries per class, 5 inner
# steps, meta-batch 4): the engine allocator's peak bytes in use during the step (printed by
# `metaloss fewshot`) and the process' maximum resident set (GNU time), for full second-order,
# truncated (last step only) and first-order unrolling, 32 and 64 channels.
# Usage: bench/fewshot_memory.sh [PATH/TO/metaloss]
set -euo pipefail
bin=${1:-build/release/metaloss}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '| method | channels | unrolling | meta-step peak (allocator) | max RSS | seconds (1 meta-step + 1 val. + 1 test task) |\n| --- | --- | --- | --- | --- | --- |\n'
for method in maml npbml; do
  for hidden in 32 64; do
    for mode in full truncated first-order; do
      extra=()
      [ "$mode" = truncated ] && extra=(--second-order-steps 1)
      # NPBML's learned loss learns only through second-order terms, so first order drops it.
      [ "$mode" = first-order ] && extra=(--first-order) && [ "$method" = npbml ] && extra+=(--no-learned-loss)
      out="$tmp/$method-$hidden-$mode"
      /usr/bin/time -f "%M" -o "$out.rss" "$bin" fewshot --method "$method" --shots 5 --meta-batch 4 --hidden "$hidden" \
        --meta-steps 1 --val-every 0 --val-tasks 1 --test-tasks 1 --threads 1 "${extra[@]}" --out "$out" >/dev/null 2>"$out.err"
      peak=$(grep -o 'meta-step (meta-batch 4): [0-9.]* MiB' "$out.err" | grep -o '[0-9.]* MiB')
      secs=$(sqlite3 "$out/run.db" "SELECT value FROM results WHERE key = 'train_seconds'" 2>/dev/null || echo "?")
      printf '| %s | %s | %s | %s | %.0f MiB | %.2f |\n' "$method" "$hidden" "$mode" "$peak" "$(($(cat "$out.rss") / 1024))" "$secs"
    done
  done
done
