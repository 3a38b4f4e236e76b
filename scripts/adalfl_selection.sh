#!/usr/bin/env bash
# Where the AdaLFL paper is silent (output activation, the smooth leaky ReLU's beta and gamma, the
# meta learning rate), the candidates are compared on the validation error of the online run, on
# selection seeds (100, 101) kept apart from the evaluation seeds 0-4 of docs/results.md, at the
# full budget (2500 offline steps, 10000 online steps, SGD lr 0.01), Fashion-MNIST logistic.
# Every candidate uses the paper's 2-40-40-1 network and smooth leaky ReLU hidden layers.
# Usage: scripts/adalfl_selection.sh [PATH/TO/metaloss]; results in runs/adalfl-select-*/results.csv
set -uo pipefail
bin=${1:-build/release/metaloss}
common=(learn --method adalfl --dataset fashion-mnist --model logistic --seeds 100,101 --meta-steps 2500
        --steps 10000 --loss-hidden 40,40 --loss-activation smooth_leaky_relu --threads 1)
run() {  # run NAME ARGS...
  local name=$1
  shift
  [ -s "runs/adalfl-select-$name/results.csv" ] && return
  "$bin" "${common[@]}" "$@" --out "runs/adalfl-select-$name" >"runs/adalfl-select-$name.out" 2>"runs/adalfl-select-$name.log" \
    && echo "done $name" || echo "FAILED $name (see runs/adalfl-select-$name.log)"
}
mkdir -p runs
run none-b2-g0.25       --loss-output none     --slrelu-beta 2 --slrelu-gamma 0.25 --meta-lr 1e-3
run softplus-b2-g0.25   --loss-output softplus --slrelu-beta 2 --slrelu-gamma 0.25 --meta-lr 1e-3
run none-b1-g0.01       --loss-output none     --slrelu-beta 1 --slrelu-gamma 0.01 --meta-lr 1e-3
run softplus-b1-g0.01   --loss-output softplus --slrelu-beta 1 --slrelu-gamma 0.01 --meta-lr 1e-3
run none-b2-g0.25-mlr1e-4 --loss-output none   --slrelu-beta 2 --slrelu-gamma 0.25 --meta-lr 1e-4
# Chosen (lowest mean validation error, session 7): none-b2-g0.25-mlr1e-4, the defaults of --method adalfl.
# The summary: mean validation and test error of the online run over the two selection seeds.
for f in runs/adalfl-select-*/results.csv; do
  awk -F, -v n="$(basename "$(dirname "$f")")" 'NR>1{v+=$8; t+=$3; c++} END{if(c) printf "%-40s valid %.4f test %.4f (%d seeds)\n", n, v/c, t/c, c}' "$f"
done
