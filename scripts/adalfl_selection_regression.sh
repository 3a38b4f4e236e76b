#!/usr/bin/env bash
# The AdaLFL choices the paper leaves open, for regression (Diabetes, MLP): the output activation
# picked on classification (none) lets the loss fall without bound in an unbounded prediction,
# so the candidates are compared again here, on the validation MSE of the online run, on the
# selection seeds 100 and 101 (apart from the evaluation seeds 0-4), at the full budget.
# Usage: scripts/adalfl_selection_regression.sh [PATH/TO/metaloss]; results in runs/adalfl-rselect-*/
set -uo pipefail
bin=${1:-build/release/metaloss}
common=(learn --method adalfl --dataset diabetes --model mlp --seeds 100,101 --meta-steps 2500 --steps 10000
        --loss-hidden 40,40 --loss-activation smooth_leaky_relu --slrelu-beta 2 --slrelu-gamma 0.25 --threads 1)
run() {  # run NAME ARGS...
  local name=$1
  shift
  [ -s "runs/adalfl-rselect-$name/results.csv" ] && return
  "$bin" "${common[@]}" "$@" --out "runs/adalfl-rselect-$name" >"runs/adalfl-rselect-$name.out" 2>"runs/adalfl-rselect-$name.log" \
    && echo "done $name" || echo "FAILED $name (see runs/adalfl-rselect-$name.log)"
}
mkdir -p runs
run none-mlr1e-4     --loss-output none     --meta-lr 1e-4
run softplus-mlr1e-4 --loss-output softplus --meta-lr 1e-4
run softplus-mlr1e-3 --loss-output softplus --meta-lr 1e-3
for f in runs/adalfl-rselect-*/results.csv; do
  awk -F, -v n="$(basename "$(dirname "$f")")" 'NR>1{v+=$8; t+=$3; k+=$4; c++} END{if(c) printf "%-32s valid MSE %.4f test MSE %.4f skipped %d (%d seeds)\n", n, v/c, t/c, k, c}' "$f"
done
