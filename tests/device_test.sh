#!/usr/bin/env bash
# Every method on a device other than the plain CPU, end to end, tiny budgets:
#   - on the host check device cpu:1 (host memory and the CPU kernels, but a device of its own:
#     any tensor left on "cpu" makes an op throw, as it would on a GPU) each method gives exactly
#     the results of --device cpu: learn (ML3, AdaLFL), search (TaylorGLO, EvoMAL, GP-LFL, GLO),
#     local workers on other devices (--devices), resume on another device, train, fewshot (MAML,
#     Meta-SGD, NPBML);
#   - the run store records where each candidate ran;
#   - --device cuda on a machine or build without CUDA exits 2 naming the device.
# Usage: device_test.sh PATH/TO/metaloss          (CTest `device`)
#        device_test.sh PATH/TO/metaloss cuda     (CTest `device_cuda`: the same runs on cuda:0 next to
#                                                  the CPU, within a float32 tolerance; exit 77 = skipped
#                                                  without a GPU)
set -uo pipefail
bin=$1
mode=${2:-host}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect() {  # expect NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then ok; else bad "$name"; fi
}
run() {  # run NAME ARGS...: the command's stdout in $tmp/NAME.out, stderr in $tmp/NAME.err
  local name=$1
  shift
  "$bin" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  local rc=$?
  if ((rc != 0)); then
    bad "$name: exit $rc ($*)"
    tail -5 "$tmp/$name.err"
    return 1
  fi
}

other=cpu:1
if [[ $mode == cuda ]]; then
  out=$("$bin" train --model logistic --steps 1 --device cuda 2>&1)
  if grep -qE "not available|built without CUDA" <<<"$out"; then
    echo "SKIP: no CUDA device ($(grep -oE 'device cuda:0 is not available.*' <<<"$out" | head -1))"
    exit 77
  fi
  other=cuda:0
fi

# Numbers of a results table or a result line, rounded for the CUDA comparison (float32 runs on
# another summation order: a few ulps per step, which tiny runs keep far below 0.5 points).
numbers() { grep -oE -- '-?[0-9]+\.[0-9]+' "$1"; }
same_results() {  # same_results NAME FILE-ON-CPU FILE-ON-OTHER
  if [[ ! -s $2 || ! -s $3 ]]; then  # two empty files would compare equal
    bad "$1: nothing to compare (an empty result file)"
    return
  fi
  if [[ $mode == host ]]; then
    expect "$1: identical on $other" cmp -s "$2" "$3"
  else
    # The same lines, the same text between the numbers (genomes, statuses), and every number within
    # 4% of the CPU's (at least 0.04 absolute: 2 validation examples of 48 as a fraction, half a
    # point as a percentage): the documented CUDA tolerance of these tiny float32 runs.
    expect "$1: within tolerance on $other" python3 - "$2" "$3" <<'EOF'
import re, sys
num = r'-?\d+\.\d+(?:e[-+]?\d+)?'
la, lb = (open(f).read().splitlines() for f in sys.argv[1:3])
ok = len(la) == len(lb) > 0
for x, y in zip(la, lb):
    ok = ok and re.sub(num, '#', x) == re.sub(num, '#', y)
    a, b = re.findall(num, x), re.findall(num, y)
    ok = ok and len(a) == len(b) and all(abs(float(p) - float(q)) <= 0.04 * max(1.0, abs(float(p))) for p, q in zip(a, b))
sys.exit(0 if ok else 1)
EOF
  fi
}

# ---- train (the supervised loop every method's meta-test uses)
for lf in ce focal; do
  run "train-$lf-cpu" train --model mlp --steps 50 --threads 1 --loss $lf &&
    run "train-$lf-dev" train --model mlp --steps 50 --threads 1 --loss $lf --device $other &&
    sed 1d "$tmp/train-$lf-cpu.out" >"$tmp/train-$lf-cpu.res" &&  # (line 1: the timing)
    sed 1d "$tmp/train-$lf-dev.out" >"$tmp/train-$lf-dev.res" &&
    same_results "train $lf" "$tmp/train-$lf-cpu.res" "$tmp/train-$lf-dev.res"
done

# ---- learn: ML3 and AdaLFL (the splits, base models, loss network and alpha on the device)
for m in ml3 adalfl; do
  args=(learn --method "$m" --model mlp --meta-steps 3 --steps 60 --seeds 0 --threads 1 --base-lr-grid 0.01,0.1)
  run "learn-$m-cpu" "${args[@]}" --out "$tmp/l-$m-cpu" && run "learn-$m-dev" "${args[@]}" --device $other --out "$tmp/l-$m-dev" &&
    same_results "learn $m" "$tmp/l-$m-cpu/results.md" "$tmp/l-$m-dev/results.md"
  expect "learn $m: the metrics record the device" grep -q "\"device\": \"$other\"" "$tmp/l-$m-dev/metrics.jsonl"
done

# ---- search: every method, in process
cols=generation,index,genome,params,fitness,status,reason,seed,cached
search_args() {  # the tiny search of method $1
  local base=(search --model logistic --generations 2 --population 6 --steps 20 --seed 4 --test-seeds 4)
  case $1 in
    taylorglo) echo "${base[*]} --method taylorglo" ;;
    evomal) echo "${base[*]} --method evomal --meta-steps 3 --seed-expr mul(-1,mul(y,log(f)))" ;;
    gplfl) echo "${base[*]} --method gplfl --seed-expr mul(-1,mul(y,log(f)))" ;;
    glo) echo "${base[*]} --method glo --generations 1 --glo-generations 1 --seed-expr mul(-1,mul(y,log(f)))" ;;
  esac
}
for m in taylorglo evomal gplfl glo; do
  read -ra args <<<"$(search_args $m)"
  run "s-$m-cpu" "${args[@]}" --out "$tmp/s-$m-cpu" || continue
  run "s-$m-dev" "${args[@]}" --device $other --out "$tmp/s-$m-dev" || continue
  "$bin" runs export "$tmp/s-$m-cpu" --columns "$cols" >"$tmp/s-$m-cpu.csv" || bad "search $m: export (cpu)"
  "$bin" runs export "$tmp/s-$m-dev" --columns "$cols" >"$tmp/s-$m-dev.csv" || bad "search $m: export ($other)"
  same_results "search $m: candidates" "$tmp/s-$m-cpu.csv" "$tmp/s-$m-dev.csv"
  grep -E "^(best loss:|best loss, LaTeX|test error)" "$tmp/s-$m-cpu.out" >"$tmp/s-$m-cpu.res"  # (not the timings, nor GiNaC's term order)
  grep -E "^(best loss:|best loss, LaTeX|test error)" "$tmp/s-$m-dev.out" >"$tmp/s-$m-dev.res"
  same_results "search $m: best loss and meta-test" "$tmp/s-$m-cpu.res" "$tmp/s-$m-dev.res"
  expect "search $m: the run store says where each candidate trained" \
    test "$("$bin" runs export "$tmp/s-$m-dev" --columns cached,device | grep '^0,' | sort -u | tr '\n' ' ')" = "0,$other "
done

if [[ $mode == host ]]; then
  # ---- workers on devices in turn, then a resume on another device
  read -ra args <<<"$(search_args evomal)"
  run w "${args[@]}" --workers 2 --devices cpu:1,cpu:2 --out "$tmp/w"
  "$bin" runs export "$tmp/w" --columns "$cols" >"$tmp/w.csv"
  expect "workers on cpu:1,cpu:2: the in-process candidates" cmp -s "$tmp/s-evomal-cpu.csv" "$tmp/w.csv"
  expect "workers: proc:1 on cpu:1, proc:2 on cpu:2" \
    test "$("$bin" runs export "$tmp/w" --columns cached,worker,device | grep '^0,' | sort -u | tr '\n' ' ')" = "0,proc:1,cpu:1 0,proc:2,cpu:2 "
  expect "workers: the devices are named at the start" grep -q "2 worker processes on cpu:1,cpu:2" "$tmp/w.err"
  # Killed after 5 evaluations on cpu, resumed on cpu:3: the same run, each candidate where it ran.
  METALOSS_TEST_SIGKILL_AFTER=5 "$bin" "${args[@]}" --out "$tmp/k" >/dev/null 2>&1
  expect "search killed (137)" test $? -eq 137
  run resume resume "$tmp/k" --device cpu:3
  "$bin" runs export "$tmp/k" --columns "$cols" >"$tmp/k.csv"
  expect "killed on cpu, resumed on cpu:3: the uninterrupted candidates" cmp -s "$tmp/s-evomal-cpu.csv" "$tmp/k.csv"
  expect "resume: both devices recorded" \
    test "$("$bin" runs export "$tmp/k" --columns cached,device | grep '^0,' | sort -u | tr '\n' ' ')" = "0,cpu 0,cpu:3 "
  # Killed on cpu:1, resumed without --device: it goes on on cpu, and says so.
  METALOSS_TEST_SIGKILL_AFTER=3 "$bin" "${args[@]}" --device cpu:1 --out "$tmp/k1" >/dev/null 2>&1
  run resume-note resume "$tmp/k1"
  expect "resume without --device: the change of device is said" grep -q "last trained on cpu:1; resuming on cpu" "$tmp/resume-note.err"
  "$bin" runs show "$tmp/k" >"$tmp/show.txt" 2>&1
  expect "runs show: devices per session" grep -q "session 2 trained on: cpu:3" "$tmp/show.txt"
  # --devices without workers, a bad device, CUDA where there is none: usage errors naming it.
  "$bin" "${args[@]}" --devices cpu:1 --out "$tmp/u1" >/dev/null 2>"$tmp/u1.err"
  expect "--devices without workers: exit 2" test $? -eq 2
  expect "--devices without workers: says use --device" grep -q "use --device" "$tmp/u1.err"
  "$bin" "${args[@]}" --workers 2 --devices cpu:1,,cpu:2 --out "$tmp/u2" >/dev/null 2>"$tmp/u2.err"
  expect "--devices with an empty entry: exit 2" test $? -eq 2
  if ! "$bin" train --model logistic --steps 1 --device cuda >/dev/null 2>&1; then
    for cmd in "learn --method ml3 --out $tmp/nc" "search --out $tmp/nc" "fewshot --out $tmp/nc" "train --steps 1" \
               "resume $tmp/s-evomal-cpu"; do
      read -ra c <<<"$cmd"
      "$bin" "${c[@]}" --device cuda:0 >/dev/null 2>"$tmp/nocuda.err"
      rc=$?
      expect "$cmd --device cuda:0 without CUDA: exit 2 (got $rc)" test $rc -eq 2
      expect "$cmd --device cuda:0: names the device and what is missing" \
        grep -qE "device cuda:0 is not available \((no CUDA device found|metaloss was built without CUDA)\)" "$tmp/nocuda.err"
    done
  fi
  "$bin" learn --method ml3 --device gpu --out "$tmp/x" >/dev/null 2>"$tmp/x.err"
  expect "--device gpu: exit 2 naming the accepted devices" test $? -eq 2
  expect "--device gpu: explained" grep -q "expected cpu, cuda, cuda:N or cpu:1..cpu:7" "$tmp/x.err"
fi

# ---- fewshot: MAML, Meta-SGD, NPBML (meta-parameters, Adam moments and episodes on the device)
fewshot_methods=(maml metasgd npbml)
if [ ! -f /usr/lib/python3/dist-packages/kanjidraw/data.json ]; then
  echo "SKIP (few-shot part): Debian's python3-kanjidraw is not installed (scripts/install-deps.sh installs it)"
  fewshot_methods=()
fi
for m in "${fewshot_methods[@]}"; do
  args=(fewshot --method "$m" --ways 3 --shots 1 --queries 2 --hidden 4 --inner-steps 2 --inner-lr 0.1 --meta-steps 4
        --val-every 2 --val-tasks 3 --test-tasks 5 --samples-per-class 6)
  run "f-$m-cpu" "${args[@]}" --out "$tmp/f-$m-cpu" || continue
  run "f-$m-dev" "${args[@]}" --device $other --out "$tmp/f-$m-dev" || continue
  # The table row without its timing columns.
  cut -d'|' -f2-8 "$tmp/f-$m-cpu.out" | sed "s#f-$m-cpu##" >"$tmp/f-$m-cpu.row"
  cut -d'|' -f2-8 "$tmp/f-$m-dev.out" | sed "s#f-$m-dev##" >"$tmp/f-$m-dev.row"
  same_results "fewshot $m" "$tmp/f-$m-cpu.row" "$tmp/f-$m-dev.row"
done
if [[ $mode == host && ${#fewshot_methods[@]} -gt 0 ]]; then
  # A few-shot run stopped on cpu resumes on cpu:2 to the same result.
  args=(fewshot --method npbml --ways 3 --shots 1 --queries 2 --hidden 4 --inner-steps 2 --inner-lr 0.1 --meta-steps 4
        --val-every 2 --val-tasks 3 --test-tasks 5 --samples-per-class 6 --checkpoint-every 1)
  METALOSS_TEST_STOP_AFTER=2 "$bin" "${args[@]}" --out "$tmp/fk" >/dev/null 2>&1
  run fk-resume resume "$tmp/fk" --device cpu:2
  cut -d'|' -f3-8 "$tmp/fk-resume.out" >"$tmp/fk.row"
  cut -d'|' -f3-8 "$tmp/f-npbml-cpu.out" >"$tmp/fcpu.row"
  expect "fewshot stopped on cpu, resumed on cpu:2: the uninterrupted result" cmp -s "$tmp/fcpu.row" "$tmp/fk.row"
fi

echo "device_test.sh ($mode): $pass passed, $fail failed"
((fail == 0))
