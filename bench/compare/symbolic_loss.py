#!/usr/bin/env python3
"""PyTorch side of bench_autograd's BM_SymbolicLoss40_*: the same 40-op elementwise expression on
the same 128x10 float32 input, single-threaded. Run with Debian's /usr/bin/python3 (python3-torch).

Method, matching Google Benchmark with --benchmark_repetitions: after a warm-up, time BLOCKS blocks
of n iterations each with time.perf_counter (wall clock); a block gives the mean time per iteration;
report the median over blocks, in microseconds. n is calibrated so a block takes ~BLOCK_S seconds.

Output: one 'key value' pair per line, for run_symbolic.sh to parse (--json for a JSON object).
"""
import json
import math
import os
import statistics
import sys
import time

import torch

ROWS, COLS = 128, 10
BLOCKS = int(os.environ.get("REPS", 7))  # same variable run_symbolic.sh passes to Google Benchmark
BLOCK_S, WARMUP_S = 0.5, 0.3


def make_inputs():
    # Same construction as make_symbolic_inputs() in bench/symbolic_expr.h: softmax_j(sin(0.37 i + 1.3 j))
    # in double (same libm, same summation order), rounded to float32; y = one-hot of i % 10.
    f, y = [], []
    for i in range(ROWS):
        e = [math.exp(math.sin(0.37 * i + 1.3 * j)) for j in range(COLS)]
        z = 0.0
        for v in e:
            z += v
        f.append([v / z for v in e])
        y.append([1.0 if j == i % COLS else 0.0 for j in range(COLS)])
    return (torch.tensor(y, dtype=torch.float32),
            torch.tensor(f, dtype=torch.float32).requires_grad_(True))


OPS = 0  # counts torch calls made by expression(), to show it is 40


def op(fn, *args):
    global OPS
    OPS += 1
    return fn(*args)


def expression(y, f):
    # One line per op, numbered as in symbolic_expression() of bench/symbolic_expr.h. The final mean is a
    # reduction and is not counted. (op() adds a Python call per op; see time_op_overhead below.)
    a1 = op(torch.mul, y, f)            # 1
    a2 = op(torch.abs, f)               # 2
    a3 = op(torch.add, a2, 1e-7)        # 3
    a4 = op(torch.log, a3)              # 4
    a5 = op(torch.mul, y, a4)           # 5
    a6 = op(torch.neg, a5)              # 6
    a7 = op(torch.sub, f, y)            # 7
    a8 = op(torch.square, a7)           # 8
    a9 = op(torch.add, a6, a8)          # 9
    a10 = op(torch.abs, a7)             # 10
    a11 = op(torch.sqrt, a10)           # 11
    a12 = op(torch.tanh, a11)           # 12
    a13 = op(torch.mul, a12, 0.5)       # 13
    a14 = op(torch.maximum, a9, a13)    # 14
    a15 = op(torch.minimum, a1, a12)    # 15
    a16 = op(torch.sign, a7)            # 16
    a17 = op(torch.mul, a16, a15)       # 17
    a18 = op(torch.abs, a17)            # 18
    a19 = op(torch.add, a18, 1.0)       # 19
    a20 = op(torch.div, a14, a19)       # 20
    a21 = op(torch.neg, a20)            # 21
    a22 = op(torch.exp, a21)            # 22
    a23 = op(torch.sub, a20, a22)       # 23
    a24 = op(torch.tanh, a23)           # 24
    a25 = op(torch.rsub, a24, 1.0)      # 25  1 - x
    a26 = op(torch.square, a25)         # 26
    a27 = op(torch.mul, a26, a9)        # 27
    a28 = op(torch.add, a27, a14)       # 28
    a29 = op(torch.abs, a28)            # 29
    a30 = op(torch.add, a29, 1e-7)      # 30
    a31 = op(torch.sqrt, a30)           # 31
    a32 = op(torch.mul, y, a31)         # 32
    a33 = op(torch.sub, a31, a32)       # 33
    a34 = op(torch.maximum, a33, a22)   # 34
    a35 = op(torch.minimum, a34, a29)   # 35
    a36 = op(torch.div, a35, a19)       # 36
    a37 = op(torch.mul, a36, 0.25)      # 37
    a38 = op(torch.add, a37, a5)        # 38
    a39 = op(torch.tanh, a38)           # 39
    a40 = op(torch.add, a39, a9)        # 40
    return a40


def loss_of(y, f):
    return expression(y, f).mean()


def median_us(step):
    """Median over BLOCKS blocks of the mean wall time per call of step(), in microseconds."""
    t_end = time.perf_counter() + WARMUP_S
    n = 0
    while time.perf_counter() < t_end:  # warm-up, also calibrates n
        step()
        n += 1
    n = max(1, int(n * BLOCK_S / WARMUP_S))
    per_iter = []
    for _ in range(BLOCKS):
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        per_iter.append((time.perf_counter() - t0) / n)
    return statistics.median(per_iter) * 1e6


def main():
    global OPS
    torch.set_num_threads(1)
    y, f = make_inputs()

    OPS = 0
    loss = loss_of(y, f)
    ops = OPS
    (g,) = torch.autograd.grad(loss, f)
    g = g.double()
    result = {
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "ops": ops,
        "loss": float(loss),
        "grad_sum": float(g.sum()),  # summed in double, like the C++ side
        "grad_abs_sum": float(g.abs().sum()),
    }

    def grad_step():
        (gf,) = torch.autograd.grad(loss_of(y, f), f)
        return gf

    def fwd_nograd_step():
        with torch.no_grad():
            return loss_of(y, f)

    result["grad_us"] = median_us(grad_step)
    result["fwd_nograd_us"] = median_us(fwd_nograd_step)

    # Tiny-add dispatch cost, for BM_OpDispatch_Add_Tiny (plain torch.add, no op() wrapper).
    a, b = torch.full((1,), 1.5), torch.full((1,), 2.5)
    ag, bg = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    result["add_tiny_ns"] = median_us(lambda: torch.add(a, b)) * 1e3
    result["add_tiny_record_ns"] = median_us(lambda: torch.add(ag, bg)) * 1e3

    # What the op() counting wrapper itself costs per call (40 of them per expression), so the
    # reader can judge it; it is small next to a torch op but not zero.
    result["op_wrapper_ns"] = median_us(lambda: op(abs, 1.0)) * 1e3 - median_us(lambda: abs(1.0)) * 1e3

    if "--json" in sys.argv:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(k, f"{v:.9g}" if isinstance(v, float) else v)


if __name__ == "__main__":
    main()
