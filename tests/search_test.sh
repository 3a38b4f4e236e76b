#!/usr/bin/env bash
# End-to-end checks of `metaloss search` / `resume` / `runs` on Fashion-MNIST (logistic, tiny budget):
#   - a run with 2 local worker processes records the same candidates as the in-process run;
#   - the kill-and-resume test: a run SIGKILLed in the middle of a generation (twice), then resumed,
#     ends with exactly the uninterrupted run's candidates, best loss and meta-test, and no
#     evaluation recorded before a kill was run again;
#   - a different configuration on an existing run is refused; `runs list/show/export` work.
# Usage: search_test.sh PATH/TO/metaloss          (CTest `search`)
#        search_test.sh PATH/TO/metaloss mpi      (CTest `search_mpi`: mpirun -np 3 --oversubscribe;
#                                                  exit 77 = skipped when the build has no MPI)
set -uo pipefail
bin=$1
mode=${2:-local}
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

common=(search --model logistic --generations 3 --population 6 --steps 30 --seed 4 --test-seeds 4,5)
cols=generation,index,genome,params,fitness,status,reason,seed,cached,outcome
# The lines that state the result (not the timing or counts of this session).
# (Not the simplified form: GiNaC may order its terms differently from one process to another.)
result_lines() { grep -E "^(best loss:|best loss, LaTeX|test error)" "$1"; }

"$bin" "${common[@]}" --out "$tmp/ref" >"$tmp/ref.out" 2>"$tmp/ref.err" || { bad "reference run"; cat "$tmp/ref.err"; }
"$bin" runs export "$tmp/ref" --columns "$cols" >"$tmp/ref.csv" || bad "export reference"
expect "reference has 18 candidates" test "$(wc -l <"$tmp/ref.csv")" -eq 19

if [[ $mode == mpi ]]; then
  out=$("$bin" "${common[@]}" --mpi --out "$tmp/nompi" 2>&1)
  if grep -q "built without MPI" <<<"$out"; then
    echo "SKIP: this metaloss was built without MPI (METALOSS_MPI=OFF)"
    exit 77
  fi
  if ! command -v mpirun >/dev/null; then
    echo "SKIP: no mpirun on PATH (Debian: openmpi-bin)"
    exit 77
  fi
  # Open MPI refuses root unless told (CI runs as root); oversubscribe: 3 ranks on a 2-core machine.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  # Without ssh/rsh (a bare container) Open MPI's default launcher refuses even a local run; the
  # "isolated" launcher starts the ranks on this machine only, which is all this test needs.
  if ! command -v ssh >/dev/null && ! command -v rsh >/dev/null; then export OMPI_MCA_plm=isolated; fi
  if mpirun -np 3 --oversubscribe "$bin" "${common[@]}" --mpi --out "$tmp/mpi" >"$tmp/mpi.out" 2>"$tmp/mpi.err"; then
    ok
  else
    bad "mpirun -np 3 run"
    tail -20 "$tmp/mpi.err"
  fi
  "$bin" runs export "$tmp/mpi" --columns "$cols" >"$tmp/mpi.csv"
  expect "MPI run: same candidates as the local run" cmp -s "$tmp/ref.csv" "$tmp/mpi.csv"
  expect "MPI run: same result lines" diff <(result_lines "$tmp/ref.out") <(result_lines "$tmp/mpi.out")
  expect "MPI run: evaluated on ranks 1 and 2" \
    test "$("$bin" runs export "$tmp/mpi" --columns worker | sort -u | tr '\n' ' ')" = "mpi:1 mpi:2 worker "
  echo "search_test.sh (mpi): $pass passed, $fail failed"
  ((fail == 0))
  exit
fi

# Two local worker processes: the same candidates.
"$bin" "${common[@]}" --workers 2 --out "$tmp/w2" >"$tmp/w2.out" 2>"$tmp/w2.err" || bad "workers 2 run"
"$bin" runs export "$tmp/w2" --columns "$cols" >"$tmp/w2.csv"
expect "workers 2: same candidates as in process" cmp -s "$tmp/ref.csv" "$tmp/w2.csv"
expect "workers 2: same result lines" diff <(result_lines "$tmp/ref.out") <(result_lines "$tmp/w2.out")
expect "workers 2: both workers used" \
  test "$("$bin" runs export "$tmp/w2" --columns worker | sort -u | tr '\n' ' ')" = "proc:1 proc:2 worker "

# EvoMAL (GP + local search): 2 workers record the same candidates and learned edge weights.
evo=(search --method evomal --model logistic --generations 2 --population 6 --steps 20 --meta-steps 3 --seed 2
     --seed-expr "mul(-1, mul(y, log(f)))")
"$bin" "${evo[@]}" --out "$tmp/evo1" >"$tmp/evo1.out" 2>"$tmp/evo1.err" || { bad "evomal run"; tail -5 "$tmp/evo1.err"; }
"$bin" "${evo[@]}" --workers 2 --out "$tmp/evo2" >"$tmp/evo2.out" 2>"$tmp/evo2.err" || bad "evomal workers 2 run"
"$bin" runs export "$tmp/evo1" --columns "$cols" >"$tmp/evo1.csv"
"$bin" runs export "$tmp/evo2" --columns "$cols" >"$tmp/evo2.csv"
expect "evomal: workers 2 same candidates and weights" cmp -s "$tmp/evo1.csv" "$tmp/evo2.csv"
expect "evomal: same result lines" diff <(result_lines "$tmp/evo1.out") <(result_lines "$tmp/evo2.out")
expect "runs export --table results: the meta-test" grep -q "^test_error," <("$bin" runs export "$tmp/evo1" --table results)
outcomes=$("$bin" runs export "$tmp/evo1" --columns outcome | tail -n +2 | sort -u | tr '\n' ' ')
expect "runs export: each candidate's outcome, as the console counts them ($outcomes)" \
  bash -c "grep -q trained <<<'$outcomes' && ! grep -qvE '^((trained|rejected|failed|cached|equivalent) )+$' <<<'$outcomes'"
expect "evomal: C header, LaTeX and plot data written" test -s "$tmp/evo1/best_loss.h" -a -s "$tmp/evo1/best_loss.tex" -a -s "$tmp/evo1/best_loss.dat"
expect "fitness plot: titled by method and data, integer generation ticks, each generation's best as points" \
  bash -c "grep -q 'evomal on fashion-mnist / logistic' '$tmp/evo1/fitness.gp' && grep -q 'set xtics 1' '$tmp/evo1/fitness.gp' && grep -q 'using 1:3 with points' '$tmp/evo1/fitness.gp'"
# A rejection is typed end to end: a label-blind seed expression evaluated by a worker process
# (the wire says "rejected") is recorded and exported as rejected, not as failed.
"$bin" search --method gplfl --model logistic --generations 1 --population 6 --steps 20 --seed 5 --workers 2 \
  --seed-expr "mul(square(f), sign(y))" --seed-expr "mul(-1, mul(y, log(f)))" --out "$tmp/rej" >/dev/null 2>"$tmp/rej.err" || bad "rejection run"
expect "a label-blind loss from a worker is exported as rejected" \
  grep -q '^0,"mul(sign(y), square(f))",rejected$' <("$bin" runs export "$tmp/rej" --columns index,genome,outcome)
expect "evomal: the rejection protocol is reported" grep -qE "trained [0-9]+, rejected [0-9]+" "$tmp/evo1.err"
# GLO: GP generations, then CMA-ES on the best tree's edge weights; 2 workers give the same run.
glo=(search --method glo --model logistic --generations 2 --glo-generations 2 --population 6 --steps 20 --seed 3
     --seed-expr "mul(-1, mul(y, log(f)))")
"$bin" "${glo[@]}" --out "$tmp/glo1" >"$tmp/glo1.out" 2>"$tmp/glo1.err" || { bad "glo run"; tail -5 "$tmp/glo1.err"; }
"$bin" "${glo[@]}" --workers 2 --out "$tmp/glo2" >"$tmp/glo2.out" 2>&1 || bad "glo workers 2 run"
expect "glo: 4 generations in all" grep -q "generation 4/4" "$tmp/glo1.err"
expect "runs show: every weighted hall-of-fame entry has its tree simplified" \
  test "$("$bin" runs show "$tmp/glo1" | grep -cE 'candidate [0-9]+/[0-9]+ .* @ \[')" = "$("$bin" runs show "$tmp/glo1" | grep -c 'simplified, edge weights left out')"
expect "glo: phase 2 candidates carry weights" grep -q " @ \[" <("$bin" runs export "$tmp/glo1" --columns genome)
"$bin" runs export "$tmp/glo1" --columns "$cols" >"$tmp/glo1.csv"
"$bin" runs export "$tmp/glo2" --columns "$cols" >"$tmp/glo2.csv"
expect "glo: workers 2 same candidates" cmp -s "$tmp/glo1.csv" "$tmp/glo2.csv"
# ... and a killed EvoMAL run resumes to the same candidates (GP state, equivalence archive, weights).
evo3=("${evo[@]}" --generations 3)
"$bin" "${evo3[@]}" --out "$tmp/evo3" >"$tmp/evo3.out" 2>&1 || bad "evomal 3-generation run"
METALOSS_TEST_SIGKILL_AFTER=4 "$bin" "${evo3[@]}" --workers 2 --out "$tmp/evo3k" >/dev/null 2>&1
expect "evomal run was SIGKILLed" test $? -eq 137
"$bin" resume "$tmp/evo3k" >"$tmp/evo3k.out" 2>&1 || bad "evomal resume"
"$bin" runs export "$tmp/evo3" --columns "$cols" >"$tmp/evo3.csv"
"$bin" runs export "$tmp/evo3k" --columns "$cols" >"$tmp/evo3k.csv"
expect "evomal kill + resume: identical candidates" cmp -s "$tmp/evo3.csv" "$tmp/evo3k.csv"
# ... and a finished 2-generation run extended to 3 (`resume --generations 3`) is the 3-generation run.
cp -r "$tmp/evo1" "$tmp/evo1x"
"$bin" resume "$tmp/evo1x" --generations 3 >"$tmp/evo1x.out" 2>"$tmp/evo1x.err" || { bad "resume --generations"; tail -5 "$tmp/evo1x.err"; }
"$bin" runs export "$tmp/evo1x" --columns "$cols" >"$tmp/evo1x.csv"
expect "evomal extended 2 -> 3 generations: identical candidates to the 3-generation run" cmp -s "$tmp/evo3.csv" "$tmp/evo1x.csv"
expect "extension said so" grep -q "extending .* from 2 to 3 generations" "$tmp/evo1x.err"
"$bin" resume "$tmp/evo1x" --generations 2 >/dev/null 2>"$tmp/shrink.err"
expect "resume --generations cannot shrink a run (exit 2)" test $? -eq 2
expect "shrinking is explained" grep -q "can only be extended" "$tmp/shrink.err"
"$bin" resume "$tmp/glo1" --generations 5 >/dev/null 2>"$tmp/gloext.err"
expect "glo runs cannot be extended (exit 2)" test $? -eq 2

# Kill (SIGKILL, in the middle of generation 2: 6 + 2 evaluations), resume (killed again after 3
# more: the middle of generation 2 still... then 3), resume to the end.
METALOSS_TEST_SIGKILL_AFTER=8 "$bin" "${common[@]}" --workers 2 --out "$tmp/kill" >"$tmp/k1.out" 2>"$tmp/k1.err"
rc=$?
expect "first run was SIGKILLed (exit 137, got $rc)" test $rc -eq 137
"$bin" runs show "$tmp/kill" >"$tmp/show1.txt" 2>&1
expect "store shows the interrupted generation" grep -q "generation 2 interrupted with 2 candidates recorded" "$tmp/show1.txt"
"$bin" runs list "$tmp" >"$tmp/list.txt" 2>&1
expect "runs list: interrupted" grep -qE "kill +taylorglo .* 1/3 +8 .* interrupted" "$tmp/list.txt"
# run.db alone (without run.db-wal) holds the killed run up to its last completed generation: the
# WAL is checkpointed at the end of every generation.
mkdir -p "$tmp/copyroot/kill1" && cp "$tmp/kill/run.db" "$tmp/copyroot/kill1/"
"$bin" runs list "$tmp/copyroot" >"$tmp/copylist.txt" 2>&1
expect "run.db copied alone: the completed generation is there" grep -qE "kill1 +taylorglo .* 1/3 " "$tmp/copylist.txt"
METALOSS_TEST_SIGKILL_AFTER=3 "$bin" resume "$tmp/kill" >"$tmp/k2.out" 2>"$tmp/k2.err"
rc=$?
expect "second run was SIGKILLed (exit 137, got $rc)" test $rc -eq 137
expect "resume said what it found" grep -q "resuming: 1 of 3 generations complete, 2 candidates of generation 2 already recorded" "$tmp/k2.err"
"$bin" resume "$tmp/kill" --workers 2 >"$tmp/k3.out" 2>"$tmp/k3.err" || { bad "final resume"; tail -5 "$tmp/k3.err"; }
"$bin" runs export "$tmp/kill" --columns "$cols" >"$tmp/kill.csv"
expect "kill + resume: identical candidates to the uninterrupted run" cmp -s "$tmp/ref.csv" "$tmp/kill.csv"
expect "kill + resume: identical best loss and meta-test" diff <(result_lines "$tmp/ref.out") <(result_lines "$tmp/k3.out")
sessions=$("$bin" runs export "$tmp/kill" --columns session | tail -n +2 | sort | uniq -c | awk '{print $2 ":" $1}' | tr '\n' ' ')
expect "every candidate evaluated once: 8 in session 1, 3 in session 2, 7 in session 3 (got $sessions)" \
  test "$sessions" = "1:8 2:3 3:7 "
# Metrics: the three sessions append to one file, each candidate once, each generation once.
expect "metrics: 18 candidate lines over 3 sessions, none twice" \
  test "$(grep -c '"event": "candidate"' "$tmp/kill/metrics.jsonl") $(grep '"event": "candidate"' "$tmp/kill/metrics.jsonl" | grep -o '"generation": [0-9]*, "index": [0-9]*' | sort -u | wc -l)" = "18 18"
expect "metrics: 3 generation lines, 3 start lines, the meta-test seeds" \
  test "$(grep -c '"event": "generation"' "$tmp/kill/metrics.jsonl") $(grep -c '"event": "start"' "$tmp/kill/metrics.jsonl") $(grep -c '"event": "meta-test"' "$tmp/kill/metrics.jsonl")" = "3 3 2"
expect "the last session reused nothing twice" grep -q "7 by this session (5 recorded ones reused)" "$tmp/k3.out"

# A cleanly finished run is one self-contained file in rollback-journal mode (no run.db-wal), so
# it opens on read-only media too.
expect "finished run: no run.db-wal left" test ! -e "$tmp/kill/run.db-wal"
expect "finished run: journal mode delete" test "$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode').fetchone()[0])" "$tmp/kill/run.db")" = delete
if [[ $(id -u) -ne 0 ]]; then  # permissions do not bind root
  mkdir -p "$tmp/ro" && cp -r "$tmp/kill" "$tmp/ro/" && chmod -R a-w "$tmp/ro"
  "$bin" runs show "$tmp/ro/kill" >"$tmp/ro-show.txt" 2>&1
  expect "runs show on a read-only folder" grep -q "hall of fame" "$tmp/ro-show.txt"
  chmod -R u+w "$tmp/ro"
fi
# A worker that dies at start-up is started again (it used to end the search with exit 1).
touch "$tmp/die-once"
METALOSS_TEST_WORKER_DIES_ONCE="$tmp/die-once" "$bin" "${common[@]}" --generations 1 --workers 2 --out "$tmp/die" \
  >"$tmp/die.out" 2>"$tmp/die.err"
expect "worker died at start-up: the search went on (exit 0)" test $? -eq 0
expect "worker died at start-up: reported and restarted" grep -qE "search worker proc:[12] died at start-up \(killed by signal 9" "$tmp/die.err"
expect "worker died at start-up: the hook fired" test ! -e "$tmp/die-once"
# Workers beyond the memory: refused before any is started, naming the bound (1024 copies of
# Fashion-MNIST need over 100 GiB; on a machine with more available the check is skipped).
if (($(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) < 100 * 1024 * 1024)); then
  "$bin" "${common[@]}" --workers 1024 --out "$tmp/many" >/dev/null 2>"$tmp/many.err"
  expect "--workers 1024: refused (exit 2)" test $? -eq 2
  expect "--workers 1024: says why and the bound" grep -qE "^metaloss: --workers: 1024 workers need about .* GiB \(each holds its own copy of the data: [0-9]+ MiB measured on the first\).* at most [0-9]+ fit" "$tmp/many.err"
  expect "--workers 1024: warns about the cores" grep -q "exceeds the .* CPU cores" "$tmp/many.err"
fi

# The run store's view.
"$bin" runs show "$tmp/kill" >"$tmp/show.txt" 2>&1
expect "runs show: hall of fame" grep -q "hall of fame" "$tmp/show.txt"
expect "runs show: three sessions" test "$(grep -cE '^  [123]  20' "$tmp/show.txt")" -eq 3
"$bin" runs export "$tmp/kill" --table generations --format json >"$tmp/gens.json"
expect "runs export json: 3 generations" test "$(grep -c '"generation"' "$tmp/gens.json")" -eq 3
expect "runs export: generations numbered from 1, as the console and runs show" \
  test "$("$bin" runs export "$tmp/kill" --table generations --columns generation | tail -n +2 | tr '\n' ' ')" = "1 2 3 "
"$bin" runs list "$tmp" >"$tmp/list2.txt" 2>&1
expect "runs list: complete" grep -qE "kill +taylorglo .* 3/3 +18 .* complete" "$tmp/list2.txt"

# A different configuration on an existing run is refused, the same one continues (nothing to do).
out=$("$bin" "${common[@]}" --steps 31 --out "$tmp/ref" 2>&1)
rc=$?
expect "different config refused (exit 2)" test $rc -eq 2
expect "the refusal names the key" grep -q "steps: 30 in the run, 31 now" <<<"$out"
"$bin" "${common[@]}" --out "$tmp/ref" >"$tmp/again.out" 2>"$tmp/again.err" || bad "same config again"
expect "same config: nothing trained again" grep -q "0 by this session" "$tmp/again.out"
out=$("$bin" resume "$tmp/none" 2>&1)
expect "resume of a non-run (exit 2)" test $? -eq 2
expect "resume names the missing store" grep -q "is not a search run" <<<"$out"
# A corrupt stored configuration is a failure (exit 1) naming the key, not a usage error (exit 2).
cp -r "$tmp/ref" "$tmp/corrupt"
python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE config SET value='abc' WHERE key='steps'\"); c.commit()" \
  "$tmp/corrupt/run.db"
out=$("$bin" resume "$tmp/corrupt" 2>&1)
rc=$?
expect "corrupt config: exit 1" test $rc -eq 1
expect "corrupt config: names the problem" grep -q "configuration no longer matches its hash" <<<"$out"
out=$("$bin" runs export "$tmp/ref" --columns fitness,nope 2>&1)
expect "export: unknown column named" grep -q "no column 'nope'" <<<"$out"

echo "search_test.sh: $pass passed, $fail failed"
((fail == 0))
