#!/usr/bin/env bash
# The README's test command: installs dependencies, builds the release preset and runs the tests
# with CTest. `scripts/test.sh --sanitize` does the same in an ASan + UBSan build (build/sanitize).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=release
[[ "${1:-}" == "--sanitize" ]] && preset=sanitize
scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
if [[ $preset == sanitize ]]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
ctest --preset "$preset" --output-on-failure
