#!/usr/bin/env bash
# The few-shot results of docs/results.md: MAML, Meta-SGD and NPBML (and NPBML's ablations) on
# Kanji 5-way 1-shot and 5-shot, two runs at a time (1 thread each) on a 2-core machine.
# Every run resumes from its run folder if killed: run the script again.
# Usage: scripts/fewshot_experiments.sh [PATH/TO/metaloss] [ITERATIONS_1SHOT] [ITERATIONS_5SHOT]
# Environment: SKIP="name ..." leaves those runs out; WAIT1 / WAIT2 = a PID each lane waits for
# before it starts (to keep two runs at a time when others are still going).
set -uo pipefail
bin=${1:-build/release/metaloss}
it1=${2:-400}
it5=${3:-250}
common=(fewshot --dataset kanji --ways 5 --queries 15 --hidden 32 --inner-steps 5 --inner-lr 0.01
        --val-every 100 --val-tasks 100 --test-tasks 600 --seed 0 --task-seed 0 --threads 1)
run() {  # run NAME ARGS...
  local name=$1
  shift
  case " ${SKIP:-} " in *" $name "*) return ;; esac
  mkdir -p runs
  "$bin" "${common[@]}" "$@" --out "runs/$name" >"runs/$name.out" 2>"runs/$name.log" \
    && echo "done $name: $(tail -1 "runs/$name.out")" || echo "FAILED $name (see runs/$name.log)"
}
wait_for() { [ -n "${1:-}" ] && while kill -0 "$1" 2>/dev/null; do sleep 10; done; }
lane1() {
  wait_for "${WAIT1:-}"
  run fs-kanji-5w1s-maml    --method maml    --shots 1 --meta-steps "$it1"
  run fs-kanji-5w1s-npbml   --method npbml   --shots 1 --meta-steps "$it1"
  run fs-kanji-5w5s-metasgd --method metasgd --shots 5 --meta-steps "$it5"
  run fs-kanji-5w1s-npbml-nowarp --method npbml --shots 1 --meta-steps "$it1" --no-warp
  run fs-kanji-5w5s-npbml-noloss --method npbml --shots 5 --meta-steps "$it5" --no-learned-loss
}
lane2() {
  wait_for "${WAIT2:-}"
  run fs-kanji-5w1s-metasgd --method metasgd --shots 1 --meta-steps "$it1"
  run fs-kanji-5w5s-maml    --method maml    --shots 5 --meta-steps "$it5"
  run fs-kanji-5w5s-npbml   --method npbml   --shots 5 --meta-steps "$it5"
  run fs-kanji-5w1s-npbml-noloss --method npbml --shots 1 --meta-steps "$it1" --no-learned-loss
  run fs-kanji-5w1s-npbml-nofilm --method npbml --shots 1 --meta-steps "$it1" --no-film
}
lane1 &
lane2 &
wait
