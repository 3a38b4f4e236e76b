#!/usr/bin/env bash
# The README's main-job command: installs dependencies, builds, and trains LeNet-5 on Fashion-MNIST
# (Debian's dataset-fashion-mnist) with cross-entropy, printing the test accuracy and error.
# Extra arguments go to `metaloss train` and override the defaults (e.g. --epochs 2 --seed 1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" --target metaloss_cli
exec build/release/metaloss train --dataset fashion-mnist --model lenet5 --loss ce --optimizer sgd --lr 0.01 \
  --momentum 0.9 --batch-size 128 --epochs 10 --seed 0 --metrics build/release/main-job.jsonl "$@"
