#!/usr/bin/env bash
# Fuzzes the expression parser/evaluator and the GP tree operators with libFuzzer (clang), the
# target tests/fuzz/fuzz_expression.cpp. The parser and operators are compiled into the fuzzer
# with coverage instrumentation and ASan + UBSan; the rest links from a normal release build.
# Usage: scripts/fuzz.sh [SECONDS (default 600)]      (METALOSS_BUILD=DIR: a build with libmetaloss.a)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
build=${METALOSS_BUILD:-build/release}
command -v clang++ >/dev/null || { echo "fuzz.sh: needs clang (Debian: apt-get install clang)" >&2; exit 1; }
if [[ ! -f $build/libmetaloss.a ]]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$build" -j 2 --target metaloss_static
fi
out=build/fuzz
mkdir -p "$out/corpus"
cp tests/fuzz/corpus/* "$out/corpus/"
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I. \
  tests/fuzz/fuzz_expression.cpp meta/losses/expression.cpp meta/search/gp.cpp \
  "$build/libmetaloss.a" -lopenblas -lz -lsqlite3 -lpthread -o "$out/fuzz_expression"
echo "fuzz.sh: running $out/fuzz_expression for $seconds s (corpus $out/corpus)"
"$out/fuzz_expression" "$out/corpus" -max_total_time="$seconds" -max_len=512 -print_final_stats=1 2>&1 | tail -n 25
