#!/usr/bin/env bash
# The NPBML ablation of docs/results.md in the paper's order, on a harder protocol than 5-way
# (where every method is at 96-99 %): Kanji 20-way 1-shot, 5 queries per class, meta-batch 2.
#   init only (NPBML's shared init + head, no warp, no learned loss, no FiLM)
#   + optimiser (warp layers)            + loss (learned loss)
#   + optimiser + loss                   + task-adaptive (FiLM) = full NPBML
# and MAML itself for reference. One run after another (1 thread each); every run resumes from
# its folder when killed: run the script again.
# Usage: scripts/fewshot_ablation.sh [PATH/TO/metaloss] [ITERATIONS] [SHOTS]   (SHOTS default 1)
# SKIP="init opt" leaves out those runs (names: init opt loss optloss npbml maml).
set -uo pipefail
bin=${1:-build/release/metaloss}
it=${2:-300}
shots=${3:-1}
common=(fewshot --dataset kanji --ways 20 --shots "$shots" --queries 5 --meta-batch 2 --hidden 32 --inner-steps 5
        --inner-lr 0.01 --meta-steps "$it" --val-every 100 --val-tasks 100 --test-tasks 600 --seed 0 --task-seed 0
        --threads 1)
run() {  # run SHORT ARGS...
  local short=$1 name
  shift
  case " ${SKIP:-} " in *" $short "*) return ;; esac
  name=fs-kanji-20w${shots}s-npbml-$short  # (the folder names of the 1-shot runs in docs/results.md)
  [[ $short == npbml || $short == maml ]] && name=fs-kanji-20w${shots}s-$short
  mkdir -p runs
  "$bin" "${common[@]}" "$@" --out "runs/$name" >"runs/$name.out" 2>"runs/$name.log" \
    && echo "done $name: $(tail -1 "runs/$name.out")" || echo "FAILED $name (see runs/$name.log)"
}
run init    --method npbml --no-warp --no-learned-loss --no-film
run opt     --method npbml --no-learned-loss --no-film
run loss    --method npbml --no-warp --no-film
run optloss --method npbml --no-film
run npbml   --method npbml
run maml    --method maml
