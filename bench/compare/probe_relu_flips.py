#!/usr/bin/env python3
"""Is a first-step gradient difference a ReLU routing flip? Runs after agree_pytorch.py (reads its
--workdir). Recomputes the first step's gradient in float64 PyTorch, with relu'(x) flipped at chosen
elements whose input is within float32 rounding of 0, and compares it with metaloss's gradient
g = (init - s1) / lr (the first momentum step is plain SGD).

  /usr/bin/python3 probe_relu_flips.py resnet18                         # candidates in the last 2 ReLUs
  /usr/bin/python3 probe_relu_flips.py resnet18 --flips 16:105995,12:311317

ReLU calls are numbered in forward order (nn.ReLU and torch.relu alike); an element index is into
the flattened input of that call. Distances: max over tensors of max|a - b| / max|b| (pre-BN conv
biases left out).
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agree_pytorch as A  # noqa: E402
import safetensors_io as st  # noqa: E402
import zoo  # noqa: E402

_relu = torch.relu
_state = {"rec": None, "flips": [], "i": 0}


def _patched_relu(t):
    i = _state["i"]
    _state["i"] += 1
    if _state["rec"] is not None:
        _state["rec"].append(t.detach().clone())
    js = [j for ii, j in _state["flips"] if ii == i]
    if not js:
        return _relu(t)
    mask = (t > 0).to(t.dtype).reshape(-1).clone()
    for j in js:
        mask[j] = 1 - mask[j]
    return t * mask.reshape(t.shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--workdir", default="/tmp/metaloss_agree")
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--flips", default="", help="CALL:ELEM,... to flip together")
    ap.add_argument("--candidates", type=int, default=5, help="without --flips: try this many per ReLU call")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.relu = _patched_relu
    F.relu = lambda t, inplace=False: _patched_relu(t)

    name = args.model
    cifar = name in A.CIFAR_MODELS
    batch = args.batch or (32 if cifar else 128)
    wd = os.path.join(args.workdir, name)
    init, s1 = st.load(os.path.join(wd, "init.safetensors")), st.load(os.path.join(wd, "s1.safetensors"))
    x, y = A.read_cifar(os.path.join(args.workdir, "cifar10"), batch) if cifar else A.fashion_mnist(batch)
    noise = A.pre_bn_biases(zoo.make(name, 10))
    g_ml = {k: (init[k].double() - s1[k].double()) / args.lr for k in init
            if init[k].is_floating_point() and "running_" not in k and k not in noise}

    def grads(dtype, flips=(), record=False):
        m = zoo.make(name, 10, dropout=False)
        m.load_state_dict(init, strict=True)
        m = m.to(dtype).train()
        _state.update(rec=[] if record else None, flips=list(flips), i=0)
        F.cross_entropy(m(x.to(dtype)), y).backward()
        g = dict(m.named_parameters())
        return {k: g[k].grad.double() for k in g_ml}, _state["rec"]

    def dist(a, b):
        return max(((k, ((a[k] - b[k]).abs().max() / (b[k].abs().max() + 1e-30)).item()) for k in b),
                   key=lambda r: r[1])

    g64, rec = grads(torch.float64, record=True)
    g32, _ = grads(torch.float32)
    print(f"{name}: {len(rec)} ReLU calls; first-step gradient distances (worst tensor)")
    print(f"  metaloss vs float64: {dist(g_ml, g64)}")
    print(f"  torch32  vs float64: {dist(g32, g64)}")
    if args.flips:
        flips = [tuple(int(v) for v in f.split(":")) for f in args.flips.split(",")]
        for i, j in flips:
            t = rec[i].reshape(-1)
            print(f"  call {i} elem {j}: x = {t[j].item():+.3e} (|x| / max|x| of the call {abs(t[j].item()) / t.abs().max().item():.1e})")
        gf, _ = grads(torch.float64, flips)
        print(f"  metaloss vs float64 with those flipped: {dist(g_ml, gf)}")
        print(f"  torch32  vs float64 with those flipped: {dist(g32, gf)}")
        return
    for i in (len(rec) - 1, len(rec) - 2):
        t = rec[i].reshape(-1)
        r = t.abs() / t.abs().max()
        for j in torch.argsort(r)[:args.candidates].tolist():
            gf, _ = grads(torch.float64, [(i, j)])
            print(f"  flip call {i} elem {j} x={t[j].item():+.3e} (|x|/max {r[j].item():.1e}): "
                  f"metaloss vs f64+flip {dist(g_ml, gf)}, torch32 vs f64+flip {dist(g32, gf)}")


if __name__ == "__main__":
    main()
