#!/usr/bin/env bash
# Fuzzes every parser of untrusted input with libFuzzer (clang) under ASan + UBSan: the loss
# expression parser and GP operators, safetensors, IDX (+ gzip), CSV, the mini-ImageNet pickle,
# PNG/JPEG, the --config JSON and learned-loss files (tests/fuzz/fuzz_*.cpp). Each target compiles
# its parser's sources with coverage instrumentation and links the rest from the release build's
# shared library. Seeds: tests/fuzz/make_seeds (the project's own writers) and Python for pickles.
# Usage: scripts/fuzz.sh [SECONDS per target (default 60)] [TARGET...]
#        METALOSS_BUILD=DIR: a configured build with libmetaloss.so (default build/release)
# A finding stops that target with its crash input in build/fuzz/<target>/ and exit 1 at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
build=${METALOSS_BUILD:-build/release}
command -v clang++ >/dev/null || { echo "fuzz.sh: needs clang (scripts/install-deps.sh --fuzz, or apt-get install clang)" >&2; exit 1; }
[[ -f $build/libmetaloss.so ]] || cmake --build "$build" -j "$(nproc)" --target metaloss
declare -A sources=(
  [expression]="meta/losses/expression.cpp meta/search/gp.cpp"
  [safetensors]="models/safetensors.cpp"
  [idx]="meta/data/idx.cpp meta/data/io.cpp"
  [csv]="meta/data/csv.cpp meta/data/io.cpp"
  [pickle]="meta/data/pickle.cpp meta/data/io.cpp"
  [image]="meta/data/image_codec.cpp"
  [config]="apps/config_json.cpp"
  [loss_file]="meta/losses/loss_file.cpp meta/losses/learned_loss.cpp models/safetensors.cpp"
)
targets=(expression safetensors idx csv pickle image config loss_file)
(($#)) && targets=("$@")
out=build/fuzz
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp  # libcln (GiNaC) allocates once at start-up, never frees
mkdir -p "$out"
flags=(-std=c++20 -O1 -g -I. -Itests/fuzz -fsanitize=address,undefined -fno-sanitize-recover=undefined)
lib=(-L"$build" -lmetaloss -Wl,-rpath,"$PWD/$build" -lz -lpng -ljpeg -lpthread)
if [[ ! -x $out/make_seeds || tests/fuzz/make_seeds.cpp -nt $out/make_seeds ]]; then
  clang++ "${flags[@]}" tests/fuzz/make_seeds.cpp "${lib[@]}" -o "$out/make_seeds"
fi
rm -rf "$out/seeds" && "$out/make_seeds" "$out/seeds" >/dev/null 2>&1
mkdir -p "$out/seeds/expression" && cp tests/fuzz/corpus/* "$out/seeds/expression/"
py=/usr/bin/python3  # Debian's, with numpy (python3-sklearn brings it), not a pyenv one
[[ -x $py ]] || py=python3
"$py" - "$out/seeds/pickle" <<'PY'
import os, pickle, sys
import numpy as np
d = sys.argv[1]; os.makedirs(d, exist_ok=True)
images = np.arange(2 * 3 * 2 * 3, dtype=np.uint8).reshape(2, 3, 2, 3)
for proto in (2, 4):
    with open(os.path.join(d, f"mini-{proto}.pkl"), "wb") as f:
        pickle.dump({"image_data": images, "class_dict": {"n01": [0], "n02": [1]}}, f, protocol=proto)
PY
status=0
for t in "${targets[@]}"; do
  [[ -n ${sources[$t]:-} ]] || { echo "fuzz.sh: unknown target '$t' (targets: ${!sources[*]})" >&2; exit 2; }
  # shellcheck disable=SC2086
  clang++ "${flags[@]}" -fsanitize=fuzzer tests/fuzz/fuzz_$t.cpp ${sources[$t]} "${lib[@]}" -o "$out/fuzz_$t"
  mkdir -p "$out/$t/corpus"
  cp "$out/seeds/$t"/* "$out/$t/corpus/"
  echo "== fuzz_$t: $seconds s =="
  if ! (cd "$out/$t" && ASAN_OPTIONS=detect_leaks=1 "../fuzz_$t" corpus -max_total_time="$seconds" -max_len=4096 \
          -malloc_limit_mb=1024 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >log.txt 2>&1); then
    echo "fuzz_$t: FINDING (input and log in $out/$t)"; tail -n 30 "$out/$t/log.txt"; status=1
  else
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" "$out/$t/log.txt" | tr '\n' ' '; echo
  fi
done
exit $status
