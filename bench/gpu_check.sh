#!/usr/bin/env bash
# GPU check, on a machine with an NVIDIA GPU, nvcc and PyTorch (CUDA):
#   1. builds metaloss with CUDA (skipped when --build-dir already holds a CUDA build),
#   2. runs the CUDA test suite (every kernel against the CPU, gradcheck/gradgradcheck on the GPU,
#      cuDNN vs im2col, LeNet-5 200-step loss curve on Fashion-MNIST vs the CPU),
#   3. prints kernel throughput (GB/s next to the device-to-device copy; GEMM TFLOP/s), metaloss
#      then PyTorch, and
#   4. times the train steps (MLP, LeNet-5, batch 128) and ML3 meta steps next to PyTorch CUDA,
#   5. runs every method's command on the GPU (device_test.sh cuda: CPU-vs-GPU agreement), then
#      times the methods end to end on cuda next to the CPU: ML3 and AdaLFL runs (`learn`), one
#      NPBML second-order meta-step (`fewshot`), and the EvoMAL LeNet-5 25 x 50 search with its
#      meta-test (`search`, the thesis' setting) for --evomal-seconds, resumable: the run store in
#      $OUT/evomal-lenet5 (or bench/gpu/evomal-lenet5) continues where an earlier check stopped,
#      and the per-generation time gives the full search's wall-clock; and a profile of one ML3
#      run on the GPU (device time per kernel, achieved GB/s and FLOP/s: what limits it).
#
#   bench/gpu_check.sh [--build-dir DIR] [--data DIR] [--python PY] [--quick] [--no-bench]
#                      [--no-methods] [--evomal-seconds N]
#
# --data: a Fashion-MNIST folder (idx files, .gz or not; default /usr/share/datasets/fashion-mnist);
# --quick: fewer benchmark iterations; --no-bench: build and test only. Exits non-zero when a test
# fails. Build dependencies as scripts/install-deps.sh installs them (OpenBLAS, doctest, zlib). Sized to finish within
# 8 minutes on an H100 (build about 3 of them, on 16 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/gpu data=${METALOSS_FMNIST_DIR:-/usr/share/datasets/fashion-mnist} py=python3 scale=1 bench=1 methods=1
evomal_seconds=150
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --python) py=$2; shift 2 ;;
    --quick) scale=0.5; shift ;;
    --no-bench) bench=0; shift ;;
    --no-methods) methods=0; shift ;;
    --evomal-seconds) evomal_seconds=$2; shift 2 ;;
    *) echo "gpu_check.sh: unknown option '$1' (expected --build-dir DIR, --data DIR, --python PY, --quick, --no-bench, --no-methods, --evomal-seconds N)" >&2; exit 2 ;;
  esac
done
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
if [ ! -x "$build/tests/metaloss_cuda_tests" ] || [ ! -x "$build/metaloss" ]; then
  stamp "building with CUDA in $build"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMETALOSS_CUDA=ON -DMETALOSS_BUILD_BENCH=ON \
    -DCMAKE_CUDA_ARCHITECTURES=native >/dev/null
  cmake --build "$build" -j "$(nproc)" --target metaloss_cuda_tests bench_gpu bench_compare metaloss_cli
  stamp "built"
fi

stamp "CUDA tests"
status=0
METALOSS_FMNIST_DIR=$data "$build/tests/metaloss_cuda_tests" || status=$?

if [ "$bench" = 0 ]; then
  stamp "done (CUDA tests exit status $status; benchmarks skipped)"
  exit $status
fi
stamp "kernel throughput: metaloss"
"$build/bench/bench_gpu" --iters $((20 * ${scale%.*} + 10))
stamp "kernel throughput: PyTorch $($py -c 'import torch; print(torch.__version__)')"
$py bench/gpu/torch_kernels.py 20

stamp "train and meta steps, batch 128: metaloss vs PyTorch CUDA"
$py bench/compare/run_compare.py --bench-compare "$build/bench/compare/bench_compare" --device cuda --python "$py" \
  --threads 1 --repeat 2 --scale "$scale" \
  --workloads train_mlp,train_lenet5,meta_mlp_1,meta_mlp_5,meta_lenet5_1,meta_lenet5_5

if [ "$methods" = 1 ]; then
  bin=$build/metaloss
  export METALOSS_FMNIST_DIR=$data
  stamp "every method's command on cuda:0 next to the CPU (device_test.sh cuda)"
  bash tests/device_test.sh "$bin" cuda || { rc=$?; [ $rc -eq 77 ] || status=$rc; }
  # End to end, wall-clock on this machine: each method on the GPU, then the same command on one CPU
  # thread (the CPU numbers are the baseline of this very machine, not of the build VM).
  timed() {  # timed LABEL COMMAND...: prints the wall-clock and the result lines
    local label=$1 t
    shift
    t=$(date +%s.%N)
    if timeout 150 "$@" >/tmp/gpu_check.out 2>/tmp/gpu_check.err; then  # (a cap: the check must fit its slot)
      printf '%-44s %8.1f s   %s\n' "$label" "$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" \
        "$(grep -E '^(mean|\| [a-z])' /tmp/gpu_check.out | tail -1 | cut -c1-110 || true)"
    else
      echo "$label: FAILED or over 150 s"; tr '\r' '\n' </tmp/gpu_check.err | tail -3; status=1
    fi
  }
  learn=(learn --dataset fashion-mnist --seeds 0 --threads 1)
  for dev in cuda cpu; do
    stamp "methods on $dev"
    timed "ML3 MLP, 250 meta + 2000 steps ($dev)" "$bin" "${learn[@]}" --method ml3 --model mlp --steps 2000 --device $dev --out /tmp/gc-ml3-$dev
    timed "ML3 LeNet-5, 100 meta + 1000 steps ($dev)" "$bin" "${learn[@]}" --method ml3 --model lenet5 --meta-steps 100 --steps 1000 --device $dev --out /tmp/gc-ml3l-$dev
    timed "AdaLFL MLP, 250 offline + 1000 online ($dev)" "$bin" "${learn[@]}" --method adalfl --model mlp --meta-steps 250 --steps 1000 --device $dev --out /tmp/gc-ada-$dev
    # NPBML, Kanji 20-way 1-shot, 5 second-order inner steps: 10 meta-steps (train s / 10 = one meta-step).
    timed "NPBML 20w1s, 10 second-order meta-steps ($dev)" "$bin" fewshot --method npbml --ways 20 --shots 1 --meta-steps 10 \
      --val-every 0 --val-tasks 5 --test-tasks 20 --device $dev --out /tmp/gc-npbml-$dev
  done
  stamp "profile of one ML3 LeNet-5 run on cuda (device time per kernel)"
  "$bin" --profile /tmp/gc-ml3.trace.json "${learn[@]}" --method ml3 --model lenet5 --meta-steps 50 --steps 200 --device cuda \
    --out /tmp/gc-prof 2>&1 >/dev/null | sed -n '/metaloss profile/,$p' | head -60 || true
  # The EvoMAL LeNet-5 search at the thesis' setting (25 x 50, 500 fitness + 250 local-search steps,
  # meta-test 10,000 steps on 5 seeds), for at most --evomal-seconds; resumed on the next check.
  out_dir=${OUT:-bench/gpu}/evomal-lenet5
  mkdir -p "$(dirname "$out_dir")"
  stamp "EvoMAL LeNet-5 25 x 50 on cuda for at most $evomal_seconds s (run $out_dir)"
  evo=(search --method evomal --dataset fashion-mnist --model lenet5 --generations 50 --population 25 --steps 500
       --meta-steps 250 --test-steps 10000 --test-seeds 0,1,2,3,4 --seed 0 --device cuda --out "$out_dir")
  if [ -f "$out_dir/run.db" ]; then evo=(resume "$out_dir" --device cuda); fi
  evo_rc=0
  timeout "$evomal_seconds" "$bin" "${evo[@]}" >/tmp/gc-evo.out 2>/tmp/gc-evo.err || evo_rc=$?
  case $evo_rc in
    0) echo "EvoMAL search complete" ;;
    124) echo "EvoMAL search stopped after $evomal_seconds s (resumes at the next check)" ;;
    *) echo "EvoMAL search FAILED (exit $evo_rc)"; tail -5 /tmp/gc-evo.err; status=1 ;;
  esac
  tr '\r' '\n' </tmp/gc-evo.err | grep -E "^generation [0-9]+/|meta-test|resuming" | tail -8 || true
  tail -3 /tmp/gc-evo.out || true
  "$bin" runs export "$out_dir" --table generations --columns generation,best,seconds 2>/dev/null |
    awk -F, 'NR > 1 { n++; s += $3 } END { if (n) printf "EvoMAL LeNet-5 on cuda: %d generations, %.1f s each: the 50 take about %.0f min plus the meta-test\n", n, s / n, 50 * s / n / 60 }' || true
fi
stamp "done (exit status $status)"
exit $status
