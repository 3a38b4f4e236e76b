#!/usr/bin/env bash
# The thesis-protocol tables of docs/results.md with tuned baselines: 5 seeds, 10,000 base steps
# (SGD lr 0.01, batch 128, no momentum: the thesis protocol), and the same base models trained
# over the lr grid with the rate chosen per seed on the validation split (CE/MSE and the learned
# loss alike). Each row's folder holds results.md (with the paired t-tests), results.csv, the
# learned losses and plots. Rows already done (results.csv present) are skipped: rerun to resume.
# Usage: scripts/results_thesis.sh [PATH/TO/metaloss] ROW... (rows: see below; default all)
set -uo pipefail
bin=${1:-build/release/metaloss}
shift || true
# The grid: 0.003-0.3 for the cheap rows; 0.01-0.1 for the MLP and LeNet-5 rows (10,000 steps of
# those cost minutes per run on one core; 0.003 and 0.3 never won a cheap row's CE tuning).
grid=0.003,0.01,0.03,0.1,0.3
big=0.01,0.03,0.1
common=(learn --seeds 0,1,2,3,4 --steps 10000 --threads 1)
declare -A rows=(
  [ml3-fmnist-logistic]="--method ml3 --dataset fashion-mnist --model logistic --base-lr-grid $grid"
  [adalfl-fmnist-logistic]="--method adalfl --dataset fashion-mnist --model logistic --base-lr-grid $grid"
  [ml3-diabetes-mlp]="--method ml3 --dataset diabetes --model mlp --base-lr-grid $grid"
  [adalfl-diabetes-mlp]="--method adalfl --dataset diabetes --model mlp --base-lr-grid $grid"
  [ml3-boston-mlp]="--method ml3 --dataset boston --model mlp --base-lr-grid $grid"
  [adalfl-boston-mlp]="--method adalfl --dataset boston --model mlp --base-lr-grid $grid"
  [ml3-fmnist-mlp]="--method ml3 --dataset fashion-mnist --model mlp --base-lr-grid $big"
  [adalfl-fmnist-mlp]="--method adalfl --dataset fashion-mnist --model mlp --base-lr-grid $big"
  [ml3-fmnist-lenet5]="--method ml3 --dataset fashion-mnist --model lenet5 --base-lr-grid $big"
  [adalfl-fmnist-lenet5]="--method adalfl --dataset fashion-mnist --model lenet5 --base-lr-grid $big"
)
order=(ml3-fmnist-logistic adalfl-fmnist-logistic ml3-diabetes-mlp adalfl-diabetes-mlp ml3-boston-mlp
       adalfl-boston-mlp ml3-fmnist-mlp adalfl-fmnist-mlp ml3-fmnist-lenet5 adalfl-fmnist-lenet5)
(($#)) && order=("$@")
mkdir -p runs
for name in "${order[@]}"; do
  [[ -n ${rows[$name]:-} ]] || { echo "unknown row '$name' (rows: ${!rows[*]})" >&2; exit 2; }
  out=runs/thesis-$name
  [ -s "$out/results.csv" ] && { echo "have $name"; continue; }
  # Rows resume per seed (learn keeps finished seeds in $out/seeds/). Seeds finished in an earlier
  # session on another machine are committed under docs/results-data/thesis-NAME/seeds/: start
  # from them (learn checks each file's fingerprint, so a file of other options is trained again).
  saved=docs/results-data/thesis-$name/seeds
  if [[ -d $saved && ! -d $out/seeds ]]; then mkdir -p "$out" && cp -r "$saved" "$out/"; echo "resuming $name from $saved"; fi
  # shellcheck disable=SC2086
  echo "+ metaloss ${common[*]} ${rows[$name]} --out $out" >"$out.cmd"
  if "$bin" "${common[@]}" ${rows[$name]} --out "$out" >"$out.out" 2>"$out.log"; then
    echo "done $name"; cat "$out.out"
  else
    echo "FAILED $name (see $out.log)"
  fi
done
