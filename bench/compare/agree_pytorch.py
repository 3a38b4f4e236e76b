#!/usr/bin/env python3
"""Step-for-step agreement of `metaloss train` with PyTorch for every model of the zoo.

For each model: `metaloss train --steps 0 --save init.safetensors` gives the initial weights; metaloss
then trains 1 and 10 steps of SGD with momentum from them (--init), and the PyTorch twin
(bench/compare/zoo.py) loads the same file (load_state_dict strict) and runs the same steps on the
same batches. With --val-fraction 0 --shuffle off --normalize off --dropout off, batch k is examples
[kB, (k+1)B) of the training files in file order, images uint8 * (1/255) as float32 [N, C, H, W],
labels int64; PyTorch runs in train() mode (BatchNorm with batch statistics, dropout p = 0), loss =
cross entropy (mean), torch.optim.SGD(lr, momentum).

Every parameter and buffer is compared:
    max rel diff = max|metaloss - torch| / (max|torch| + 1e-12), per tensor
(num_batches_tracked must be equal exactly); a model passes when the worst tensor is <= 1e-4.

The reverse direction is checked too (--reverse models): a twin initialised by PyTorch
(torch.manual_seed(0), nn defaults) is saved with safetensors_io.save, loaded by
`metaloss train --init`, and one step is compared the same way.

Informational columns (not part of the pass/fail): the same measure without conv biases that feed
BatchNorm (their exact gradient is 0, so after training they hold rounding noise in any float
format), and metaloss / PyTorch float32 each against PyTorch float64 from the same init on the same
batches (--no-float64 skips these runs). diag_agree.py and probe_relu_flips.py dig into a model that
misses the bound.

28x28 models train on Fashion-MNIST (Debian's dataset-fashion-mnist); CIFAR models on a small
CIFAR-10-format folder of random bytes and labels written here (fixed seed).

Run with Debian's torch:  /usr/bin/python3 agree_pytorch.py --metaloss build/cmp/metaloss
(or bench/compare/run_agree.sh, which builds the binary first).
"""
import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
import zoo  # noqa: E402

BOUND = 1e-4
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
CIFAR_MODELS = {"allcnn_c", "alexnet", "vgg16", "resnet18"}
INV255 = torch.tensor(1.0 / 255.0, dtype=torch.float32)  # metaloss: float(byte) * (1.0f / 255.0f)


# ---------------------------------------------------------------------------------------- data
def read_idx_prefix(path, count):
    """The first `count` records of an IDX file (plain or gzip) as a uint8 tensor."""
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        magic = f.read(4)
        ndim = magic[3]
        dims = [int.from_bytes(f.read(4), "big") for _ in range(ndim)]
        count = min(count, dims[0])
        per = 1
        for d in dims[1:]:
            per *= d
        raw = f.read(count * per)
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape([count] + dims[1:])


def fashion_mnist(count):
    def find(stem):
        for suffix in ("", ".gz"):
            p = os.path.join(FMNIST_DIR, stem + suffix)
            if os.path.exists(p):
                return p
        raise FileNotFoundError(f"{FMNIST_DIR}/{stem}[.gz]")
    x = read_idx_prefix(find("train-images-idx3-ubyte"), count)
    y = read_idx_prefix(find("train-labels-idx1-ubyte"), count)
    return x.unsqueeze(1).to(torch.float32) * INV255, y.to(torch.int64)


def write_cifar(folder, train_records, test_records, seed=1234):
    """A CIFAR-10 binary folder of random images and labels (data_batch_1..5.bin, test_batch.bin)."""
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(seed)
    per = [train_records // 5 + (1 if i < train_records % 5 else 0) for i in range(5)]
    names = [f"data_batch_{i + 1}.bin" for i in range(5)] + ["test_batch.bin"]
    for name, n in zip(names, per + [test_records]):
        buf = bytearray()
        for _ in range(n):
            buf.append(rng.randrange(10))
            buf += rng.randbytes(3072)
        with open(os.path.join(folder, name), "wb") as f:
            f.write(bytes(buf))


def read_cifar(folder, count):
    raw = b"".join(open(os.path.join(folder, f"data_batch_{i}.bin"), "rb").read() for i in range(1, 6))
    rec = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(-1, 3073)[:count]
    return rec[:, 1:].reshape(-1, 3, 32, 32).to(torch.float32) * INV255, rec[:, 0].to(torch.int64)


# ------------------------------------------------------------------------------------ metaloss
def metaloss_train(args, model, data_args, batch, extra, log):
    cmd = [args.metaloss, "train", "--model", model, *data_args, "--val-fraction", "0", "--normalize", "off",
           "--dropout", "off", "--shuffle", "off", "--threads", str(args.threads), "--seed", "0",
           "--optimizer", "sgd", "--lr", str(args.lr), "--momentum", str(args.momentum), "--batch-size", str(batch),
           *extra]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    secs = time.time() - t0
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + f"\n{r.stdout}{r.stderr}[exit {r.returncode}, {secs:.1f} s]\n")
    if r.returncode != 0:
        raise RuntimeError(f"metaloss failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    return secs


def metaloss_steps(args, name, data_args, batch, init, steps, wd, log, extra=()):
    """metaloss trains `s` steps from `init` for each s in steps; returns ({s: seconds},
    {s: (state dict, [loss per step])})."""
    secs, res = {}, {}
    for s in steps:
        out = os.path.join(wd, f"s{s}.safetensors")
        met = os.path.join(wd, f"s{s}.metrics.jsonl")
        if os.path.exists(met):
            os.unlink(met)
        secs[s] = metaloss_train(args, name, data_args, batch,
                                 ["--init", init, *extra, "--steps", str(s), "--save", out, "--metrics", met,
                                  "--log-every", "1"], log)
        res[s] = (safetensors_io.load(out), metrics_losses(met))
    return secs, res


def metrics_losses(path):
    out = []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            if "loss" in rec and "step" in rec:
                out.append(rec["loss"])
    return out


# ------------------------------------------------------------------------------------- compare
def compare(ours, ref):
    """[(name, rel diff)] for every entry of ref (torch); inf where shapes/dtypes/names disagree."""
    rows = []
    if set(ours) != set(ref):
        for k in sorted(set(ours) ^ set(ref)):
            rows.append((k + (" (metaloss only)" if k in ours else " (torch only)"), float("inf")))
    for k, b in ref.items():
        if k not in ours:
            continue
        a = ours[k]
        if a.shape != b.shape or a.dtype != b.dtype:
            rows.append((k + f" shape/dtype {tuple(a.shape)} {a.dtype} vs {tuple(b.shape)} {b.dtype}", float("inf")))
        elif not b.is_floating_point():
            rows.append((k, 0.0 if torch.equal(a, b) else float("inf")))
        else:
            d = (a.double() - b.double()).abs().max().item() if b.numel() else 0.0
            rows.append((k, d / (b.double().abs().max().item() + 1e-12) if b.numel() else 0.0))
    return rows


def worst(rows, skip=()):
    rows = [r for r in rows if r[0] not in skip]
    return max(rows, key=lambda r: r[1]) if rows else ("-", 0.0)


def as_double(sd):
    return {k: v.double() if v.is_floating_point() else v for k, v in sd.items()}


def pre_bn_biases(model):
    """Names of conv biases directly followed by BatchNorm: their exact gradient is 0 (BN removes any
    per-channel constant), so after training their values are rounding noise in any float format."""
    out = set()
    for prefix, mod in model.named_modules():
        if isinstance(mod, torch.nn.Sequential):
            kids = list(mod.named_children())
            for (n, a), (_, b) in zip(kids, kids[1:]):
                if isinstance(a, torch.nn.Conv2d) and a.bias is not None and isinstance(b, torch.nn.BatchNorm2d):
                    out.add((prefix + "." if prefix else "") + n + ".bias")
    return out


# ----------------------------------------------------------------------------------------- run
def torch_train(model, x, y, batch, steps, lr, momentum, snapshot_at=()):
    """Trains in place; returns ({step: state_dict copy}, [loss per step])."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    snaps, losses = {}, []
    n = x.shape[0]
    per_epoch = (n + batch - 1) // batch
    for step in range(steps):
        b = step % per_epoch
        xb, yb = x[b * batch:(b + 1) * batch], y[b * batch:(b + 1) * batch]
        loss = F.cross_entropy(model(xb), yb)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step + 1 in snapshot_at:
            snaps[step + 1] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return snaps, losses


def run_model(args, name, cifar_dir, results):
    is_cifar = name in CIFAR_MODELS
    batch = args.batch_cifar if is_cifar else args.batch
    data_args = ["--dataset", "cifar10", "--data-dir", cifar_dir] if is_cifar else []
    steps = sorted(args.steps)
    need = batch * max(steps)
    x, y = read_cifar(cifar_dir, need) if is_cifar else fashion_mnist(need)
    wd = os.path.join(args.workdir, name)
    os.makedirs(wd, exist_ok=True)
    log = os.path.join(wd, "metaloss.log")
    open(log, "w").close()
    init = os.path.join(wd, "init.safetensors")

    metaloss_train(args, name, data_args, batch, ["--steps", "0", "--save", init], log)
    ml_secs, ml = metaloss_steps(args, name, data_args, batch, init, steps, wd, log)

    model = zoo.make(name, classes=10, dropout=False)
    model.load_state_dict(safetensors_io.load(init), strict=True)  # metaloss -> torch, strict
    t0 = time.time()
    snaps, losses = torch_train(model, x, y, batch, max(steps), args.lr, args.momentum, snapshot_at=set(steps))
    t_secs = time.time() - t0
    noise = pre_bn_biases(model)
    snaps64 = None
    if args.float64:
        m64 = zoo.make(name, classes=10, dropout=False)
        m64.load_state_dict(safetensors_io.load(init), strict=True)
        snaps64, _ = torch_train(m64.double(), x.double(), y, batch, max(steps), args.lr, args.momentum,
                                 snapshot_at=set(steps))
        del m64
    for s in steps:
        rows = compare(ml[s][0], snaps[s])
        wname, wval = worst(rows)
        ml_loss = ml[s][1]
        loss_rel = max(abs(a - b) / abs(b) for a, b in zip(ml_loss, losses[:s])) if len(ml_loss) == s else float("inf")
        r = dict(model=name, direction="metaloss init", batch=batch, steps=s, worst=wname, rel=wval,
                 loss_rel=loss_rel, ml_secs=ml_secs[s], torch_secs=t_secs, ok=wval <= BOUND,
                 rel_nb=worst(rows, noise)[1] if noise else None)
        if snaps64 is not None:
            r["ml64"] = worst(compare(as_double(ml[s][0]), snaps64[s]), noise)
            r["t3264"] = worst(compare(as_double(snaps[s]), snaps64[s]), noise)
        results.append(r)
        if args.verbose:
            for k, v in sorted(rows, key=lambda r: -r[1])[:5]:
                print(f"    {name} {s:>2} steps  {k:32s} {v:.3e}", flush=True)

    if name in args.reverse:
        torch.manual_seed(0)
        twin = zoo.make(name, classes=10, dropout=False)  # torch's own default initialisation
        tinit = os.path.join(wd, "torch_init.safetensors")
        safetensors_io.save(tinit, twin.state_dict(), {"writer": "agree_pytorch.py"})
        out = os.path.join(wd, "torch_init_s1.safetensors")
        met = os.path.join(wd, "torch_init_s1.metrics.jsonl")
        if os.path.exists(met):
            os.unlink(met)
        secs = metaloss_train(args, name, data_args, batch,
                              ["--init", tinit, "--steps", "1", "--save", out, "--metrics", met, "--log-every", "1"], log)
        t0 = time.time()
        snaps, losses = torch_train(twin, x, y, batch, 1, args.lr, args.momentum, snapshot_at={1})
        rows = compare(safetensors_io.load(out), snaps[1])
        wname, wval = worst(rows)
        ml_loss = metrics_losses(met)
        loss_rel = abs(ml_loss[0] - losses[0]) / abs(losses[0]) if ml_loss else float("inf")
        results.append(dict(model=name, direction="torch init", batch=batch, steps=1, worst=wname, rel=wval,
                            loss_rel=loss_rel, ml_secs=secs, torch_secs=time.time() - t0, ok=wval <= BOUND))


def run_model_f64(args, name, cifar_dir, results):
    """The float64 check: PyTorch's own default initialisation (non-zero biases, so no tensor is pure
    rounding noise), saved as float32, loaded by both sides and converted to float64 (metaloss
    `--dtype float64`, PyTorch .double()); then 1 and 10 steps on the same batches as above."""
    is_cifar = name in CIFAR_MODELS
    batch = args.batch_cifar if is_cifar else args.batch
    data_args = ["--dataset", "cifar10", "--data-dir", cifar_dir] if is_cifar else []
    steps = sorted(args.steps)
    x, y = read_cifar(cifar_dir, batch * max(steps)) if is_cifar else fashion_mnist(batch * max(steps))
    wd = os.path.join(args.workdir, name + "_f64")
    os.makedirs(wd, exist_ok=True)
    log = os.path.join(wd, "metaloss.log")
    open(log, "w").close()
    torch.manual_seed(0)
    twin = zoo.make(name, classes=10, dropout=False)
    tinit = os.path.join(wd, "torch_init.safetensors")
    safetensors_io.save(tinit, twin.state_dict(), {"writer": "agree_pytorch.py"})
    ml_secs, ml = metaloss_steps(args, name, data_args, batch, tinit, steps, wd, log, ["--dtype", "float64"])
    t0 = time.time()
    snaps, losses = torch_train(twin.double(), x.double(), y, batch, max(steps), args.lr, args.momentum,
                                snapshot_at=set(steps))
    t_secs = time.time() - t0
    for s in steps:
        rows = compare(ml[s][0], snaps[s])
        wname, wval = worst(rows)
        ml_loss = ml[s][1]
        loss_rel = max(abs(a - b) / abs(b) for a, b in zip(ml_loss, losses[:s])) if len(ml_loss) == s else float("inf")
        results.append(dict(model=name, direction="torch init f64", batch=batch, steps=s, worst=wname, rel=wval,
                            loss_rel=loss_rel, ml_secs=ml_secs[s], torch_secs=t_secs, ok=wval <= BOUND))
        if args.verbose:
            for k, v in sorted(rows, key=lambda r: -r[1])[:5]:
                print(f"    {name} f64 {s:>2} steps  {k:32s} {v:.3e}", flush=True)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metaloss", default=os.path.join(here, "..", "..", "build", "cmp", "metaloss"))
    ap.add_argument("--workdir", default="/tmp/metaloss_agree")
    ap.add_argument("--models", default=",".join(zoo.NAMES))
    ap.add_argument("--reverse", default="logistic,mlp,lenet5,conv4",
                    help="models also checked torch-init -> metaloss (1 step)")
    ap.add_argument("--steps", default="1,10")
    ap.add_argument("--batch", type=int, default=128, help="batch size, 28x28 (Fashion-MNIST) models")
    ap.add_argument("--batch-cifar", type=int, default=32, help="batch size, CIFAR models")
    ap.add_argument("--cifar-train", type=int, default=1280, help="random CIFAR-format training records")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verbose", action="store_true", help="print the 5 worst tensors of each run")
    ap.add_argument("--no-float64", dest="float64", action="store_false",
                    help="skip the float64 PyTorch reference (informational columns)")
    ap.add_argument("--dtype", default="float32,float64",
                    help="which checks: float32 (metaloss init and torch init, float32 on both sides) and/or "
                         "float64 (torch init, float64 on both sides)")
    args = ap.parse_args()
    args.dtypes = set(filter(None, args.dtype.split(",")))
    args.steps = [int(s) for s in args.steps.split(",")]
    args.reverse = set(filter(None, args.reverse.split(",")))
    models = [m for m in args.models.split(",") if m]
    torch.set_num_threads(args.threads)
    os.makedirs(args.workdir, exist_ok=True)
    cifar_dir = os.path.join(args.workdir, "cifar10")
    if any(m in CIFAR_MODELS for m in models):
        write_cifar(cifar_dir, args.cifar_train, 64)

    print(f"metaloss {os.path.abspath(args.metaloss)} vs torch {torch.__version__} ({args.threads} threads); "
          f"SGD lr {args.lr} momentum {args.momentum}; batch {args.batch} (Fashion-MNIST) / {args.batch_cifar} "
          f"(random CIFAR-10-format, {args.cifar_train} records)")
    print("max rel diff = max|metaloss - torch| / (max|torch| + 1e-12) per tensor, over every parameter and buffer "
          f"(num_batches_tracked exactly); pass: worst tensor <= {BOUND:g}")
    print("loss rel = max over steps of |loss_metaloss - loss_torch| / |loss_torch| (metaloss loss to 10 digits)\n",
          flush=True)
    results = []
    failed = []
    for m in models:
        try:
            if "float32" in args.dtypes:
                run_model(args, m, cifar_dir, results)
            if "float64" in args.dtypes:
                run_model_f64(args, m, cifar_dir, results)
        except Exception as e:  # report and go on with the other models
            failed.append(m)
            print(f"{m}: ERROR {e}", flush=True)
        for r in results:
            if r["model"] == m:
                print(f"  {m:9s} {r['direction']:14s} steps {r['steps']:>2}: {r['rel']:.3e} ({r['worst']}) "
                      f"metaloss {r['ml_secs']:.1f}s torch {r['torch_secs']:.1f}s", flush=True)

    hdr = (f"{'model':9s} | {'init':14s} | {'batch':>5s} | {'steps':>5s} | {'worst tensor':24s} | {'max rel diff':>12s} "
           f"| pass (<= 1e-4) | {'loss rel':>8s} | {'ex pre-BN b':>11s} | {'ml vs t64':>9s} | {'t32 vs t64':>10s}")
    print("\n" + hdr + "\n" + "-" * len(hdr))

    def opt(v, w=9):
        return f"{v:{w}.2e}" if v is not None else f"{'-':>{w}s}"
    for r in results:
        print(f"{r['model']:9s} | {r['direction']:14s} | {r['batch']:>5d} | {r['steps']:>5d} | {r['worst']:24s} | "
              f"{r['rel']:12.3e} | {'PASS' if r['ok'] else 'FAIL':14s} | {r['loss_rel']:8.2e} | {opt(r.get('rel_nb'), 11)} | "
              f"{opt(r['ml64'][1] if 'ml64' in r else None)} | {opt(r['t3264'][1] if 't3264' in r else None, 10)}")
    print("\ncolumns: max rel diff / pass = metaloss vs PyTorch float32 over every tensor (the acceptance test); "
          "loss rel = per-step loss;\n  informational: ex pre-BN b = the same without conv biases that feed BatchNorm "
          "(exact gradient 0, values are rounding noise);\n  ml vs t64, t32 vs t64 = metaloss and PyTorch float32 vs "
          "PyTorch float64 from the same init and batches (without pre-BN conv biases)")
    bad = [r for r in results if not r["ok"]]
    print(f"\n{len(results) - len(bad)}/{len(results)} pass" + (f"; errors: {', '.join(failed)}" if failed else ""))
    return 1 if bad or failed else 0


if __name__ == "__main__":
    sys.exit(main())
