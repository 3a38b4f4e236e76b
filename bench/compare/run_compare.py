#!/usr/bin/env python3
"""Side-by-side timing and peak memory: metaloss against its peers, in one invocation.

Peers: PyTorch 2.x from PyPI and JAX (jit) in the git-ignored venv bench/.venv (made by
bench/compare/setup_peers.sh), and Debian's python3-torch 1.13 under /usr/bin/python3, the old
baseline; a peer that is not installed is left out and named. Every (workload, threads, library)
runs in its own process: bench_compare (C++), compare_torch.py or compare_jax.py. Each prints the
median time of one iteration (JAX: after its compile, which is reported apart); peak resident
memory is the child's ru_maxrss from os.wait4. The libraries alternate run by run, so slow drift of
a shared machine hits all of them. Prints a markdown report (and writes it with --out).

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
VENV_PY = os.path.join(HERE, "..", ".venv", "bin", "python")
# peer -> (python, script, label)
PEERS = {
    "pytorch": (VENV_PY, "compare_torch.py", "PyTorch 2.x (PyPI)"),
    "jax": (VENV_PY, "compare_jax.py", "JAX (jit)"),
    "pytorch-debian": ("/usr/bin/python3", "compare_torch.py", "PyTorch 1.13 (Debian)"),
}

# workload -> (iterations, warm-up iterations, target ratio metaloss/PyTorch, description)
WORKLOADS = {
    "train_mlp": (30, 5, 1.0, "train step, MLP 784-1000-500-250-10"),
    "train_lenet5": (30, 5, 0.8, "train step, LeNet-5"),
    "meta_mlp_5": (8, 2, 0.5, "ML3 meta step, MLP, 5 unrolled steps"),
    "meta_mlp_1": (20, 3, 0.5, "ML3 meta step, MLP, 1 unrolled step"),
    "meta_lenet5_5": (8, 2, 0.5, "ML3 meta step, LeNet-5, 5 unrolled steps"),
    "meta_lenet5_1": (20, 3, 0.5, "ML3 meta step, LeNet-5, 1 unrolled step"),
    "symbolic": (3000, 300, 0.1, "40-op symbolic loss, forward + backward, 128x10"),
    "meta_mlp_5_phi": (8, 2, 0.5, "ML3 meta step, MLP, 5 unrolled steps, grad of phi only"),
    "meta_mlp_1_phi": (20, 3, 0.5, "ML3 meta step, MLP, 1 unrolled step, grad of phi only"),
    "meta_lenet5_5_phi": (8, 2, 0.5, "ML3 meta step, LeNet-5, 5 unrolled steps, grad of phi only"),
    "meta_lenet5_1_phi": (20, 3, 0.5, "ML3 meta step, LeNet-5, 1 unrolled step, grad of phi only"),
    "meta_lenet5_5_recompute": (8, 2, 0.5, "ML3 meta step, LeNet-5, 5 unrolled steps, METALOSS_CONV_RECOMPUTE=1"),
}
# The targets, metaloss / peer at 1 thread (PyTorch 2.x: the train and meta rows; JAX: meta rows).
# JAX computes only the gradients it is asked for: its meta step is always the "_phi" program, so
# it runs (and is compared) on the "_phi" rows only, not against the backward()-to-every-leaf form.
TARGETS = {("pytorch", "train_lenet5"): 0.6}
for _w in WORKLOADS:
    if _w.startswith("meta_") and "recompute" not in _w:
        TARGETS[("pytorch", _w)] = 0.5
        if _w.endswith("_phi"):
            TARGETS[("jax", _w)] = 0.8


def runs_here(lib, workload):
    return not (lib == "jax" and workload.startswith("meta_") and not workload.endswith("_phi"))
# Rows that run another row's workload with extra environment for the metaloss process only
# (PyTorch runs the plain workload): the conv recompute mode trades time for memory.
VARIANTS = {"meta_lenet5_5_recompute": ("meta_lenet5_5", {"METALOSS_CONV_RECOMPUTE": "1"})}


def thread_env(threads, lib):
    """The environment of one run: every thread pool capped at `threads`. torch.set_num_threads only
    sizes PyTorch's OpenMP pool; the OpenBLAS that Debian's torch calls for GEMM keeps its own pool
    (one thread per core) unless OPENBLAS_NUM_THREADS caps it, so without this a "1 thread" PyTorch
    run multiplies matrices on every core. XLA's CPU client sizes its pools from PJRT_NPROC and
    XLA_FLAGS (without them a "1 thread" JAX run uses both cores). metaloss sets its OpenBLAS pool
    from --threads itself."""
    env = dict(os.environ)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(threads)
    if lib == "jax":
        env["PJRT_NPROC"] = str(threads)
        env["XLA_FLAGS"] = (f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
                            f"intra_op_parallelism_threads={threads}")
        env["JAX_PLATFORMS"] = "cpu"
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
    ap.add_argument("--peers", default=",".join(PEERS), help="peers to run, of " + ", ".join(PEERS))
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    workloads = [w for w in a.workloads.split(",") if w]
    binary = os.path.abspath(a.bench_compare)
    peers, versions, missing = [], {}, []
    for name in [p for p in a.peers.split(",") if p]:
        py, script, _ = PEERS[name]
        module = "jax" if name == "jax" else "torch"
        r = subprocess.run([py, "-c", f"import {module}; print({module}.__version__)"], capture_output=True, text=True)
        if r.returncode != 0:
            missing.append(f"{name} ({py} has no {module}: bench/compare/setup_peers.sh installs it)")
            continue
        peers.append(name)
        versions[name] = r.stdout.strip()
    if a.device != "cpu" and "jax" in peers:  # the venv's JAX is the CPU build
        peers.remove("jax")
        missing.append("jax (CPU build only)")
    libs = ["metaloss"] + peers

    runs = {}  # (workload, threads, lib) -> [(json, rss)] over repeats
    for rep in range(max(1, a.repeat)):
        for w in workloads:
            iters, warm, _, _ = WORKLOADS[w]
            iters, warm = max(3, int(iters * a.scale)), max(1, int(warm * a.scale))
            for t in threads:
                base, extra_env = VARIANTS.get(w, (w, {}))
                common = [base, "--threads", str(t), "--iters", str(iters), "--warmup", str(warm), "--device", a.device]
                for lib in libs:
                    if not runs_here(lib, w):
                        continue
                    if lib == "metaloss":
                        cmd = [binary] + common
                    else:
                        py, script, _ = PEERS[lib]
                        cmd = [py, os.path.join(HERE, script)] + common
                    env = thread_env(t, lib)
                    if lib == "metaloss":
                        env.update(extra_env)
                    j, rss, secs = run_measured(cmd, env)
                    runs.setdefault((w, t, lib), []).append((j, rss))
                    extra = f"  compile {j['compile_ms']:.0f} ms" if "compile_ms" in j else ""
                    extra += f"  cpu/wall {j['cpu_util']:.2f}" if "cpu_util" in j else ""
                    print(f"  [{rep + 1}] {w:14s} {t} thr {lib:14s} median {j['median_us'] / 1000:9.3f} ms  "
                          f"peak RSS {rss:7.1f} MiB  ({secs:.0f} s){extra}", file=sys.stderr, flush=True)
    # One entry per key: the run whose median is the median over repeats; spread = min..max medians.
    res, spread = {}, {}
    for key, rs in runs.items():
        rs = sorted(rs, key=lambda r: r[0]["median_us"])
        res[key] = (rs[len(rs) // 2][0], max(r[1] for r in rs))
        spread[key] = (rs[0][0]["median_us"], rs[-1][0]["median_us"])

    def med(w, t, lib):
        return res[(w, t, lib)][0]["median_us"]

    def ms(key):
        lo, hi = spread[key]
        return f"{res[key][0]['median_us'] / 1000:.3f} [{lo / 1000:.3g}-{hi / 1000:.3g}]"

    lines = []
    P = lines.append
    P(f"Machine: {platform.node()}, {os.cpu_count()} cores, "
      f"{open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}; "
      f"load average at the end {' '.join(open('/proc/loadavg').read().split()[:3])}")
    P(f"Device {a.device}; metaloss {binary}; " + "; ".join(f"{PEERS[p][2]} {versions[p]} ({PEERS[p][0]})" for p in peers) +
      (f"; not run: {', '.join(missing)}" if missing else ""))
    P(f"{max(1, a.repeat)} interleaved runs per cell, times are the median of the runs' medians, [min-max] of the "
      "runs' medians in brackets; each run has OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = MKL_NUM_THREADS = its thread "
      "count, and JAX PJRT_NPROC and XLA_FLAGS (--xla_cpu_multi_thread_eigen, intra_op_parallelism_threads) to match")
    P("")
    P("### Time per iteration (median ms), ratio = metaloss / peer")
    P("")
    hdr = "| workload | threads | metaloss | " + " | ".join(f"{PEERS[p][2]} | ratio" for p in peers) + " |"
    P(hdr)
    P("|" + " --- |" * (hdr.count("|") - 1))
    for w in workloads:
        for t in threads:
            cells = [ms((w, t, "metaloss"))]
            for p in peers:
                if not runs_here(p, w):
                    cells += ["(see the grad-of-phi row)", ""]
                    continue
                cells += [ms((w, t, p)), f"{med(w, t, 'metaloss') / med(w, t, p):.3f}"]
            P(f"| {WORKLOADS[w][3]} | {t} | " + " | ".join(cells) + " |")
    if "jax" in peers:
        P("")
        P("JAX compile time (trace + XLA compile + first run, ms, median over runs), not in the times above:")
        P("")
        P("| workload | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads) + " |")
        P("|" + " --- |" * (len(threads) + 1))
        for w in [w for w in workloads if runs_here("jax", w)]:
            cm = []
            for t in threads:
                cs = sorted(j["compile_ms"] for j, _ in runs[(w, t, "jax")])
                cm.append(f"{cs[len(cs) // 2]:.0f}")
            P(f"| {WORKLOADS[w][3]} | " + " | ".join(cm) + " |")
    t1 = threads[0]
    rows = [(p, w, tgt) for (p, w), tgt in TARGETS.items() if p in peers and w in workloads]
    if rows and a.device == "cpu":
        P("")
        P(f"### Targets (issue 22), {t1} thread: metaloss / peer")
        P("")
        P("| workload | peer | ratio | target | |")
        P("| --- | --- | --- | --- | --- |")
        for p, w, tgt in rows:
            r = med(w, t1, "metaloss") / med(w, t1, p)
            P(f"| {WORKLOADS[w][3]} | {PEERS[p][2]} | {r:.3f} | <= {tgt} | {'met' if r <= tgt else 'MISSED'} |")
    util = [(w, l, res[(w, t1, l)][0]["cpu_util"]) for w in workloads for l in libs
            if runs_here(l, w) and "cpu_util" in res[(w, t1, l)][0]]
    if util:
        P("")
        P(f"CPU time / wall time during the timed iterations at {t1} thread (about 1: held to one core): " +
          ", ".join(f"{l} {min(u for _, ll, u in util if ll == l):.2f}-{max(u for _, ll, u in util if ll == l):.2f}"
                    for l in libs if any(ll == l for _, ll, _u in util)))
    if len(threads) > 1:
        t2 = threads[-1]
        P("")
        P(f"### Speedup from {t1} to {t2} threads (median time at {t1} / at {t2})")
        P("")
        P("| workload | " + " | ".join(["metaloss"] + [PEERS[p][2] for p in peers]) + " |")
        P("|" + " --- |" * (len(libs) + 1))
        for w in workloads:
            P(f"| {WORKLOADS[w][3]} | " + " | ".join(f"{med(w, t1, l) / med(w, t2, l):.2f}x" if runs_here(l, w) else "-"
                                                    for l in libs) + " |")
    if a.device == "cpu":  # host RSS says little about a GPU run
        P("")
        P(f"### Peak resident memory of the whole process (MiB, {t1} thread, max over runs), ratio = metaloss / peer")
        P("")
        P("| workload | metaloss | " + " | ".join(f"{PEERS[p][2]} | ratio" for p in peers) + " |")
        P("|" + " --- |" * (2 + 2 * len(peers)))
        for w in workloads:
            m = res[(w, t1, "metaloss")][1]
            cells = [f"{m:.1f}"]
            for p in peers:
                if not runs_here(p, w):
                    cells += ["-", ""]
                    continue
                cells += [f"{res[(w, t1, p)][1]:.1f}", f"{m / res[(w, t1, p)][1]:.3f}"]
            P(f"| {WORKLOADS[w][3]} | " + " | ".join(cells) + " |")
    report = "\n".join(lines) + "\n"
    print(report)
    if a.out:
        with open(a.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
