#!/usr/bin/env bash
# The search rows of docs/results.md against tuned baselines: a search at the thesis' settings
# (EvoMAL 25 x 50, 500-step fitness, 250 local-search steps; TaylorGLO 20 x 50, 1000-step
# fitness), then its best loss meta-tested like the learned losses of scripts/results_thesis.sh:
# 5 seeds, each on its own split, 10,000 SGD steps at lr 0.01 (the thesis protocol) and over the
# lr grid 0.003-0.3 chosen per seed on validation, against CE with the same inits, batches and
# budget, paired t-tests (`metaloss learn --meta-test`). Both steps resume: the search from its
# run store, the meta-test per seed. The best loss of a finished search is kept in
# docs/results-data/thesis-ROW/best_loss.safetensors; with it present the search is not rerun.
# Usage: scripts/results_search_tuned.sh [PATH/TO/metaloss] ROW...
#   rows: evomal-fmnist-logistic taylorglo-fmnist-logistic evomal-fmnist-lenet5 evomal-fmnist-mlp
set -uo pipefail
bin=${1:-build/release/metaloss}
shift || true
declare -A search=(
  [evomal-fmnist-logistic]="--method evomal --model logistic --generations 50 --population 25 --steps 500 --meta-steps 250"
  [taylorglo-fmnist-logistic]="--method taylorglo --model logistic --generations 50 --population 20 --steps 1000"
  [evomal-fmnist-lenet5]="--method evomal --model lenet5 --generations 50 --population 25 --steps 500 --meta-steps 250"
  [evomal-fmnist-mlp]="--method evomal --model mlp --generations 50 --population 25 --steps 500 --meta-steps 250"
)
declare -A model=([evomal-fmnist-logistic]=logistic [taylorglo-fmnist-logistic]=logistic
                  [evomal-fmnist-lenet5]=lenet5 [evomal-fmnist-mlp]=mlp)
grid=0.003,0.01,0.03,0.1,0.3
mkdir -p runs
for name in "$@"; do
  [[ -n ${search[$name]:-} ]] || { echo "unknown row '$name' (rows: ${!search[*]})" >&2; exit 2; }
  saved=docs/results-data/thesis-$name
  loss=$saved/best_loss.safetensors
  if [[ ! -s $loss ]]; then
    # shellcheck disable=SC2086
    echo "+ metaloss search ${search[$name]} --dataset fashion-mnist --seed 0 --threads 1 --test-steps 10000 --test-seeds 0,1,2,3,4 --out runs/$name" \
      >"runs/$name.cmd"
    # shellcheck disable=SC2086
    "$bin" search ${search[$name]} --dataset fashion-mnist --seed 0 --threads 1 --test-steps 10000 --test-seeds 0,1,2,3,4 \
      --out "runs/$name" >"runs/$name.out" 2>"runs/$name.log" || { echo "FAILED search $name (runs/$name.log)"; continue; }
    mkdir -p "$saved" && cp "runs/$name/best_loss.safetensors" "$loss"
  fi
  out=runs/thesis-$name
  if [[ -d $saved/seeds && ! -d $out/seeds ]]; then mkdir -p "$out" && cp -r "$saved/seeds" "$out/"; fi
  cmd=(learn --meta-test "$loss" --dataset fashion-mnist --model "${model[$name]}" --seeds 0,1,2,3,4 --steps 10000
       --threads 1 --base-lr-grid "$grid" --out "$out")
  echo "+ metaloss ${cmd[*]}" >"$out.cmd"
  if "$bin" "${cmd[@]}" >"$out.out" 2>"$out.log"; then echo "done $name"; cat "$out.out"; else echo "FAILED $name ($out.log)"; fi
done
