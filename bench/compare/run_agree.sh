#!/usr/bin/env bash
# One command for the step-for-step agreement test of every zoo model with PyTorch (Debian's
# python3-torch under /usr/bin/python3): builds the metaloss CLI (Release, no tests) in build/cmp
# unless METALOSS is set, then runs agree_pytorch.py; extra arguments go to it (e.g.
# --models lenet5,conv4 --verbose --no-float64). Output is also written to $WORKDIR/agree.txt.
#   bench/compare/run_agree.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORKDIR=${WORKDIR:-/tmp/metaloss_agree}
if [[ -z "${METALOSS:-}" ]]; then
  cmake -S "$ROOT" -B "$ROOT/build/cmp" -DCMAKE_BUILD_TYPE=Release -DMETALOSS_BUILD_TESTS=OFF >/dev/null
  cmake --build "$ROOT/build/cmp" -j2 --target metaloss_cli >/dev/null
  METALOSS=$ROOT/build/cmp/metaloss
fi
mkdir -p "$WORKDIR"
/usr/bin/python3 "$ROOT/bench/compare/zoo.py" --metaloss "$METALOSS"
/usr/bin/python3 "$ROOT/bench/compare/agree_pytorch.py" --metaloss "$METALOSS" --workdir "$WORKDIR" \
  --threads 2 --batch 128 --batch-cifar 32 "$@" 2>&1 | tee "$WORKDIR/agree.txt"
