#!/usr/bin/env bash
# The README's main-job command: installs dependencies, builds, and meta-learns a loss function
# with AdaLFL on Fashion-MNIST (Debian's dataset-fashion-mnist) with the paper's defaults
# (logistic regression; 2-40-40-1 loss network, 2500 offline meta steps, then 10000 online steps
# with one meta-gradient step per base step), then prints its test error next to two
# cross-entropy baselines with the same seed, split, initialisation and budget: at the thesis
# protocol's lr 0.01, and tuned (the lr of 0.01, 0.03, 0.1 with the lower validation error; AdaLFL
# gets the same choice), with a plain reading under the table. The learned loss, metrics and plots
# go to runs/learn-adalfl-fashion-mnist-logistic/. Extra arguments go to `metaloss learn` and
# override the defaults (e.g. --seeds 0,1,2 --model mlp).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" --target metaloss_cli
# One thread: logistic regression's small GEMMs gain nothing from a second core, and a thread
# pool on a loaded 2-core machine loses badly when one of its threads is descheduled.
grid=(--base-lr-grid 0.01,0.03,0.1) threads=(--threads 1)
for arg in "$@"; do
  [[ $arg == --base-lr-grid* ]] && grid=()
  [[ $arg == --threads* ]] && threads=()
done
exec build/release/metaloss learn --method adalfl --dataset fashion-mnist "${grid[@]}" "${threads[@]}" "$@"
