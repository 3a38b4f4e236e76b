#!/usr/bin/env python3
"""PyTorch's gradients at the non-differentiable points and flat regions metaloss pins in
tests/test_autograd.cpp ("flat regions stop an infinite incoming gradient" and "non-differentiable
points use fixed conventions"). Run with a PyTorch 2.x (the bench venv):
    bench/.venv/bin/python bench/compare/check_nondiff_points.py
and compare with the doctest's expected vectors; the output of the last run is in
bench/compare/nondiff_points_results.txt."""
import torch

torch.set_num_threads(1)
f64 = torch.float64


def grad(f, xs):
    x = torch.tensor(xs, dtype=f64, requires_grad=True)
    f(x).sum().backward()
    return [round(v, 6) for v in x.grad.tolist()]


zeros = lambda x: torch.zeros_like(x).detach()
cases = [
    ("sqrt(relu(x))", [-1, 0, 4, 9], lambda x: torch.sqrt(torch.relu(x))),
    ("log(relu(x))", [-1, 0, 4, 9], lambda x: torch.log(torch.relu(x))),
    ("sqrt(clamp(x, 0, 5))", [-1, 4, 9], lambda x: torch.sqrt(torch.clamp(x, 0, 5))),
    ("sqrt(maximum(x, 0))", [-1, 4, 9], lambda x: torch.sqrt(torch.maximum(x, zeros(x)))),
    ("sqrt(-minimum(x, 0))", [-1, 4, 9], lambda x: torch.sqrt(-torch.minimum(x, zeros(x)))),
    ("clamp(x, -0.5, 0.7)", [-0.5, 0, 0.7, 1], lambda x: torch.clamp(x, -0.5, 0.7)),
    ("relu(x)", [-1, 0, 2], torch.relu),
    ("abs(x)", [-1, 0, 2], torch.abs),
    ("amax(x)", [3, 1, 3, 2], lambda x: torch.amax(x)),
]
print(f"torch {torch.__version__}")
for name, xs, f in cases:
    print(f"{name:24s} at {xs}: {grad(f, xs)}")
a = torch.tensor([1.0, 2, 3], dtype=f64, requires_grad=True)
b = torch.tensor([1.0, 5, 0], dtype=f64, requires_grad=True)
torch.maximum(a, b).sum().backward()
print(f"{'maximum(a, b) ties':24s} a [1,2,3] b [1,5,0]: da {a.grad.tolist()} db {b.grad.tolist()}")
