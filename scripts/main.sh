#!/usr/bin/env bash
# The README's main-job command: installs dependencies, builds, and meta-learns a loss function
# with AdaLFL on Fashion-MNIST (Debian's dataset-fashion-mnist) with the built-in defaults
# (logistic regression; 250 offline meta steps, then 10000 online steps with one meta-gradient step
# per base step), then prints the test error next to cross-entropy trained with the same seed,
# split, initialisation and budget. The learned loss, metrics and plots go to
# runs/learn-adalfl-fashion-mnist-logistic/. Extra arguments go to `metaloss learn` and override
# the defaults (e.g. --seeds 0,1,2 --model mlp).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" --target metaloss_cli
exec build/release/metaloss learn --method adalfl --dataset fashion-mnist "$@"
