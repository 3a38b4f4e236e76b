#!/usr/bin/env bash
# GPU check, on a machine with an NVIDIA GPU, nvcc and PyTorch (CUDA):
#   1. builds metaloss with CUDA (skipped when --build-dir already holds a CUDA build),
#   2. runs the CUDA test suite (every kernel against the CPU, gradcheck/gradgradcheck on the GPU,
#      cuDNN vs im2col, LeNet-5 200-step loss curve on Fashion-MNIST vs the CPU),
#   3. prints kernel throughput (GB/s next to the device-to-device copy; GEMM TFLOP/s), metaloss
#      then PyTorch, and
#   4. times the train steps (MLP, LeNet-5, batch 128) and ML3 meta steps next to PyTorch CUDA.
#
#   bench/gpu_check.sh [--build-dir DIR] [--data DIR] [--python PY] [--quick] [--no-bench]
#
# --data: a Fashion-MNIST folder (idx files, .gz or not; default /usr/share/datasets/fashion-mnist);
# --quick: fewer benchmark iterations; --no-bench: build and test only. Exits non-zero when a test
# fails. Build dependencies as scripts/install-deps.sh installs them (OpenBLAS, doctest, zlib). Sized to finish within
# 8 minutes on an H100 (build about 3 of them, on 16 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/gpu data=${METALOSS_FMNIST_DIR:-/usr/share/datasets/fashion-mnist} py=python3 scale=1 bench=1
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --python) py=$2; shift 2 ;;
    --quick) scale=0.5; shift ;;
    --no-bench) bench=0; shift ;;
    *) echo "gpu_check.sh: unknown option '$1' (expected --build-dir DIR, --data DIR, --python PY, --quick, --no-bench)" >&2; exit 2 ;;
  esac
done
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
if [ ! -x "$build/tests/metaloss_cuda_tests" ]; then
  stamp "building with CUDA in $build"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMETALOSS_CUDA=ON -DMETALOSS_BUILD_BENCH=ON \
    -DMETALOSS_BUILD_APPS=OFF -DCMAKE_CUDA_ARCHITECTURES=native >/dev/null
  cmake --build "$build" -j "$(nproc)" --target metaloss_cuda_tests bench_gpu bench_compare
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
stamp "done (CUDA tests exit status $status)"
exit $status
