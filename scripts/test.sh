#!/usr/bin/env bash
# The README's test command: installs dependencies, builds the release preset and runs the tests
# with CTest. `scripts/test.sh --sanitize` does the same in an ASan + UBSan build (build/sanitize).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=release
[[ "${1:-}" == "--sanitize" ]] && preset=sanitize
scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
if [[ $preset == sanitize ]]; then
  # Set before the build too: doctest lists the test cases by running the instrumented binary.
  # libcln (GiNaC's number library) makes one allocation at static initialisation that it never
  # frees; scripts/lsan.supp suppresses only that (and libginac's), not our code.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
ctest --preset "$preset" --output-on-failure
