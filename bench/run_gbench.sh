#!/usr/bin/env bash
# The Google Benchmark numbers quoted in bench/README.md, in one run: a fixed subset of
# bench_kernels (GEMM vs cblas, elementwise/reduction GB/s vs memcpy, conv2d, profiler cost),
# bench_autograd (dispatch, tape), bench_alloc (allocations per step) and bench_losses
# (SparseLSR vs dense LSR). Builds the "bench" preset first. Output: bench/gbench_results.txt.
#   bench/run_gbench.sh [--benchmark_min_time=SECONDS]   (default 0.3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ ! -f /usr/include/benchmark/benchmark.h ]]; then "$ROOT/scripts/install-deps.sh" --bench; fi
cmake --preset bench -S "$ROOT" >/dev/null
cmake --build "$ROOT/build/bench" -j"$(nproc)" >/dev/null
B=$ROOT/build/bench/bench
MIN=${1:---benchmark_min_time=0.3}
OUT=$ROOT/bench/gbench_results.txt
{
  echo "# bench/run_gbench.sh, $(date -u +%Y-%m-%dT%H:%MZ), git $(git -C "$ROOT" rev-parse --short HEAD)"
  echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$B/bench_kernels" "$MIN" --benchmark_filter='Gemm_(EngineMatmul|Cblas)/M:(256|1024|128/N:1000|128/N:500)|Unary/(exp|relu|sigmoid)/n:1048576|Binary/add/n:1048576|Memcpy/n:1048576|CopyLoop/n:1048576|AddTransposed/n:1048576|SumAll/n:1048576|SumDim|Softmax|Conv2d|Profiler'
  "$B/bench_autograd" "$MIN" --benchmark_filter='Symbolic|OpDispatch_Tiny|TapeChain'
  "$B/bench_alloc" "$MIN"
  "$B/bench_losses" "$MIN"
} 2>&1 | grep -v "Library was built as DEBUG\|Timings may be affected" | tee "$OUT"
