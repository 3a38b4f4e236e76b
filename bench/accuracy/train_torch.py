#!/usr/bin/env python3
"""The PyTorch side of the Fashion-MNIST accuracy comparison: the same recipe as
`metaloss train --val-fraction 0 ...` on the twin of a zoo model (bench/compare/zoo.py).

  data      Fashion-MNIST (Debian's dataset-fashion-mnist), uint8 * (1/255) as float32 [N, 1, 28, 28];
            all 60000 training images (no validation split, as --val-fraction 0), standardised with the
            training set's population mean and std (one channel), the test set with the same numbers
  init      the zoo's scheme: Xavier-uniform weights, zero biases (logistic, mlp, lenet5)
  training  SGD with momentum, cross entropy (mean), a fresh random order every epoch, last batch
            smaller (not dropped); train() mode
  eval      test accuracy in eval() mode, prediction = first maximum of the logits

Prints one JSON line: model, seed, library, epochs, steps, test_acc, train_seconds, seconds.
Run with Debian's torch:  /usr/bin/python3 train_torch.py --model lenet5 --seed 0 --epochs 10
"""
import argparse
import gzip
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compare"))
import zoo  # noqa: E402

FMNIST_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(stem):
    for suffix in ("", ".gz"):
        path = os.path.join(FMNIST_DIR, stem + suffix)
        if os.path.exists(path):
            break
    else:
        raise FileNotFoundError(f"{FMNIST_DIR}/{stem}[.gz]")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def load():
    inv = torch.tensor(1.0 / 255.0, dtype=torch.float32)
    xtr = read_idx("train-images-idx3-ubyte").unsqueeze(1).to(torch.float32) * inv
    ytr = read_idx("train-labels-idx1-ubyte").to(torch.int64)
    xte = read_idx("t10k-images-idx3-ubyte").unsqueeze(1).to(torch.float32) * inv
    yte = read_idx("t10k-labels-idx1-ubyte").to(torch.int64)
    x64 = xtr.double()
    mean, std = x64.mean().item(), x64.std(unbiased=False).item()  # population statistics, float64
    return (xtr - mean) / std, ytr, (xte - mean) / std, yte


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lenet5", choices=["logistic", "mlp", "lenet5"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr-schedule", default="none", choices=["none", "cosine"],
                    help="cosine: CosineAnnealingLR to 0 over all steps, stepped after every batch (as metaloss)")
    ap.add_argument("--log-epochs", action="store_true", help="also print test accuracy after every epoch (stderr)")
    args = ap.parse_args()
    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    xtr, ytr, xte, yte = load()
    model = zoo.init_like_metaloss(zoo.make(args.model, classes=10), args.model, generator=gen)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    n, B = xtr.shape[0], args.batch_size
    total_steps = args.epochs * ((n + B - 1) // B)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps) if args.lr_schedule == "cosine" else None
    steps = 0
    t0 = time.time()
    def test_accuracy():
        model.eval()
        correct = 0
        with torch.no_grad():
            for lo in range(0, xte.shape[0], 1000):
                correct += int((model(xte[lo:lo + 1000]).argmax(1) == yte[lo:lo + 1000]).sum())
        model.train()
        return correct / xte.shape[0]

    model.train()
    for epoch in range(args.epochs):
        order = torch.randperm(n, generator=gen)
        for lo in range(0, n, B):
            idx = order[lo:lo + B]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            steps += 1
        if not torch.isfinite(loss):
            raise SystemExit(f"diverged: loss {loss.item()}")
        if args.log_epochs:
            print(f"epoch {epoch + 1}: last batch loss {loss.item():.4f}, test accuracy {test_accuracy():.4f}, "
                  f"{time.time() - t0:.1f} s", file=sys.stderr, flush=True)
    train_secs = time.time() - t0  # with --log-epochs this includes the per-epoch evaluations
    acc = test_accuracy()
    print(json.dumps({"model": args.model, "seed": args.seed, "library": "pytorch", "epochs": args.epochs,
                      "steps": steps, "test_acc": acc, "train_seconds": round(train_secs, 2),
                      "seconds": round(time.time() - t_start, 2)}))


if __name__ == "__main__":
    main()
