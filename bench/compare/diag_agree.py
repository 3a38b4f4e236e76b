#!/usr/bin/env python3
"""Why a model misses the agreement bound: runs after agree_pytorch.py (reads its --workdir) and
puts metaloss and PyTorch float32 side by side against PyTorch float64 from the same initial weights
on the same batches.

For MODEL it prints
  1. per tensor, after 1 and after N steps: max|torch64| (scale), and the max rel diff
     (max|a - b| / (max|b| + 1e-12)) of metaloss vs torch32, metaloss vs torch64 and torch32 vs
     torch64. Where metaloss-vs-torch64 is about torch32-vs-torch64, metaloss is as accurate as
     PyTorch and the gap between the two is float32 rounding, amplified by the problem.
  2. the first step's gradient g = (init - s1) / lr (SGD with momentum: the first step is plain
     SGD), metaloss vs torch32 vs torch64, per tensor, as max|diff| / max|g64|.
  3. the problem's own sensitivity: float64 PyTorch from init * (1 + 1e-7 N(0,1)) (about float32's
     rounding) vs float64 from init, step by step.
  4. discrete routing differences in the first forward pass, float32 vs float64 PyTorch: max-pool
     windows whose argmax differs and ReLU inputs whose sign differs.

Usage: /usr/bin/python3 diag_agree.py MODEL [--steps 10] [--workdir /tmp/metaloss_agree] [--batch B]
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agree_pytorch as A  # noqa: E402
import safetensors_io as st  # noqa: E402
import zoo  # noqa: E402


def rel(a, b):
    d = (a.double() - b.double()).abs().max().item()
    return d / (b.double().abs().max().item() + 1e-12)


def train(name, init, x, y, batch, steps, lr, momentum, dtype, eps=0.0):
    m = zoo.make(name, 10, dropout=False)
    m.load_state_dict(init, strict=True)
    m = m.to(dtype)
    if eps:
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in m.parameters():
                p.mul_(1 + eps * torch.randn(p.shape, generator=g, dtype=dtype))
    snaps, losses = A.torch_train(m, x.to(dtype), y, batch, steps, lr, momentum, set(range(1, steps + 1)))
    return snaps, losses


def routing(name, init, x):
    """(maxpool windows with different argmax, relu inputs with different sign, totals) f32 vs f64."""
    records = {}

    def run(dtype):
        m = zoo.make(name, 10, dropout=False)
        m.load_state_dict(init, strict=True)
        m = m.to(dtype).train()
        out = {"pool": [], "relu": []}
        hooks = []
        for mod in m.modules():
            if isinstance(mod, nn.MaxPool2d):
                hooks.append(mod.register_forward_hook(
                    lambda mod, inp, o: out["pool"].append(
                        F.max_pool2d(inp[0], mod.kernel_size, mod.stride, mod.padding, return_indices=True)[1])))
            if isinstance(mod, nn.ReLU):
                hooks.append(mod.register_forward_hook(lambda mod, inp, o: out["relu"].append(inp[0] > 0)))
        with torch.no_grad():
            m(x.to(dtype))
        for h in hooks:
            h.remove()
        return out

    a, b = run(torch.float32), run(torch.float64)
    for kind in ("pool", "relu"):
        diff = sum(int((p != q).sum()) for p, q in zip(a[kind], b[kind]))
        total = sum(p.numel() for p in a[kind])
        records[kind] = (diff, total)
    return records


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--workdir", default="/tmp/metaloss_agree")
    ap.add_argument("--batch", type=int, default=0, help="default: 128 (Fashion-MNIST) / 32 (CIFAR)")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--top", type=int, default=12, help="tensors listed per table")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    name, N = args.model, args.steps
    cifar = name in A.CIFAR_MODELS
    batch = args.batch or (32 if cifar else 128)
    wd = os.path.join(args.workdir, name)
    init = st.load(os.path.join(wd, "init.safetensors"))
    ml = {s: st.load(os.path.join(wd, f"s{s}.safetensors")) for s in (1, N)}
    x, y = A.read_cifar(os.path.join(args.workdir, "cifar10"), batch * N) if cifar else A.fashion_mnist(batch * N)

    t32, l32 = train(name, init, x, y, batch, N, args.lr, args.momentum, torch.float32)
    t64, l64 = train(name, init, x, y, batch, N, args.lr, args.momentum, torch.float64)
    noise = A.pre_bn_biases(zoo.make(name, 10))
    floats = [k for k, v in init.items() if v.is_floating_point() and k not in noise]
    if noise:
        print(f"(left out below: {len(noise)} conv biases that feed BatchNorm, exact gradient 0: "
              f"{', '.join(sorted(noise, key=lambda k: int(k.split('.')[0])))})")

    bns = sorted({k[:-len(".running_mean")] for k in init if k.endswith(".running_mean")},
                 key=lambda k: [int(p) if p.isdigit() else p for p in k.split(".")])
    if bns:
        print(f"\n== {name}: forward, layer by layer: batch statistics of step 1's batch from the BatchNorm buffers")
        print("   mean = running_mean_1 / 0.1 - 9 running_mean_0, var = (running_var_1 - 0.9 running_var_0) / 0.1 (unbiased)")
        print(f"{'layer':20s} {'max|mean64|':>11s} {'mean ml/t32':>11s} {'mean ml/t64':>11s} {'mean t32/t64':>12s} "
              f"{'var ml/t32':>10s} {'var ml/t64':>10s} {'var t32/t64':>11s}")
        for b in bns:
            def stats(sd):
                m = sd[1][b + ".running_mean"].double() / 0.1 - 9 * init[b + ".running_mean"].double()
                v = (sd[1][b + ".running_var"].double() - 0.9 * init[b + ".running_var"].double()) / 0.1
                return m, v
            (mm, mv), (am, av), (dm, dv) = stats(ml), stats(t32), stats(t64)
            print(f"{b:20s} {dm.abs().max().item():11.3e} {rel(mm, am):11.3e} {rel(mm, dm):11.3e} {rel(am, dm):12.3e} "
                  f"{rel(mv, av):10.3e} {rel(mv, dv):10.3e} {rel(av, dv):11.3e}")

    for s in (1, N):
        rows = [(k, t64[s][k].abs().max().item(), rel(ml[s][k], t32[s][k]), rel(ml[s][k], t64[s][k]),
                 rel(t32[s][k], t64[s][k])) for k in floats]
        rows.sort(key=lambda r: -r[2])
        print(f"\n== {name}: state after {s} step(s), max rel diff per tensor (worst {args.top} by metaloss vs torch32)")
        print(f"{'tensor':28s} {'max|torch64|':>12s} {'ml vs t32':>10s} {'ml vs t64':>10s} {'t32 vs t64':>10s}")
        for k, scale, a, b, c in rows[:args.top]:
            print(f"{k:28s} {scale:12.3e} {a:10.3e} {b:10.3e} {c:10.3e}")
        wa, wb, wc = (max(rows, key=lambda r: r[i]) for i in (2, 3, 4))
        print(f"{'worst':28s} {'':12s} {wa[2]:10.3e} {wb[3]:10.3e} {wc[4]:10.3e}   "
              f"({wa[0]}, {wb[0]}, {wc[0]})")

    print(f"\n== {name}: first-step gradient g = (init - s1) / lr, max|diff| / max|g64| per tensor")
    print(f"{'tensor':28s} {'max|g64|':>12s} {'ml vs t32':>10s} {'ml vs t64':>10s} {'t32 vs t64':>10s}")
    grows = []
    for k, p in init.items():
        if not p.is_floating_point() or "running_" in k or k in noise:
            continue
        g = {w: (init[k].double() - sd[1][k].double()) / args.lr for w, sd in (("ml", ml), ("t32", t32), ("t64", t64))}
        grows.append((k, g["t64"].abs().max().item(), rel(g["ml"], g["t32"]), rel(g["ml"], g["t64"]),
                      rel(g["t32"], g["t64"])))
    grows.sort(key=lambda r: -r[2])
    for k, scale, a, b, c in grows[:args.top]:
        print(f"{k:28s} {scale:12.3e} {a:10.3e} {b:10.3e} {c:10.3e}")

    print("\n== losses per step (metaloss from its metrics file, if there)")
    met = os.path.join(wd, f"s{N}.metrics.jsonl")
    lml = A.metrics_losses(met) if os.path.exists(met) else []
    for i in range(N):
        mlv = f"{lml[i]:.10g}" if i < len(lml) else "-"
        print(f"  step {i + 1:>2}: metaloss {mlv:>14s}  torch32 {l32[i]:.10g}  torch64 {l64[i]:.12g}")

    print("\n== sensitivity: float64 torch from init * (1 + 1e-7 N(0,1)) vs float64 torch from init")
    p64, _ = train(name, init, x, y, batch, N, args.lr, args.momentum, torch.float64, eps=1e-7)
    for s in range(1, N + 1):
        k, v = max(((k, rel(p64[s][k], t64[s][k])) for k in floats), key=lambda r: r[1])
        print(f"  step {s:>2}: worst {v:.3e} ({k})")

    r = routing(name, init, x[:batch])
    print("\n== discrete routing, first forward pass, float32 vs float64 torch (same weights, same batch)")
    for kind, label in (("pool", "max-pool windows with a different argmax"), ("relu", "ReLU inputs with a different sign")):
        d, t = r[kind]
        print(f"  {label}: {d} of {t}")


if __name__ == "__main__":
    main()
