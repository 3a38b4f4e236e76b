#!/usr/bin/env python3
"""JAX side of the side-by-side comparison: the workloads of bench_compare.cpp, jit-compiled.

    bench/.venv/bin/python compare_jax.py WORKLOAD [--threads T] [--iters N] [--warmup W] [--device cpu|cuda]

Prints one JSON line like bench_compare, plus compile_ms: the first call (trace + XLA compile +
one run), reported apart from the timed iterations. The thread caps must be in the environment
before JAX starts (run_compare.py sets them: PJRT_NPROC, XLA_FLAGS with
--xla_cpu_multi_thread_eigen and intra_op_parallelism_threads); this script sets them itself when
they are missing. Workloads: train_mlp, train_lenet5, meta_{mlp,lenet5}_{1,5}[_phi], symbolic.

Each workload is one jitted function over all its state (parameters, optimiser state, batches), as
a JAX user writes it: the train step returns the new parameters and momenta, the meta step the
new loss-network parameters and Adam moments. JAX computes only the gradients it is asked for, so
the ML3 meta step and its "_phi" form (the gradient with respect to the loss network only, as the
search runs it) are the same program.
"""
import argparse
import json
import os
import re
import resource
import sys
import time


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    return ap.parse_args()


A = parse()
os.environ.setdefault("PJRT_NPROC", str(A.threads))
os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen={'true' if A.threads > 1 else 'false'} "
                                   f"intra_op_parallelism_threads={A.threads}")
if A.device == "cpu":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
else:  # full float32 matmuls, as metaloss and compare_torch.py (no TF32)
    os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

BATCH, CLASSES = 128, 10
HERE = os.path.dirname(os.path.abspath(__file__))


def uniform(key, shape, bound):
    return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


def linear_init(key, fan_in, fan_out, bias=True):
    """nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias."""
    kw, kb = jax.random.split(key)
    b = 1.0 / fan_in ** 0.5
    return [uniform(kw, (fan_out, fan_in), b)] + ([uniform(kb, (fan_out,), b)] if bias else [])


def conv_init(key, cin, cout, k):
    kw, kb = jax.random.split(key)
    b = 1.0 / (cin * k * k) ** 0.5
    return [uniform(kw, (cout, cin, k, k), b), uniform(kb, (cout,), b)]


def make_base(name, key):
    """(parameters, forward(params, x) -> logits)."""
    keys = jax.random.split(key, 8)
    if name == "mlp":  # 784-1000-500-250-10, ReLU
        widths = [784, 1000, 500, 250, CLASSES]
        params = sum((linear_init(keys[i], widths[i], widths[i + 1]) for i in range(4)), [])

        def forward(p, x):
            h = x.reshape(x.shape[0], -1)
            for i in range(4):
                h = h @ p[2 * i].T + p[2 * i + 1]
                if i < 3:
                    h = jax.nn.relu(h)
            return h
        return params, forward
    if name == "lenet5":  # as bench/compare/zoo.py: conv 6@5, tanh, avgpool 2, conv 16@5, tanh, avgpool 2, 256-120-84-10
        params = conv_init(keys[0], 1, 6, 5) + conv_init(keys[1], 6, 16, 5) + linear_init(keys[2], 256, 120) + \
            linear_init(keys[3], 120, 84) + linear_init(keys[4], 84, CLASSES)

        def conv(x, w, b):
            y = jax.lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
            return y + b[None, :, None, None]

        def pool(x):
            n, c, h, w = x.shape
            return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))

        def forward(p, x):
            h = pool(jnp.tanh(conv(x, p[0], p[1])))
            h = pool(jnp.tanh(conv(h, p[2], p[3])))
            h = h.reshape(h.shape[0], -1)
            h = jnp.tanh(h @ p[4].T + p[5])
            h = jnp.tanh(h @ p[6].T + p[7])
            return h @ p[8].T + p[9]
        return params, forward
    raise SystemExit(f"unknown base model {name}")


def cross_entropy(logits, labels):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits, 1), labels[:, None], 1))


def random_batch(key):
    kx, ky = jax.random.split(key)
    return jax.random.normal(kx, (BATCH, 1, 28, 28), jnp.float32), jax.random.randint(ky, (BATCH,), 0, CLASSES)


def ml3_loss(phi, logits, labels):
    """ML3: per class (softmax prob, one-hot) -> 2-50-50-1, no biases, ReLU, Softplus; batch mean of class sums."""
    f = jax.nn.softmax(logits, 1)
    y = jax.nn.one_hot(labels, CLASSES, dtype=logits.dtype)
    h = jnp.stack([f.reshape(-1), y.reshape(-1)], 1)
    h = jax.nn.relu(h @ phi[0].T)
    h = jax.nn.relu(h @ phi[1].T)
    return jnp.sum(jax.nn.softplus(h @ phi[2].T)) / logits.shape[0]


def adam_update(p, g, m, v, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
    v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g)]
    c1, c2 = 1 - b1 ** t, 1 - b2 ** t
    p = [pi - lr * (mi / c1) / (jnp.sqrt(vi / c2) + eps) for pi, mi, vi in zip(p, m, v)]
    return p, m, v


def symbolic_expression():
    """symbolic_loss.py's 40-op expression, run on jax.numpy (its source, with torch's names mapped)."""
    src = open(os.path.join(HERE, "symbolic_loss.py")).read()
    body = re.search(r"(def expression\(y, f\):.*?return a40\n)", src, re.S).group(1)

    class T:  # the torch functions the expression calls
        mul, abs, add, log, neg, sub, square, sqrt, tanh = (jnp.multiply, jnp.abs, jnp.add, jnp.log, jnp.negative,
                                                            jnp.subtract, jnp.square, jnp.sqrt, jnp.tanh)
        maximum, minimum, sign, div, exp = jnp.maximum, jnp.minimum, jnp.sign, jnp.divide, jnp.exp
        rsub = staticmethod(lambda x, c: c - x)
    ns = {"torch": T, "op": lambda fn, *args: fn(*args)}
    exec(body, ns)
    return ns["expression"]


def make_workload(w, key):
    """A function of no arguments that runs one iteration and blocks until it is done."""
    kb, k1, k2, k3 = jax.random.split(key, 4)
    if w in ("train_mlp", "train_lenet5"):
        params, forward = make_base(w[6:], kb)
        x, y = random_batch(k1)

        @jax.jit
        def step(p, mom, x, y):
            g = jax.grad(lambda p: cross_entropy(forward(p, x), y))(p)
            mom = [0.9 * mi + gi for mi, gi in zip(mom, g)]
            return [pi - 0.01 * mi for pi, mi in zip(p, mom)], mom
        state = {"p": params, "m": [jnp.zeros_like(p) for p in params]}

        def run():
            state["p"], state["m"] = step(state["p"], state["m"], x, y)
            jax.block_until_ready(state["p"])
        return run
    m = re.fullmatch(r"meta_(mlp|lenet5)_([15])(_phi)?", w)
    if m:
        theta0, forward = make_base(m.group(1), kb)
        k = int(m.group(2))
        phi = linear_init(k1, 2, 50, False) + linear_init(k2, 50, 50, False) + linear_init(k3, 50, 1, False)
        (xs, ys), (xq, yq) = random_batch(jax.random.fold_in(key, 1)), random_batch(jax.random.fold_in(key, 2))

        # Everything is an argument of the jitted step, not a closure constant: XLA would fold a
        # forward pass over constant weights and batches at compile time.
        def outer(phi, theta0, xs, ys, xq, yq):
            theta = theta0
            for _ in range(k):
                g = jax.grad(lambda th: ml3_loss(phi, forward(th, xs), ys))(theta)
                theta = [t - 0.01 * gi for t, gi in zip(theta, g)]
            return cross_entropy(forward(theta, xq), yq)

        @jax.jit
        def step(phi, m1, m2, t, theta0, xs, ys, xq, yq):
            return adam_update(phi, jax.grad(outer)(phi, theta0, xs, ys, xq, yq), m1, m2, t)
        state = {"phi": phi, "m": [jnp.zeros_like(p) for p in phi], "v": [jnp.zeros_like(p) for p in phi], "t": 0}

        def run():
            state["t"] += 1
            state["phi"], state["m"], state["v"] = step(state["phi"], state["m"], state["v"], float(state["t"]),
                                                        theta0, xs, ys, xq, yq)
            jax.block_until_ready(state["phi"])
        return run
    if w == "symbolic":
        expression = symbolic_expression()
        import math
        f, y = [], []
        for i in range(128):  # symbolic_loss.make_inputs(), without importing torch
            e = [math.exp(math.sin(0.37 * i + 1.3 * j)) for j in range(10)]
            z = 0.0
            for v in e:
                z += v
            f.append([v / z for v in e])
            y.append([1.0 if j == i % 10 else 0.0 for j in range(10)])
        f, y = jnp.array(f, jnp.float32), jnp.array(y, jnp.float32)
        g = jax.jit(jax.grad(lambda f, y: expression(y, f).mean()))

        def run():
            jax.block_until_ready(g(f, y))
        return run
    raise SystemExit(f"unknown workload {w}")


def main():
    run = make_workload(A.workload, jax.random.PRNGKey(1234))
    t0 = time.perf_counter()
    run()  # trace + compile + one run
    compile_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(A.warmup):
        run()
    us = []
    r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(A.iters):
        t0 = time.perf_counter()
        run()
        us.append((time.perf_counter() - t0) * 1e6)
    r1, w1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    # CPU time over wall time of the timed iterations: about 1 for a run held to one core.
    cpu_util = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / (w1 - w0)
    us.sort()
    print(json.dumps({"library": "jax", "jax_version": jax.__version__, "workload": A.workload, "device": A.device,
                      "threads": A.threads, "iters": A.iters, "median_us": round(us[len(us) // 2], 2),
                      "min_us": round(us[0], 2), "p90_us": round(us[len(us) * 9 // 10], 2),
                      "compile_ms": round(compile_ms, 1), "backend": jax.default_backend(),
                      "cpu_util": round(cpu_util, 3)}))


if __name__ == "__main__":
    sys.exit(main())
