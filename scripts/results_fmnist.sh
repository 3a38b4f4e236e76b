#!/usr/bin/env bash
# docs/results.md's Fashion-MNIST rows for one base model: CE, LSR, SparseLSR and ML3 in one
# `metaloss learn` run (the fixed losses as --extra-baselines, trained exactly like the CE
# baseline), then AdaLFL (its CE baseline repeats the same run). One thread per process, so two
# models can run side by side on a 2-core machine.
#   scripts/results_fmnist.sh MODEL [STEPS] [SEEDS]     e.g. scripts/results_fmnist.sh mlp 2000 0,1,2
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?model (logistic, mlp, lenet5)} steps=${2:-2000} seeds=${3:-0,1,2}
bin=${METALOSS_BIN:-build/release/metaloss}
out=runs/results/fmnist-$model-$steps
mkdir -p "$out"
for method in ml3 adalfl; do
  extra=()
  [[ $method == ml3 ]] && extra=(--extra-baselines lsr,sparse_lsr)
  start=$(date +%s)
  "$bin" learn --method $method --dataset fashion-mnist --model "$model" --seeds "$seeds" --steps "$steps" \
    --threads 1 "${extra[@]}" --out "$out/$method" 2>"$out/$method.log" | tee "$out/$method.txt"
  echo "wall $(( $(date +%s) - start )) s" | tee -a "$out/$method.txt"
done
