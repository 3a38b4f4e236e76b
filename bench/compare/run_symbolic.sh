#!/usr/bin/env bash
# One command for "grad of a 40-op elementwise loss on 128x10, metaloss vs PyTorch":
# configures and builds bench_autograd, runs it and bench/compare/symbolic_loss.py one after the
# other (not concurrently: they would share cores), and prints a table plus both checksums.
#   BUILD_DIR  build directory (default build/bench, relative to the repository root)
#   JOBS       build parallelism (default 1)
#   REPS       timing blocks per case on both sides (default 7); the median is reported
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-build/bench}
[[ $BUILD_DIR = /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
REPS=${REPS:-7}
PY=/usr/bin/python3  # Debian's python, where python3-torch lives (not a pyenv python3 on PATH)

# Build (cmake skips whatever is up to date). Build chatter goes to stderr, the table to stdout.
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DMETALOSS_BUILD_BENCH=ON \
  -DMETALOSS_BUILD_TESTS=OFF >&2
cmake --build "$BUILD_DIR" --target bench_autograd -j "${JOBS:-1}" >&2
BENCH=$BUILD_DIR/bench/bench_autograd

if ! "$PY" -c 'import torch' 2>/dev/null; then
  if [[ $(id -u) == 0 ]]; then
    apt-get install -y python3-torch >&2 || { apt-get update >&2 && apt-get install -y python3-torch >&2; }
  else
    echo "python3-torch is missing and we are not root: sudo apt-get install -y python3-torch" >&2
    exit 1
  fi
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BENCH" --checksum >"$TMP/ml_checksum.txt"
# Median over REPS repetitions of wall time per iteration (real_time), like the Python side.
"$BENCH" --benchmark_repetitions="$REPS" --benchmark_report_aggregates_only=true \
  --benchmark_format=json >"$TMP/ml.json"
REPS=$REPS "$PY" "$ROOT/bench/compare/symbolic_loss.py" --json >"$TMP/torch.json"

"$PY" - "$TMP" "$REPS" <<'PYEOF'
import json, sys
tmp, reps = sys.argv[1], sys.argv[2]
ml_json = json.load(open(f"{tmp}/ml.json"))
scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
ml = {b["run_name"]: b["real_time"] * scale[b["time_unit"]]  # in ns
      for b in ml_json["benchmarks"] if b.get("aggregate_name") == "median"}
th = json.load(open(f"{tmp}/torch.json"))
ck = dict(kv.split("=") for kv in open(f"{tmp}/ml_checksum.txt").read().split())

rows = [  # label, metaloss benchmark, torch key, unit
    ("grad: 40-op expr + mean, fwd+bwd", "BM_SymbolicLoss40_Grad", "grad_us", "us"),
    ("forward only, no grad", "BM_SymbolicLoss40_Forward_NoGrad", "fwd_nograd_us", "us"),
    ("add, 1-element, no grad", "BM_OpDispatch_Add_Tiny/record:0", "add_tiny_ns", "ns"),
    ("add, 1-element, recording", "BM_OpDispatch_Add_Tiny/record:1", "add_tiny_record_ns", "ns"),
]
print(f"128x10 float32, 1 thread; median of {reps} timing blocks, wall time per iteration")
# library_build_type is how Debian built libbenchmark itself, not metaloss (built Release here).
print(f"metaloss: Google Benchmark (libbenchmark built as {ml_json['context'].get('library_build_type', '?')}); "
      f"PyTorch {th['torch_version']} from /usr/bin/python3, threads={th['torch_threads']}")
print(f"{'case':36s} {'unit':>4s} {'metaloss':>10s} {'PyTorch':>10s} {'ml/torch':>9s}")
for label, bm, key, unit in rows:
    m = ml[bm] / (1e3 if unit == "us" else 1.0)
    t = th[key]
    print(f"{label:36s} {unit:>4s} {m:10.2f} {t:10.2f} {m / t:9.3f}")
print()
# Same float32 inputs and ops; only rounding (libm/vectorised exp, log, tanh; reduction order)
# may differ, so anything beyond ~1e-5 relative means the two sides compute different things.
TOL = 1e-5
print(f"{'checksum (fixed input)':36s} {'metaloss':>16s} {'PyTorch':>16s} {'rel diff':>9s}")
print(f"{'elementwise ops in expression':36s} {ck['ops']:>16s} {th['ops']:>16d}")
ok = int(ck["ops"]) == th["ops"] == 40
for k in ("loss", "grad_sum", "grad_abs_sum"):
    a, b = float(ck[k]), th[k]
    rel = abs(a - b) / max(abs(b), 1e-30)
    ok &= rel < TOL
    print(f"{k:36s} {a:16.9g} {b:16.9g} {rel:9.1e}")
print(f"checksums {'AGREE' if ok else 'DISAGREE'} (tolerance {TOL:g} relative)")
sys.exit(0 if ok else 2)
PYEOF
