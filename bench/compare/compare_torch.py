#!/usr/bin/env python3
"""PyTorch side of the side-by-side comparison: the workloads of bench_compare.cpp, op for op.

    /usr/bin/python3 compare_torch.py WORKLOAD [--threads T] [--iters N] [--warmup W] [--device cpu|cuda]

Prints one JSON line like bench_compare. Runs with Debian's python3-torch (1.13) and with PyTorch
2.x from PyPI (bench/.venv). Workloads: train_mlp, train_lenet5, meta_{mlp,lenet5}_{1,5}[_phi],
symbolic (see bench_compare.cpp); "_phi": the meta-gradient with respect to the loss network only
(torch.autograd.grad), as the search runs it, instead of backward() to every leaf.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
try:  # PyTorch 2.x
    from torch.func import functional_call
except ImportError:  # Debian's 1.13
    from torch.nn.utils.stateless import functional_call

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import symbolic_loss  # noqa: E402
import zoo  # noqa: E402

BATCH, CLASSES = 128, 10
DEVICE = torch.device("cpu")  # --device


def make_base(name):
    if name == "mlp":  # 784-1000-500-250-10, nn defaults
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 1000), nn.ReLU(), nn.Linear(1000, 500), nn.ReLU(),
                             nn.Linear(500, 250), nn.ReLU(), nn.Linear(250, CLASSES)).to(DEVICE)
    if name == "lenet5":
        return zoo.make("lenet5", classes=CLASSES).to(DEVICE)
    raise SystemExit(f"unknown base model {name}")


def random_batch():
    return torch.randn(BATCH, 1, 28, 28).to(DEVICE), torch.randint(0, CLASSES, (BATCH,)).to(DEVICE)


class LossNet(nn.Module):
    """ML3: per class (softmax prob, one-hot) -> 2-50-50-1, no biases, ReLU, Softplus; batch mean of class sums."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 50, bias=False), nn.ReLU(), nn.Linear(50, 50, bias=False), nn.ReLU(),
                                 nn.Linear(50, 1, bias=False), nn.Softplus())

    def forward(self, logits, labels):
        f = F.softmax(logits, 1)
        y = F.one_hot(labels, CLASSES).to(logits.dtype)
        pairs = torch.stack([f.reshape(-1), y.reshape(-1)], 1)
        return self.net(pairs).sum() / logits.shape[0]


def make_workload(w):
    if w in ("train_mlp", "train_lenet5"):
        model = make_base(w[6:])
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x, y = random_batch()

        def step():
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step
    for m in ("mlp", "lenet5"):
        for k in (1, 5):
            if w in (f"meta_{m}_{k}", f"meta_{m}_{k}_phi"):
                phi_only = w.endswith("_phi")
                base = make_base(m)
                loss_net = LossNet().to(DEVICE)
                meta_opt = torch.optim.Adam(loss_net.parameters(), lr=1e-3)
                (xs, ys), (xq, yq) = random_batch(), random_batch()
                names = [n for n, _ in base.named_parameters()]

                def step(base=base, loss_net=loss_net, meta_opt=meta_opt, k=k, phi_only=phi_only):
                    theta = [p.detach().requires_grad_(True) for p in base.parameters()]
                    for _ in range(k):
                        inner = loss_net(functional_call(base, dict(zip(names, theta)), (xs,)), ys)
                        g = torch.autograd.grad(inner, theta, create_graph=True)
                        theta = [p - 0.01 * gi for p, gi in zip(theta, g)]
                    outer = F.cross_entropy(functional_call(base, dict(zip(names, theta)), (xq,)), yq)
                    meta_opt.zero_grad()
                    if phi_only:
                        phi = list(loss_net.parameters())
                        for p, g in zip(phi, torch.autograd.grad(outer, phi)):
                            p.grad = g
                    else:
                        outer.backward()
                    meta_opt.step()
                return step
    if w == "symbolic":
        y, f = symbolic_loss.make_inputs()
        f.requires_grad_(True)

        def step():
            torch.autograd.grad(symbolic_loss.expression(y, f).mean(), [f])
        return step
    raise SystemExit(f"unknown workload {w}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    global DEVICE
    DEVICE = torch.device(a.device)
    # Full float32 everywhere, as metaloss computes: no TF32 in cuBLAS or cuDNN.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    sync = torch.cuda.synchronize if DEVICE.type == "cuda" else (lambda: None)
    torch.set_num_threads(a.threads)
    torch.manual_seed(1234)
    run = make_workload(a.workload)
    for _ in range(a.warmup):
        run()
    sync()
    us = []
    r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(a.iters):
        t0 = time.perf_counter()
        run()
        sync()
        us.append((time.perf_counter() - t0) * 1e6)
    r1, w1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    cpu_util = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / (w1 - w0)  # ~1 when held to one core
    us.sort()
    print(json.dumps({"library": "pytorch", "workload": a.workload, "device": a.device, "threads": a.threads, "iters": a.iters,
                      "median_us": round(us[len(us) // 2], 2), "min_us": round(us[0], 2),
                      "p90_us": round(us[len(us) * 9 // 10], 2), "cpu_util": round(cpu_util, 3)}))


if __name__ == "__main__":
    main()
