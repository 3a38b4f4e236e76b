#!/usr/bin/env python3
"""PyTorch (CUDA) side of bench_gpu.cpp: the same ops and sizes, timed the same way (median of
ITERS runs, each ended by torch.cuda.synchronize, after 3 warm-ups). Prints one JSON line per op."""
import json
import sys
import time

import torch

ITERS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
torch.backends.cuda.matmul.allow_tf32 = False  # full float32, as metaloss
torch.backends.cudnn.allow_tf32 = False
dev = torch.device("cuda")
copy_gbs = 0.0


def median_seconds(f):
    for _ in range(3):
        f()
    torch.cuda.synchronize()
    s = []
    for _ in range(ITERS):
        t0 = time.perf_counter()
        f()
        torch.cuda.synchronize()
        s.append(time.perf_counter() - t0)
    s.sort()
    return s[len(s) // 2]


def bw(name, nbytes, f):
    global copy_gbs
    t = median_seconds(f)
    gbs = nbytes / t / 1e9
    print(json.dumps({"op": name, "us": round(t * 1e6, 1), "GB_per_s": round(gbs),
                      "pct_of_copy": round(100 * gbs / copy_gbs) if copy_gbs else 100}), flush=True)
    if not copy_gbs:
        copy_gbs = gbs


def flops(name, n, f):
    t = median_seconds(f)
    print(json.dumps({"op": name, "us": round(t * 1e6, 1), "TFLOP_per_s": round(n / t / 1e12, 2)}), flush=True)


with torch.no_grad():
    n, side = 1 << 26, 8192
    B = 4.0 * n
    a, b = torch.randn(n, device=dev), torch.randn(n, device=dev)
    c = torch.empty(n, device=dev)
    m, row = a.view(side, side), torch.randn(side, device=dev)
    bw("copy_d2d (baseline)", 2 * B, lambda: c.copy_(a))
    bw("add", 3 * B, lambda: a + b)
    bw("mul_scalar", 2 * B, lambda: a * 2.0)
    bw("exp", 2 * B, lambda: torch.exp(a))
    bw("relu", 2 * B, lambda: torch.relu(a))
    bw("add_row_broadcast [8192,8192]+[8192]", 2 * B, lambda: m + row)
    bw("where(gt(a,0), a, b)", 3 * B + B / 4, lambda: torch.where(a > 0, a, b))
    bw("cast float32->float64", 3 * B, lambda: a.double())
    bw("transpose copy [8192,8192]", 2 * B, lambda: m.t().contiguous())
    bw("sum all", B, lambda: a.sum())
    bw("sum dim 1 (row sums) [8192,8192]", B, lambda: m.sum(1))
    bw("sum dim 0 (column sums) [8192,8192]", B, lambda: m.sum(0))
    bw("amax dim 1 [8192,8192]", B, lambda: m.amax(1))
    bw("softmax dim 1 [65536,1024]", 2 * B, lambda: torch.softmax(a.view(65536, 1024), 1))
    bw("log_softmax dim 1 [8388608,8] (classes)", 2 * B, lambda: torch.log_softmax(a.view(n // 8, 8), 1))
    for t in (torch.float32, torch.float64):
        x, y = torch.randn(4096, 4096, device=dev, dtype=t), torch.randn(4096, 4096, device=dev, dtype=t)
        flops(f"gemm {str(t).replace('torch.', '')} 4096^3", 2.0 * 4096 ** 3, lambda: x @ y)
    xb, wl = torch.randn(128, 784, device=dev), torch.randn(1000, 784, device=dev)
    flops("linear float32 [128,784]x[784,1000]^T (MLP layer)", 2.0 * 128 * 784 * 1000,
          lambda: torch.nn.functional.linear(xb, wl))
