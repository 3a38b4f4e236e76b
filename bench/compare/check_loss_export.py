#!/usr/bin/env python3
"""The PyTorch export of learned-loss files against the engine (issue 20): for each file, the
function `metaloss loss export FILE --format pytorch` writes is executed with torch, on the random
float64 inputs of `metaloss loss eval FILE`, and its value and autograd gradient are compared with
the engine's. Usage (the bench venv's PyTorch 2.x, one thread):
    bench/.venv/bin/python bench/compare/check_loss_export.py build/release/metaloss FILE...
bench/compare/check_loss_export.sh makes one file of every kind and runs this on them."""
import json
import subprocess
import sys

import torch

torch.set_num_threads(1)
binary, files = sys.argv[1], sys.argv[2:]
worst = 0.0
for path in files:
    code = subprocess.run([binary, "loss", "export", path, "--format", "pytorch", "--name", "exported"],
                          check=True, capture_output=True, text=True).stdout
    env = {}
    exec(code, env)
    ev = json.loads(subprocess.run([binary, "loss", "eval", path, "--batch", "6", "--classes", "5", "--seed", "3"],
                                   check=True, capture_output=True, text=True).stdout)
    b, c = ev["batch"], ev["classes"]
    out = torch.tensor(ev["output"], dtype=torch.float64).reshape(b, c).requires_grad_(True)
    if ev["task"] == "regression":
        target = torch.tensor(ev["target"], dtype=torch.float64).reshape(b, c)
    else:
        target = torch.tensor(ev["target"], dtype=torch.float64).long()
    value = env["exported"](out, target)
    value.backward()
    dv = abs(value.item() - ev["value"]) / max(1.0, abs(ev["value"]))
    dg = (out.grad.reshape(-1) - torch.tensor(ev["grad"], dtype=torch.float64)).abs().max().item()
    worst = max(worst, dv, dg)
    print(f"{path}: value {value.item():.17g} (engine {ev['value']:.17g}, rel. diff {dv:.2e}), "
          f"max |grad diff| {dg:.2e}")
print(f"torch {torch.__version__}: worst difference {worst:.2e}")
sys.exit(0 if worst < 1e-10 else 1)
