#!/usr/bin/env bash
# One loss file of every kind (ML3 and AdaLFL networks from `learn`, a TaylorGLO and an EvoMAL
# expression from `search`, a regression AdaLFL network), then check_loss_export.py on them.
# Usage: bench/compare/check_loss_export.sh [PATH/TO/metaloss] (needs bench/.venv with torch)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-build/release/metaloss}
py=bench/.venv/bin/python
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" learn --method ml3 --model logistic --meta-steps 3 --steps 40 --seeds 0 --out "$tmp/ml3" >/dev/null 2>&1
"$bin" learn --method adalfl --model logistic --meta-steps 3 --steps 40 --seeds 0 --out "$tmp/ada" >/dev/null 2>&1
"$bin" learn --method adalfl --dataset diabetes --model mlp --meta-steps 3 --steps 40 --seeds 0 --out "$tmp/reg" >/dev/null 2>&1
"$bin" search --model logistic --generations 1 --population 3 --steps 20 --seed 4 --test-seeds 4 --test-steps 20 \
  --out "$tmp/tg" >/dev/null 2>&1
"$bin" search --method evomal --model logistic --generations 1 --population 4 --steps 20 --meta-steps 3 --rejection-steps 0 \
  --seed-expr "mul(-1, mul(y, log(f)))" --seed 4 --test-seeds 4 --test-steps 20 --out "$tmp/evo" >/dev/null 2>&1
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "$py" bench/compare/check_loss_export.py "$bin" "$tmp/ml3/learned-loss-seed0.safetensors" \
  "$tmp/ada/learned-loss-seed0.safetensors" "$tmp/reg/learned-loss-seed0.safetensors" "$tmp/tg/best_loss.safetensors" \
  "$tmp/evo/best_loss.safetensors" 2>&1 | grep -v "Warning\|_conversion_method"
