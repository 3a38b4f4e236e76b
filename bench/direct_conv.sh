#!/usr/bin/env bash
# The CPU direct convolution (kernels/cpu/direct_conv.cpp) against im2col + GEMM, whole LeNet-5
# steps, interleaved: METALOSS_DIRECT_CONV_MAX_TAPS=0 (im2col everywhere), 64 (the default: conv1,
# 25 taps, direct; conv2, 150 taps, im2col) and 1000 (both direct). Pause other jobs first (SIGSTOP):
# nice does not protect a timing on the shared VMs.
# Usage: bench/direct_conv.sh [PATH/TO/metaloss] [THREADS]
set -uo pipefail
bin=${1:-build/release/metaloss}
threads=${2:-1}
for rep in 1 2 3; do
  for taps in 0 64 1000; do
    r=$(METALOSS_DIRECT_CONV_MAX_TAPS=$taps "$bin" train --model lenet5 --steps 1500 --threads "$threads" --seed 0 2>&1 |
        grep -oE "[0-9.]+ steps/s" | tail -1)
    echo "train step, $threads thread(s), max taps $taps, rep $rep: $r"
  done
done
for k in 1 5; do
  for rep in 1 2; do
    for taps in 0 64; do
      out=$(mktemp -d)
      r=$(METALOSS_DIRECT_CONV_MAX_TAPS=$taps "$bin" learn --method ml3 --model lenet5 --meta-steps 100 --steps 10 \
            --inner-steps "$k" --threads "$threads" --seeds 0 --out "$out" 2>&1 | grep -E "ml3.*steps/s" |
          grep -oE "[0-9.]+ steps/s" | tail -1)
      rm -rf "$out"
      echo "ML3 meta step K=$k, $threads thread(s), max taps $taps, rep $rep: $r"
    done
  done
done
