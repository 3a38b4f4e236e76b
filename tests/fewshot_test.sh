#!/usr/bin/env bash
# End-to-end checks of `metaloss fewshot` on the Kanji set (tiny Conv-4, a few meta-steps):
#   - a run stopped in the middle (as if killed) and run again ends with exactly the result of an
#     uninterrupted run (checkpoint: meta-parameters, best state, Adam moments, counters);
#   - the finished run is reported, not redone; a different configuration on it is refused;
#   - bad input gets a clear error (unknown dataset, missing folder, impossible task shape).
# Usage: fewshot_test.sh PATH/TO/metaloss   (CTest `fewshot`; exit 77 = skipped without kanji data)
set -uo pipefail
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -f /usr/lib/python3/dist-packages/kanjidraw/data.json ]; then
  echo "SKIP: Debian's python3-kanjidraw is not installed (scripts/install-deps.sh installs it)"
  exit 77
fi
pass=0 fail=0
expect() {  # expect NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi
}
tiny=(fewshot --method npbml --ways 3 --shots 1 --queries 2 --hidden 4 --inner-steps 2 --inner-lr 0.1
      --iterations 6 --meta-batch 2 --val-every 2 --val-tasks 3 --test-tasks 5 --checkpoint-every 1 --samples-per-class 4)
"$bin" "${tiny[@]}" --out "$tmp/ref" >"$tmp/ref.out" 2>"$tmp/ref.err" || { echo "FAIL: reference run"; tail -5 "$tmp/ref.err"; exit 1; }
expect "result table printed" grep -qE "^\| ref \| kanji \| 3 \| 1 \| 6 \|" "$tmp/ref.out"
expect "validation plot written" test -s "$tmp/ref/validation.svg"
expect "validation plot: a 95 % CI band, titled by method and protocol" \
  bash -c "grep -q filledcurves '$tmp/ref/validation.gp' && grep -q 'npbml on kanji, 3-way 1-shot' '$tmp/ref/validation.gp'"
expect "metrics: meta-train lines, a validation line per meta-validation (3), the test" \
  test "$(grep -c '"event": "meta-train"' "$tmp/ref/metrics.jsonl") $(grep -c '"event": "validation"' "$tmp/ref/metrics.jsonl") $(grep -c '"event": "test"' "$tmp/ref/metrics.jsonl")" = "1 3 1"
expect "peak memory reported" grep -q "peak host memory of a meta-step" "$tmp/ref.err"
METALOSS_TEST_STOP_AFTER=3 "$bin" "${tiny[@]}" --out "$tmp/kill" >/dev/null 2>"$tmp/k1.err"
expect "first part stopped after 3 meta-steps" grep -q "stopped after meta-step 3" "$tmp/k1.err"
"$bin" runs list "$tmp" >"$tmp/list.txt" 2>&1
expect "runs list shows the stopped few-shot run" grep -qE "kill +npbml +kanji 3w1s +conv4-4 +3/6 .*interrupted" "$tmp/list.txt"
# A damaged checkpoint is refused, naming the tensor (a NaN written into one value resumed to
# another result before; a renamed tensor ended in "mul_add_: called on an undefined tensor").
cp -r "$tmp/kill" "$tmp/nan" && cp -r "$tmp/kill" "$tmp/renamed"
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[-4:]=b'\x00\x00\xc0\x7f'; open(p,'wb').write(b)" \
  "$tmp/nan/checkpoint.safetensors"
"$bin" resume "$tmp/nan" >/dev/null 2>"$tmp/nan.err"
expect "NaN in a checkpoint: exit 1" test $? -eq 1
expect "NaN in a checkpoint: names the tensor" grep -q "integrity check: tensor \".*\" fails its checksum" "$tmp/nan.err"
python3 -c "import sys; p=sys.argv[1]; b=open(p,'rb').read(); open(p,'wb').write(b.replace(b'\"adam_m/', b'\"adam_x/', 1))" \
  "$tmp/renamed/checkpoint.safetensors"
"$bin" resume "$tmp/renamed" >/dev/null 2>"$tmp/renamed.err"
expect "renamed tensor in a checkpoint: exit 1" test $? -eq 1
expect "renamed tensor: named" grep -q "integrity check: tensor \"adam_x/.*\" fails its checksum" "$tmp/renamed.err"
METALOSS_TEST_STOP_AFTER=1 "$bin" resume "$tmp/kill" >/dev/null 2>"$tmp/k2.err"
expect "metaloss resume continues a few-shot run" grep -q "resuming from .*checkpoint.safetensors: meta-step 3 of 6" "$tmp/k2.err"
"$bin" "${tiny[@]}" --out "$tmp/kill" >"$tmp/kill.out" 2>"$tmp/k3.err" || echo "FAIL: resumed run"
expect "the same command resumes it too" grep -q "resuming from .*checkpoint.safetensors: meta-step 4 of 6" "$tmp/k3.err"
"$bin" runs list "$tmp" >"$tmp/list2.txt" 2>&1
expect "runs list: complete with its test accuracy" grep -qE "kill +npbml .* 6/6 .*complete, test [0-9.]+% accuracy" "$tmp/list2.txt"
expect "stop + resume: the same result as the uninterrupted run" \
  diff <(grep "^| " "$tmp/ref.out" | cut -d'|' -f3-8) <(grep "^| " "$tmp/kill.out" | cut -d'|' -f3-8)
expect "stop + resume: one metrics file, 3 sessions appended, each validation once" \
  test "$(grep -c '"event": "start"' "$tmp/kill/metrics.jsonl") $(grep -c '"resumed": true' "$tmp/kill/metrics.jsonl") $(grep -c '"event": "validation"' "$tmp/kill/metrics.jsonl")" = "3 2 3"
"$bin" "${tiny[@]}" --out "$tmp/kill" >"$tmp/again.out" 2>&1
expect "a finished run is reported, not redone" grep -q "already complete" "$tmp/again.out"
"$bin" "${tiny[@]}" --inner-lr 0.2 --out "$tmp/kill" >/dev/null 2>"$tmp/diff.err"
expect "another configuration on the run is refused (exit 2)" test $? -eq 2
expect "the refusal names the option" grep -q "inner_lr: 0.10000000000000001 in the run, 0.20000000000000001 now" "$tmp/diff.err"
"$bin" fewshot --dataset omniglot --out "$tmp/o" >/dev/null 2>"$tmp/o.err"
expect "omniglot without --data-dir (exit 2)" test $? -eq 2
expect "names --data-dir" grep -q "needs --data-dir FOLDER" "$tmp/o.err"
"$bin" fewshot --dataset omniglot --data "$tmp/nowhere" --out "$tmp/o2" >/dev/null 2>"$tmp/o2.err"
expect "missing folder is an error naming it" grep -q "nowhere" "$tmp/o2.err"
expect "the old spelling --data still works, and says the new one" grep -q "warning: --data is deprecated, use --data-dir" "$tmp/o2.err"
"$bin" fewshot --ways 3 --shots 3 --queries 2 --samples-per-class 4 --out "$tmp/s" >/dev/null 2>"$tmp/s.err"
expect "too few samples per class (exit 2)" test $? -eq 2
"$bin" fewshot --dataset cifar --out "$tmp/c" >/dev/null 2>"$tmp/c.err"
expect "unknown dataset (exit 2)" test $? -eq 2
echo "fewshot_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
