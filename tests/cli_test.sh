#!/usr/bin/env bash
# End-to-end checks of the metaloss command line: exit codes, error messages, --config, --init/--save.
# Usage: cli_test.sh PATH/TO/metaloss   (CTest passes the built binary)
set -uo pipefail
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() {  # check NAME EXPECTED_EXIT PATTERN -- command...
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc -eq $want ]] && grep -qE -- "$pattern" <<<"$out"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $name: exit $rc (want $want), output:"
    sed 's/^/    /' <<<"$out" | tail -5
  fi
}

check "train: no budget" 2 "give the training budget: --steps N or --epochs N \\(--steps 0 evaluates an --init model\\)" -- "$bin" train --model logistic
check "train: empty --loss-expr" 2 "--loss-expr: the expression is empty" -- "$bin" train --model logistic --steps 5 --loss-expr ""
check "seed below 0" 2 "--seed: expected a seed in \[0, 18446744073709551615\], got '-5'" -- "$bin" train --model logistic --steps 1 --seed -5
check "seed past 2^64 - 1" 2 "--seed: expected a seed in \[0, 18446744073709551615\], got '18446744073709551616'" -- \
  "$bin" train --model logistic --steps 1 --seed 18446744073709551616
check "largest seed" 0 "test accuracy" -- "$bin" train --model logistic --steps 1 --seed 18446744073709551615
check "few-shot task seed below 0" 2 "--task-seed: expected a seed" -- "$bin" fewshot --task-seed -1
check "lr nan" 2 "--lr: expected a finite number, got 'nan'" -- "$bin" train --model logistic --steps 1 --lr nan
check "momentum nan" 2 "--momentum: expected a finite number, got 'nan'" -- "$bin" train --model logistic --steps 2 --momentum nan
check "val-fraction nan" 2 "--val-fraction: expected a finite number, got 'nan'" -- "$bin" train --model logistic --steps 1 --val-fraction nan
check "learn: val-fraction nan" 2 "--val-fraction: expected a finite number" -- "$bin" learn --method ml3 --val-fraction nan
check "huge lr: non-finite model not saved" 1 "training diverged: parameter '.*' is non-finite after the last step \\(1 of 1" -- \
  "$bin" train --model logistic --steps 1 --lr 1e39 --save "$tmp/nan-model.safetensors"
check "huge lr: nothing saved" 0 "^absent$" -- bash -c "[[ -e '$tmp/nan-model.safetensors' ]] && echo present || echo absent"
check "--save into a missing folder" 2 "--save: the folder '.*/no-such-dir' of '.*' does not exist" -- \
  "$bin" train --model logistic --steps 1 --save "$tmp/no-such-dir/m.safetensors"
mkdir -p "$tmp/ro" && chmod 555 "$tmp/ro"
if [[ $(id -u) -ne 0 ]]; then  # root writes anywhere: the read-only case is checked only as a user
  check "--save into a read-only folder" 2 "--save: the folder '.*/ro' of '.*' is not writable" -- \
    "$bin" train --model logistic --steps 1 --save "$tmp/ro/m.safetensors"
fi
check "--metrics into a missing folder" 2 "--metrics: the folder '.*/no-such-dir' of '.*' does not exist" -- \
  "$bin" train --model logistic --steps 1 --metrics "$tmp/no-such-dir/m.jsonl"
# A full disk (a file-size limit stands in for it): an error naming the file, exit 1, and no empty
# result files left behind.
check "learn: full disk is an error" 1 "(writing failed|write failed).*|File too large" -- \
  bash -c "trap '' XFSZ; ulimit -f 2; exec '$bin' learn --method ml3 --model logistic --meta-steps 2 --steps 20 --seeds 0 --out '$tmp/learn-full'"
check "learn: full disk leaves no empty results" 0 "^ok$" -- \
  bash -c "for f in '$tmp'/learn-full/results.csv '$tmp'/learn-full/results.md; do [[ ! -e \$f || -s \$f ]] || exit 1; done; echo ok"
check "loss without f" 2 "--loss-expr: 'log\\(y\\)' does not use the prediction f" -- "$bin" train --model logistic --steps 1 --loss-expr "log(y)"
# Loss files (issue 20): what learn and search write trains with `train --loss FILE` to the method's
# own meta-test error (same seed, split and budget), for every kind.
"$bin" learn --method ml3 --model logistic --meta-steps 3 --steps 60 --seeds 0 --out "$tmp/lf-ml3" >/dev/null 2>&1
want=$(awk -F, 'NR == 2 {printf "%.6f", $3}' "$tmp/lf-ml3/results.csv")
"$bin" train --model logistic --steps 60 --seed 0 --loss "$tmp/lf-ml3/learned-loss-seed0.safetensors" --metrics "$tmp/lf-ml3.jsonl" >/dev/null 2>&1
got=$(python3 -c "import json,sys; print('%.6f' % [json.loads(l) for l in open(sys.argv[1])][-1]['test_error'])" "$tmp/lf-ml3.jsonl")
check "loss file round trip: ML3 network (learn -> train --loss)" 0 "^$want$" -- echo "$got"
check "runs list shows learn runs: seeds done and the test errors" 0 "lf-ml3 +ml3 +fashion-mnist +logistic +seeds 1/1 .*complete, test err [0-9.]+% vs baseline [0-9.]+%" \
  -- "$bin" runs list "$tmp"
"$bin" search --model logistic --generations 1 --population 3 --steps 20 --seed 4 --test-seeds 4 --test-steps 40 --out "$tmp/lf-tg" \
  >"$tmp/lf-tg.out" 2>&1
want=$(grep -oE "meta-test seed 4: taylorglo [0-9.]+%" "$tmp/lf-tg.out" | grep -oE "[0-9.]+%$")
check "loss file round trip: TaylorGLO (search -> train --loss)" 0 "test error $want" -- \
  "$bin" train --model logistic --steps 40 --seed 4 --loss "$tmp/lf-tg/best_loss.safetensors"
"$bin" search --method evomal --model logistic --generations 1 --population 4 --steps 20 --meta-steps 3 --rejection-steps 0 \
  --seed-expr "mul(-1, mul(y, log(f)))" --seed 4 --test-seeds 4 --test-steps 40 --out "$tmp/lf-evo" >"$tmp/lf-evo.out" 2>&1
want=$(grep -oE "meta-test seed 4: evomal [0-9.]+%" "$tmp/lf-evo.out" | grep -oE "[0-9.]+%$")
check "loss file round trip: EvoMAL expression + edge weights (search -> train --loss)" 0 "test error $want" -- \
  "$bin" train --model logistic --steps 40 --seed 4 --loss "$tmp/lf-evo/best_loss.safetensors"
# learn --meta-test FILE: a loss file meta-tested as a learned loss is, so it reproduces the
# method's own meta-test: ML3's learned column, and a search's meta-test of its run seed.
"$bin" learn --meta-test "$tmp/lf-ml3/learned-loss-seed0.safetensors" --model logistic --steps 60 --seeds 0 \
  --out "$tmp/mt-ml3" >/dev/null 2>&1
check "learn --meta-test: reproduces ML3's meta-test (baseline and learned columns)" 0 "^same$" -- bash -c \
  "[[ \$(awk -F, 'NR == 2 {print \$2, \$3}' '$tmp/mt-ml3/results.csv') == \$(awk -F, 'NR == 2 {print \$2, \$3}' '$tmp/lf-ml3/results.csv') ]] && echo same"
"$bin" learn --meta-test "$tmp/lf-evo/best_loss.safetensors" --model logistic --steps 40 --seeds 4 --out "$tmp/mt-evo" \
  >"$tmp/mt-evo.out" 2>/dev/null
want=$(grep -oE "meta-test seed 4: evomal [0-9.]+%" "$tmp/lf-evo.out" | grep -oE "[0-9.]+%$")
check "learn --meta-test: reproduces EvoMAL's meta-test of the run seed" 0 "^4 +[0-9.]+% +${want:-(no meta-test in the search output)}" -- cat "$tmp/mt-evo.out"
check "learn --meta-test: named after the file's method" 0 "evomal \\(lr 0.01\\) test error" -- cat "$tmp/mt-evo.out"
"$bin" learn --meta-test "$tmp/lf-tg/best_loss.safetensors" --model logistic --steps 20 --seeds 0,1 --base-lr-grid 0.01,0.1 \
  --out "$tmp/mt-tg" >"$tmp/mt-tg.out" 2>/dev/null
check "learn --meta-test: tuned columns and paired test over seeds" 0 "each tuned on validation over lr 0.01,0.1: taylorglo - ce" -- cat "$tmp/mt-tg.out"
check "learn --meta-test with --method" 2 "--meta-test tests the loss in a file; --method learns one" -- \
  "$bin" learn --method ml3 --meta-test "$tmp/lf-tg/best_loss.safetensors"
check "learn --meta-test: classification loss on regression data" 2 "a classification loss .* but --dataset diabetes is regression" -- \
  "$bin" learn --meta-test "$tmp/lf-tg/best_loss.safetensors" --dataset diabetes
check "learn --meta-test: missing file" 1 "no-such.safetensors" -- "$bin" learn --meta-test "$tmp/no-such.safetensors"
check "runs list shows meta-test runs" 0 "mt-ml3 +ml3 +fashion-mnist +logistic +seeds 1/1" -- "$bin" runs list "$tmp"
check "runs export --loss RANK" 0 "wrote .*rank2.safetensors: hall-of-fame rank 2, taylorglo\\(" -- \
  "$bin" runs export "$tmp/lf-tg" --loss 2 -o "$tmp/rank2.safetensors"
check "runs export --loss past the hall of fame" 2 "--loss 99: the hall of fame of .* holds 3 entries" -- \
  "$bin" runs export "$tmp/lf-tg" --loss 99 -o "$tmp/rank99.safetensors"
check "loss show" 0 "kind +expression" -- "$bin" loss show "$tmp/lf-evo/best_loss.safetensors"
check "loss show: provenance" 0 "method +evomal" -- "$bin" loss show "$tmp/lf-evo/best_loss.safetensors"
check "loss export c" 0 "static inline double metaloss_loss_pair" -- "$bin" loss export "$tmp/rank2.safetensors" --format c
check "loss export pytorch" 0 "def my_loss\\(output, target\\)" -- "$bin" loss export "$tmp/lf-ml3/learned-loss-seed0.safetensors" --format pytorch --name my_loss
check "loss plot" 0 "wrote .*lfplot.dat and .*lfplot.gp" -- "$bin" loss plot "$tmp/lf-evo/best_loss.safetensors" -o "$tmp/lfplot"
# gnuplot's own messages stay out of the output: a gnuplot that warns and succeeds leaves no trace;
# one that fails is reported with the last thing it said. (Fake gnuplots first on PATH.)
mkdir -p "$tmp/gp-warn" "$tmp/gp-fail"
printf '#!/bin/sh\necho "warning: noisy font" >&2\n: > "${1%%.gp}.svg"\n' >"$tmp/gp-warn/gnuplot"
printf '#!/bin/sh\necho "warning: noisy font" >&2\necho "line 9: fatal: no such terminal" >&2\nexit 1\n' >"$tmp/gp-fail/gnuplot"
chmod +x "$tmp/gp-warn/gnuplot" "$tmp/gp-fail/gnuplot"
check "gnuplot's warnings are not shown" 0 "^ok$" -- bash -c "out=\$(PATH='$tmp/gp-warn':\$PATH '$bin' loss plot '$tmp/lf-evo/best_loss.safetensors' -o '$tmp/gpw' 2>&1); grep -q 'noisy font' <<<\"\$out\" || echo ok"
check "a failing gnuplot: its last line named" 0 "gnuplot failed on .*gpf.gp \(line 9: fatal: no such terminal\)" -- \
  env PATH="$tmp/gp-fail:$PATH" "$bin" loss plot "$tmp/lf-evo/best_loss.safetensors" -o "$tmp/gpf"
check "gnuplot's log is not left behind" 0 "^none$" -- bash -c "ls '$tmp'/gpw.gnuplot.log '$tmp'/gpf.gnuplot.log 2>/dev/null || echo none"
check "loss plot: data for y = 1 and y = 0" 0 "^101$" -- bash -c "grep -vc '^#' '$tmp/lfplot.dat'"
check "loss eval" 0 "\"value\": " -- "$bin" loss eval "$tmp/rank2.safetensors"
check "--loss-expr with edge weights" 0 "test error" -- "$bin" train --model logistic --steps 5 --loss-expr "mul(-1, mul(y, log(f))) @ [1, 1, 1, 1, 2]"
check "--loss-expr taylorglo" 0 "test error" -- "$bin" train --model logistic --steps 5 --loss-expr "taylorglo(0, 0, -1, 0, 0, 0, 0, 0)"
check "--loss-expr weight count" 2 "--loss-expr: edge weights after '@': 2 weights for the 5 edges" -- \
  "$bin" train --model logistic --steps 5 --loss-expr "mul(-1, mul(y, log(f))) @ [1, 2]"
head -c 200 "$tmp/rank2.safetensors" >"$tmp/cut.safetensors"
check "damaged loss file: exit 1 naming the file" 1 "cut.safetensors" -- "$bin" train --model logistic --steps 5 --loss "$tmp/cut.safetensors"
check "missing loss file: usage" 2 "--loss" -- "$bin" train --model logistic --steps 5 --loss "$tmp/nope.safetensors"
# Issue 21: --version, "did you mean", and --config with JSON booleans for flags and _ in keys.
check "--version" 0 "^metaloss 0\.1\.0 \(git [0-9a-f]+|^metaloss 0\.1\.0 \(git unknown" -- "$bin" --version
check "--version: backends" 0 "backends: CPU \(OpenBLAS\)" -- "$bin" --version
check "unknown command: did you mean" 2 "unknown command 'trian' \(did you mean 'train'\?\)" -- "$bin" trian --steps 1
check "unknown option: did you mean" 2 "unexpected arguments '--stpes' '5' \(did you mean --steps\?\)" -- "$bin" train --stpes 5
echo '{"nesterov": true, "batch_size": 64, "momentum": 0.9, "steps": 2, "model": "logistic"}' >"$tmp/flags.json"
check "--config: a flag as true, a key with _" 0 "test accuracy" -- "$bin" train --config "$tmp/flags.json"
# The same options as flat YAML (FILE.yaml / .yml): comments, true/yes, quoted strings; the
# config's steps (2) lose to the command line's (3).
printf -- '---\n# a run\nnesterov: true   # a flag\nbatch_size: 64\nmomentum: 0.9\nsteps: 2\nmodel: "logistic"\nshuffle: yes\n' >"$tmp/flags.yaml"
check "--config FILE.yaml: flags, comments, quotes; the command line wins" 0 "trained 3 steps" -- "$bin" train --config "$tmp/flags.yaml" --steps 3
printf 'model: logistic\noptimizer:\n  name: sgd\n' >"$tmp/nested.yml"
check "--config YAML: a nested mapping is refused with its line" 2 "config file '.*nested.yml': line 2: expected a value for 'optimizer' \(nested mappings are not options\)" -- \
  "$bin" train --config "$tmp/nested.yml"
printf 'steps: 2\nmodel: logistic\nsteps: 3\n' >"$tmp/twice.yaml"
check "--config YAML: a key given twice" 2 "line 3: expected each option once: 'steps' was given on line 1 too" -- "$bin" train --config "$tmp/twice.yaml"
printf 'model: [logistic]\n' >"$tmp/list.yaml"
check "--config YAML: a list value" 2 "line 1: expected a plain value for 'model' \(lists, mappings" -- "$bin" train --config "$tmp/list.yaml"
printf 'model: "logistic\n' >"$tmp/quote.yaml"
check "--config YAML: an unclosed quote" 2 "line 1: expected the closing \" of the value of 'model'" -- "$bin" train --config "$tmp/quote.yaml"
printf 'lr: abc\nsteps: 1\n' >"$tmp/badlr.yaml"
check "--config YAML: a bad value names the file" 2 "--lr: expected a finite number, got 'abc' \(options from --config .*badlr.yaml included\)" -- "$bin" train --config "$tmp/badlr.yaml"
echo '{"lr": "abc"}' >"$tmp/badlr.json"
check "--config: a bad value names the file" 2 "--lr: expected a finite number, got 'abc' \(options from --config .*badlr.json included\)" -- \
  "$bin" train --config "$tmp/badlr.json" --steps 1
check "models list" 0 "lenet5 +44426" -- "$bin" models
check "models show" 0 "7.weight +\[120, 256\]" -- "$bin" models show lenet5
check "unknown model name" 2 "unknown model 'nope'" -- "$bin" models show nope
check "unknown option" 2 "bogus" -- "$bin" train --bogus 3
check "bad value" 2 "--lr" -- "$bin" train --lr abc
check "bad choice" 2 "--loss" -- "$bin" train --loss hinge
check "no subcommand" 2 "subcommand" -- "$bin"
check "help" 0 "--batch-size" -- "$bin" train --help
check "steps and epochs" 2 "either --steps or --epochs" -- "$bin" train --steps 5 --epochs 1
check "missing init file" 2 "--init" -- "$bin" train --init "$tmp/none.safetensors"
check "model/dataset mismatch" 2 "takes inputs \[3, 32, 32\]" -- "$bin" train --model vgg16 --steps 1
echo '{"model": "logistic", "steps": 3, "lr": 0.5, "shuffle": false' >"$tmp/bad.json"
check "milestones without step" 2 "only used with --lr-schedule step" -- "$bin" train --lr-milestones 3 --steps 1
check "bad milestones" 2 "expected comma-separated numbers, got 'x'" -- "$bin" train --lr-schedule step --lr-milestones 1,x
check "step without milestones" 2 "needs --lr-milestones" -- "$bin" train --lr-schedule step --steps 1
check "bad dtype" 2 "--dtype" -- "$bin" train --dtype float16
check "float64 + cosine" 0 "test accuracy 0\\.[0-9]+" -- "$bin" train --model logistic --steps 20 --dtype float64 --lr-schedule cosine
check "sparse_lsr loss" 0 "test accuracy 0\\.[0-9]+" -- "$bin" train --model logistic --steps 5 --loss sparse_lsr
check "l1 not a train loss" 2 "--loss" -- "$bin" train --model logistic --steps 5 --loss l1
check "bad device" 2 "'gpu' is not a device \\(expected cpu, cuda, cuda:N or cpu:1..cpu:7\\)" -- "$bin" train --device gpu --steps 1
for cmd in train learn search resume fewshot; do  # every method's command places its work
  check "$cmd --help lists --device" 0 "--device TEXT" -- "$bin" $cmd --help
done
check "search --help lists --devices" 0 "--devices TEXT" -- "$bin" search --help
# One vocabulary (README, "Options"): fewshot says --meta-steps, --data-dir and --clip-norm as the
# other commands do; the old spellings still work for a release, with a warning.
check "fewshot --help: --meta-steps, not --iterations" 0 "--meta-steps" -- "$bin" fewshot --help
check "fewshot --help hides the deprecated spellings" 1 "^$" -- bash -c "'$bin' fewshot --help | grep -E -- '--iterations|--clip |--data '"
check "fewshot --clip: deprecated, named" 2 "warning: --clip is deprecated, use --clip-norm" -- "$bin" fewshot --clip 5 --dataset omniglot
check "missing device" 2 "--device: device cuda:15 is not available" -- "$bin" train --model logistic --device cuda:15 --steps 1
check "float64 + augment" 2 "--augment on needs --dtype float32" -- "$bin" train --dtype float64 --augment on --steps 1
check "float64 save" 0 "saved" -- "$bin" train --model logistic --steps 3 --dtype float64 --save "$tmp/f64.safetensors"
check "float64 file into float32 run" 0 "test accuracy" -- "$bin" train --model logistic --steps 0 --init "$tmp/f64.safetensors"
check "malformed config" 2 "config file '.*bad.json': at byte" -- "$bin" train --config "$tmp/bad.json"

# Training through a config file, with a command-line override (steps 4 beats the file's 3).
echo '{"model": "logistic", "steps": 3, "lr": 0.05, "shuffle": false, "val-fraction": 0}' >"$tmp/cfg.json"
check "config + override" 0 "trained 4 steps" -- "$bin" train --config "$tmp/cfg.json" --steps 4 --save "$tmp/a.safetensors" \
  --metrics "$tmp/m.jsonl"
check "metrics file" 0 '"event": "end"' -- cat "$tmp/m.jsonl"
"$bin" train --config "$tmp/cfg.json" --steps 4 --metrics "$tmp/m.jsonl" >/dev/null 2>&1
check "metrics file: a second train run replaces it (one start line)" 0 "^1$" -- grep -c '"event": "start"' "$tmp/m.jsonl"
# --init from the saved file with 0 steps reproduces the saved model's accuracy exactly.
acc1=$("$bin" train --model logistic --steps 0 --val-fraction 0 --init "$tmp/a.safetensors" 2>/dev/null | tail -1)
acc2=$("$bin" train --model logistic --steps 0 --val-fraction 0 --init "$tmp/a.safetensors" --seed 9 2>/dev/null | tail -1)
if [[ -n $acc1 && $acc1 == "$acc2" ]]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: --init round trip: '$acc1' vs '$acc2'"; fi
check "init into wrong model" 1 "--init .*a.safetensors: load_state_dict: .1.weight. has shape \[10, 784\], expected \[1000, 784\]" -- "$bin" train --model mlp --steps 0 --init "$tmp/a.safetensors"
# Same seed, same result.
r1=$("$bin" train --model logistic --steps 5 --seed 3 2>/dev/null | tail -1)
r2=$("$bin" train --model logistic --steps 5 --seed 3 2>/dev/null | tail -1)
if [[ -n $r1 && $r1 == "$r2" ]]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: reproducibility: '$r1' vs '$r2'"; fi
# A diverging run stops with a clear error naming the step.
check "NaN loss" 1 "training diverged: the ce loss is (nan|inf|-nan) at step 2" -- "$bin" train --model logistic --steps 20 --lr 1e38 --momentum 0.9

# metaloss learn: usage errors exit 2 with a message; tiny runs print the table and write the files.
check "learn: bad method" 2 "--method: bogus not in \{ml3,adalfl\}" -- "$bin" learn --method bogus
check "learn: method required" 2 "give --method ml3 or adalfl to learn a loss, or --meta-test FILE" -- "$bin" learn --steps 5
check "learn: steps and epochs" 2 "either --steps or --epochs" -- "$bin" learn --method ml3 --steps 5 --epochs 1
check "learn: learn-lr with ml3" 2 "--learn-lr is for --method adalfl" -- "$bin" learn --method ml3 --learn-lr
check "an integer past 2^63 - 1 is refused, not saturated" 2 "--steps: expected an integer in \[-2\^63, 2\^63 - 1\], got '99999999999999999999999'" -- \
  "$bin" train --model logistic --steps 99999999999999999999999
check "the same on every command" 2 "--generations: expected an integer in \[-2\^63, 2\^63 - 1\]" -- "$bin" search --generations 99999999999999999999
check "learn: bad seeds" 2 "--seeds: expected comma-separated non-negative integers, got 'x'" -- "$bin" learn --method ml3 --seeds 0,x
check "learn: image model on regression" 2 "--model logistic is not a regression model" -- "$bin" learn --method ml3 --dataset diabetes --model logistic
check "learn: model/dataset mismatch" 2 "takes inputs \[3, 32, 32\]" -- "$bin" learn --method ml3 --model vgg16
check "search: model/dataset mismatch is a usage error" 2 "takes inputs \[3, 32, 32\]" -- "$bin" search --model vgg16 --generations 1 --out "$tmp/s-vgg"
check "search: unknown model is a usage error" 2 "--model: " -- "$bin" search --model nosuch --generations 1 --out "$tmp/s-nosuch"
check "search: mnist without --data-dir is a usage error" 2 "needs --data-dir" -- "$bin" search --dataset mnist --generations 1 --out "$tmp/s-mnist"
check "learn: help" 0 "--inner-steps" -- "$bin" learn --help
check "learn: bad extra baseline" 2 "--extra-baselines: 'hinge' is not a fixed loss" -- "$bin" learn --method ml3 --extra-baselines lsr,hinge
check "learn: extra baselines" 0 "mean ± std +[0-9.]+% ± n/a +[0-9.]+% ± n/a +[0-9.]+% ± n/a +[0-9.]+% ± n/a" -- \
  "$bin" learn --method ml3 --model logistic --meta-steps 2 --steps 20 --extra-baselines lsr,sparse_lsr --out "$tmp/learn-extra"
check "learn: adalfl tiny run" 0 "mean ± std +[0-9.]+% ± n/a +[0-9.]+% ± n/a" -- \
  "$bin" learn --method adalfl --model logistic --meta-steps 3 --steps 20 --snapshots 2 --out "$tmp/learn"
check "learn: AdaLFL snapshots saved as loss files" 0 "seed0-step[0-9]+.safetensors" -- bash -c "ls '$tmp'/learn/snapshots/"
check "learn: a snapshot is a loss file with its step" 0 "step +[0-9]+" -- bash -c "'$bin' loss show \$(ls '$tmp'/learn/snapshots/*.safetensors | tail -1)"
for f in results.csv results.md metrics.jsonl learned-loss-seed0.safetensors loss-seed0.gp loss-seed0.dat; do
  if [[ -s $tmp/learn/$f ]]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: learn did not write $f"; fi
done
check "learn: metrics" 0 '"phase": "adalfl-online"' -- cat "$tmp/learn/metrics.jsonl"
# Tuned baselines: the base lr chosen per seed on validation, for CE and the learned loss alike,
# with a paired t-test per comparison under the table.
check "learn: bad lr grid" 2 "--base-lr-grid: expected comma-separated positive learning rates, got 'x'" -- \
  "$bin" learn --method ml3 --base-lr-grid 0.01,x
check "learn: a diverging grid rate is skipped" 0 "baseline at lr 1e\+38: training diverged.*\(not a candidate\)" -- \
  "$bin" learn --method ml3 --model logistic --meta-steps 2 --steps 20 --momentum 0.9 --base-lr-grid 0.01,1e38 --out "$tmp/learn-div"
check "learn: every grid rate diverges" 1 "baseline: every rate of --base-lr-grid 1e37,1e38 diverged" -- \
  "$bin" learn --method ml3 --model logistic --meta-steps 2 --steps 20 --momentum 0.9 --base-lr-grid 1e37,1e38 --out "$tmp/learn-div2"
# A killed learn keeps its finished seeds: the same command again takes them from OUT/seeds/.
"$bin" learn --method ml3 --model logistic --meta-steps 2 --steps 20 --seeds 0 --base-lr-grid 0.01,0.1 --out "$tmp/learn-resume" >"$tmp/r1.txt" 2>/dev/null
check "learn: finished seeds are kept" 0 "seed 0: done in an earlier run" -- \
  "$bin" learn --method ml3 --model logistic --meta-steps 2 --steps 20 --seeds 0,1 --base-lr-grid 0.01,0.1 --out "$tmp/learn-resume"
"$bin" learn --method ml3 --model logistic --meta-steps 2 --steps 20 --seeds 0,1 --base-lr-grid 0.01,0.1 --out "$tmp/learn-fresh" >"$tmp/r2.txt" 2>/dev/null
"$bin" learn --method ml3 --model logistic --meta-steps 2 --steps 20 --seeds 0,1 --base-lr-grid 0.01,0.1 --out "$tmp/learn-resume" >"$tmp/r3.txt" 2>/dev/null
if cmp -s "$tmp/r2.txt" "$tmp/r3.txt" && [[ -s $tmp/r2.txt ]]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: resumed learn table differs from a fresh run"; diff "$tmp/r2.txt" "$tmp/r3.txt" | head -5; fi
check "learn: a resumed run appends to its metrics (3 runs, 3 start lines)" 0 "^3$" -- grep -c '"event": "start"' "$tmp/learn-resume/metrics.jsonl"
check "learn: other options retrain the seed" 0 "seed 0: .*seed-0.txt was written under other options" -- \
  "$bin" learn --method ml3 --model logistic --meta-steps 2 --steps 21 --seeds 0 --out "$tmp/learn-resume"
# Metrics: a fresh run starts its file anew, a resumed one appends (the run above changed --steps,
# so none of its seeds was on disk: one start line); the train curves of each run are labelled.
check "learn: a fresh run truncates its metrics" 0 "^1$" -- grep -c '"event": "start"' "$tmp/learn-resume/metrics.jsonl"
# --quiet (after or before the command): no progress lines, the results still; without it 3 lines.
check "train without --quiet: progress lines" 0 "^3$" -- bash -c "'$bin' train --model logistic --steps 300 2>&1 | grep -c 'train step'"
check "train --quiet: no progress lines" 0 "^0 trained 300 steps" -- bash -c "echo \$( ('$bin' train --model logistic --steps 300 --quiet 2>&1 | grep -c 'train step'); '$bin' train --model logistic --steps 300 --quiet 2>&1 | grep -o '^trained 300 steps')"
check "metaloss --quiet train: the same" 0 "^0$" -- bash -c "'$bin' --quiet train --model logistic --steps 300 2>&1 | grep -c 'train step'; true"
check "search --help lists --config" 0 "--config TEXT +JSON or YAML" -- "$bin" search --help
check "fewshot --help lists --config" 0 "--config TEXT +JSON or YAML" -- "$bin" fewshot --help
check "learn: lr grid twice" 2 "--base-lr-grid: rate 0.1 appears twice" -- "$bin" learn --method ml3 --base-lr-grid 0.1,0.1
check "learn: lr grid + learn-lr" 2 "give one of them" -- "$bin" learn --method adalfl --learn-lr --base-lr-grid 0.1
check "learn: bad loss widths" 2 "--loss-hidden: expected comma-separated widths" -- "$bin" learn --method adalfl --loss-hidden 40,0
check "learn: tuned table" 0 "each tuned on validation over lr 0.01,0.1: ml3 - ce = [-+][0-9.]+ points \(paired t-test over 2 seeds: p = " -- \
  "$bin" learn --method ml3 --model logistic --meta-steps 2 --steps 20 --seeds 0,1 --base-lr-grid 0.01,0.1 --out "$tmp/learn-grid"
check "learn: tuned columns" 0 "\| 1 \| [0-9.]+% \| [0-9.]+% \(lr 0\.1?0?1?\) \| [0-9.]+% \| [0-9.]+% \(lr 0\.[01]+\) \|" -- cat "$tmp/learn-grid/results.md"
check "learn: baseline training curves in the metrics" 0 '"batch_loss": .*"event": "train", "run": "baseline ce"' -- cat "$tmp/learn-grid/metrics.jsonl"
check "learn: meta-test training curves in the metrics" 0 '"base_lr": 0.1,.*"event": "train", "run": "ml3 meta-test"' -- cat "$tmp/learn-grid/metrics.jsonl"
check "learn: AdaLFL snapshots as small multiples" 0 "set multiplot layout" -- cat "$tmp/learn/loss-seed0.gp"
check "learn: adalfl tuned + grad-norm plot" 0 "adalfl tuned" -- \
  "$bin" learn --method adalfl --model logistic --meta-steps 2 --steps 20 --base-lr-grid 0.1,0.01 --log-every 5 --out "$tmp/learn-ada-grid"
for f in learned-loss-seed0-tuned.safetensors meta-grad-norm-seed0.dat meta-grad-norm-seed0.gp; do
  if [[ -s $tmp/learn-ada-grid/$f ]]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: learn did not write $f"; fi
done
check "learn: loss network options" 0 '"hidden":\[8\],"bias":false,"activation":"relu".*"output":"softplus"' -- \
  "$bin" learn --method adalfl --model logistic --meta-steps 2 --steps 5 --loss-hidden 8 --loss-activation relu --loss-output softplus --out "$tmp/learn-net"
echo '{"method": "ml3", "dataset": "boston", "model": "linear", "meta-steps": 2, "steps": 3}' >"$tmp/learn.json"
check "learn: --config + override" 0 "ml3 on boston with linear, seeds 0, 2 meta steps, steps 5" -- \
  "$bin" learn --config "$tmp/learn.json" --steps 5 --out "$tmp/learn-cfg"
check "learn: ml3 regression, 2 seeds" 0 "mean ± std +[0-9.]+ ± [0-9.]+ +[0-9.]+ ± [0-9.]+" -- \
  "$bin" learn --method ml3 --dataset diabetes --meta-steps 3 --steps 20 --seeds 0,1 --out "$tmp/learn-reg"

# metaloss search (TaylorGLO): option errors, and a tiny run that prints the best loss and the comparison.
check "search: bad method" 2 "--method: gl0 not in \\{taylorglo,evomal,gplfl,glo\\}" -- "$bin" search --method gl0
check "search: bad population" 2 "--population" -- "$bin" search --population 1
check "search: tiny run" 0 "test error, 20 steps from scratch, mean over seeds 0: taylorglo [0-9.]+%, cross entropy [0-9.]+%" -- \
  "$bin" search --model logistic --generations 2 --population 4 --steps 20 --out "$tmp/search"
check "train with a symbolic loss" 0 "test accuracy 0\\.[0-9]+" -- \
  "$bin" train --model logistic --steps 20 --loss-expr "mul(-1, mul(y, log(f(x))))"
check "malformed symbolic loss" 2 "expression: mul takes 2 arguments: expected ',' at position 5" -- \
  "$bin" train --model logistic --steps 20 --loss-expr "mul(y)"
check "search: run store" 0 "hall of fame" -- "$bin" runs show "$tmp/search"
check "search: bad test seeds" 2 "--test-seeds: expected comma-separated non-negative integers, got 'x'" -- \
  "$bin" search --test-seeds 1,x

echo "cli: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
