#!/usr/bin/env python3
"""Side-by-side timing and peak memory, metaloss vs PyTorch, in one invocation.

Every (workload, threads, library) runs in its own process: bench_compare (C++) or compare_torch.py
(Debian python3-torch under /usr/bin/python3). Each prints the median time of one iteration; peak
resident memory is the child's ru_maxrss from os.wait4. The libraries alternate run by run, so slow
drift of a shared machine hits both. Prints a markdown report (and writes it with --out).

    python3 run_compare.py --bench-compare build/bench/bench/compare/bench_compare [--out FILE]
(bench/compare/run_compare.sh builds the binary and calls this.)
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_PY = "/usr/bin/python3"

# workload -> (iterations, warm-up iterations, target ratio metaloss/PyTorch, description)
WORKLOADS = {
    "train_mlp": (30, 5, 1.0, "train step, MLP 784-1000-500-250-10"),
    "train_lenet5": (30, 5, 0.8, "train step, LeNet-5"),
    "meta_mlp_5": (8, 2, 0.5, "ML3 meta step, MLP, 5 unrolled steps"),
    "meta_mlp_1": (20, 3, 0.5, "ML3 meta step, MLP, 1 unrolled step"),
    "meta_lenet5_5": (8, 2, 0.5, "ML3 meta step, LeNet-5, 5 unrolled steps"),
    "meta_lenet5_1": (20, 3, 0.5, "ML3 meta step, LeNet-5, 1 unrolled step"),
    "symbolic": (3000, 300, 0.1, "40-op symbolic loss, forward + backward, 128x10"),
    "meta_lenet5_5_recompute": (8, 2, 0.5, "ML3 meta step, LeNet-5, 5 unrolled steps, METALOSS_CONV_RECOMPUTE=1"),
}
# Rows that run another row's workload with extra environment for the metaloss process only
# (PyTorch runs the plain workload): the conv recompute mode trades time for memory.
VARIANTS = {"meta_lenet5_5_recompute": ("meta_lenet5_5", {"METALOSS_CONV_RECOMPUTE": "1"})}
MEMORY_TARGET = 0.25


def thread_env(threads):
    """The environment of one run: every thread pool capped at `threads`. torch.set_num_threads only
    sizes PyTorch's OpenMP pool; the OpenBLAS that Debian's torch calls for GEMM keeps its own pool
    (one thread per core) unless OPENBLAS_NUM_THREADS caps it, so without this a "1 thread" PyTorch
    run multiplies matrices on every core. metaloss sets its OpenBLAS pool from --threads itself."""
    env = dict(os.environ)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(threads)
    return env


def run_measured(cmd, env=None):
    """Runs cmd and returns (JSON result, peak RSS MiB, wall seconds); raises with stderr on failure."""
    t0 = time.time()
    r_out, w_out = os.pipe()
    r_err, w_err = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.dup2(w_out, 1)
        os.dup2(w_err, 2)
        for fd in (r_out, r_err, w_out, w_err):
            os.close(fd)
        try:
            os.execve(cmd[0], cmd, env if env is not None else os.environ)
        finally:
            os._exit(127)
    os.close(w_out)
    os.close(w_err)
    with os.fdopen(r_out) as fo, os.fdopen(r_err) as fe:
        out = fo.read()
        err = fe.read()
    _, status, ru = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {code}:\n{err}")
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    return json.loads(line), ru.ru_maxrss / 1024.0, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench-compare", required=True, help="the bench_compare binary")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply iteration counts (quick runs: 0.2)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per (workload, threads, library), interleaved; the report takes the median of "
                         "their medians and shows the spread (a shared VM moves single runs by up to ~30 %%)")
    ap.add_argument("--out", help="also write the report here")
    ap.add_argument("--device", default="cpu", help="cpu or cuda: where both libraries run (cuda: targets are 1.0)")
    ap.add_argument("--python", default=TORCH_PY, help="the Python that has PyTorch")
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    workloads = [w for w in a.workloads.split(",") if w]
    binary = os.path.abspath(a.bench_compare)
    torch_py = shutil.which(a.python) or a.python  # run_measured execs a path
    torch_version = subprocess.run([torch_py, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                                   text=True, check=True).stdout.strip()

    runs = {}  # (workload, threads, lib) -> [(json, rss)] over repeats
    for rep in range(max(1, a.repeat)):
        for w in workloads:
            iters, warm, _, _ = WORKLOADS[w]
            iters, warm = max(3, int(iters * a.scale)), max(1, int(warm * a.scale))
            for t in threads:
                base, extra_env = VARIANTS.get(w, (w, {}))
                common = [base, "--threads", str(t), "--iters", str(iters), "--warmup", str(warm), "--device", a.device]
                for lib, cmd in (("metaloss", [binary] + common),
                                 ("pytorch", [torch_py, os.path.join(HERE, "compare_torch.py")] + common)):
                    env = thread_env(t)
                    if lib == "metaloss":
                        env.update(extra_env)
                    j, rss, secs = run_measured(cmd, env)
                    runs.setdefault((w, t, lib), []).append((j, rss))
                    print(f"  [{rep + 1}] {w:14s} {t} thr {lib:8s} median {j['median_us'] / 1000:9.3f} ms  "
                          f"peak RSS {rss:7.1f} MiB  ({secs:.0f} s)", file=sys.stderr, flush=True)
    # One entry per key: the run whose median is the median over repeats; spread = min..max medians.
    res, spread = {}, {}
    for key, rs in runs.items():
        rs = sorted(rs, key=lambda r: r[0]["median_us"])
        res[key] = (rs[len(rs) // 2][0], max(r[1] for r in rs))
        spread[key] = (rs[0][0]["median_us"], rs[-1][0]["median_us"])

    lines = []
    P = lines.append
    P(f"Machine: {platform.node()}, {os.cpu_count()} cores, "
      f"{open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}; "
      f"load average at the end {' '.join(open('/proc/loadavg').read().split()[:3])}")
    P(f"Device {a.device}; PyTorch {torch_version} ({torch_py}); metaloss {binary}; {max(1, a.repeat)} interleaved runs per cell, "
      "times are the median of the runs' medians, [min-max] of the runs' medians in brackets; "
      "each run has OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = MKL_NUM_THREADS = its thread count")
    P("")
    P("### Time per iteration (median), ratio = metaloss / PyTorch")
    P("")
    hdr = "| workload | threads | metaloss ms | PyTorch ms | ratio | target | |"
    def ms(key):
        lo, hi = spread[key]
        return f"{res[key][0]['median_us'] / 1000:.3f} [{lo / 1000:.3g}-{hi / 1000:.3g}]"
    P(hdr)
    P("|" + " --- |" * (hdr.count("|") - 1))
    for w in workloads:
        for t in threads:
            m, p = res[(w, t, "metaloss")][0]["median_us"], res[(w, t, "pytorch")][0]["median_us"]
            tgt = WORKLOADS[w][2] if a.device == "cpu" else 1.0  # GPU: no slower than PyTorch CUDA
            P(f"| {WORKLOADS[w][3]} | {t} | {ms((w, t, 'metaloss'))} | {ms((w, t, 'pytorch'))} | {m / p:.3f} | <= {tgt} | "
              f"{'met' if m / p <= tgt else 'MISSED'} |")
    if len(threads) > 1:
        t1, t2 = threads[0], threads[-1]
        P("")
        P(f"### Speedup from {t1} to {t2} threads (median time at {t1} / at {t2})")
        P("")
        P("| workload | metaloss | PyTorch |")
        P("| --- | --- | --- |")
        for w in workloads:
            sp = [res[(w, t1, lib)][0]["median_us"] / res[(w, t2, lib)][0]["median_us"] for lib in ("metaloss", "pytorch")]
            P(f"| {WORKLOADS[w][3]} | {sp[0]:.2f}x | {sp[1]:.2f}x |")
    if a.device != "cpu":  # host RSS says little about a GPU run
        lines.append("")
        report = "\n".join(lines) + "\n"
        print(report)
        if a.out:
            with open(a.out, "w") as f:
                f.write(report)
        return
    P("")
    P(f"### Peak resident memory of the whole process (MiB, {threads[0]} thread, max over runs), ratio = metaloss / PyTorch")
    P("")
    P("| workload | metaloss | PyTorch | ratio | target | |")
    P("| --- | --- | --- | --- | --- | --- |")
    for w in workloads:
        m, p = res[(w, threads[0], "metaloss")][1], res[(w, threads[0], "pytorch")][1]
        P(f"| {WORKLOADS[w][3]} | {m:.1f} | {p:.1f} | {m / p:.3f} | <= {MEMORY_TARGET} | "
          f"{'met' if m / p <= MEMORY_TARGET else 'MISSED'} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if a.out:
        with open(a.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
