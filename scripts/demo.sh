#!/usr/bin/env bash
# The README's main-job command, for now: builds and runs the Hessian-vector-product demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" --target hvp_demo
exec build/release/hvp_demo
