#!/usr/bin/env bash
# One command for the side-by-side comparison with the peers (bench/README.md has the latest table):
# installs the bench dependencies if missing (libbenchmark-dev, python3-torch 1.13; needs root/apt;
# PyTorch 2.x and JAX into the git-ignored bench/.venv: setup_peers.sh), builds bench_compare
# (Release, preset "bench"), runs every workload at 1 and 2 threads in every library, prints the
# report and writes it to bench/compare/compare_results.md.
#   bench/compare/run_compare.sh [run_compare.py options, e.g. --scale 0.2 --workloads symbolic]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if ! /usr/bin/python3 -c "import torch" 2>/dev/null || [[ ! -f /usr/include/benchmark/benchmark.h ]]; then
  "$ROOT/scripts/install-deps.sh" --bench
fi
"$ROOT/bench/compare/setup_peers.sh"
cmake --preset bench -S "$ROOT" >/dev/null
cmake --build "$ROOT/build/bench" -j"$(nproc)" --target bench_compare >/dev/null
python3 "$ROOT/bench/compare/run_compare.py" --bench-compare "$ROOT/build/bench/bench/compare/bench_compare" \
  --out "$ROOT/bench/compare/compare_results.md" "$@"
