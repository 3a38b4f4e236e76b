#!/usr/bin/env python3
"""PyTorch twins of metaloss's model zoo (models/zoo.cpp), layer for layer, so that state_dict names,
shapes and order of layers match `metaloss models show NAME` exactly and weights move both ways
through safetensors (bench/compare/safetensors_io.py). Run with Debian's /usr/bin/python3 (torch 1.13).

    make(name, classes=None, dropout=True) -> nn.Module      # torch's default initialisation
    init_like_metaloss(model, name, generator=None)          # the zoo's re-initialisation scheme
    INPUT[name], CLASSES[name]                               # input shape [C, H, W], default classes

Self-check:  /usr/bin/python3 zoo.py [--metaloss BUILD/metaloss]
  prints each twin's parameter count and, with --metaloss, compares every state_dict entry
  (name, shape, dtype, order) with `metaloss models show NAME`.
"""
import re
import subprocess
import sys

import torch
from torch import nn

NAMES = ["logistic", "mlp", "lenet5", "allcnn_c", "alexnet", "vgg16", "resnet18", "conv4"]
INPUT = {"logistic": (1, 28, 28), "mlp": (1, 28, 28), "lenet5": (1, 28, 28), "allcnn_c": (3, 32, 32),
         "alexnet": (3, 32, 32), "vgg16": (3, 32, 32), "resnet18": (3, 32, 32), "conv4": (1, 28, 28)}
CLASSES = {n: 10 for n in NAMES}
CLASSES["conv4"] = 5  # metaloss models show uses the default; training uses the dataset's class count
# The zoo's apply_init: "torch" keeps nn's defaults; the others re-draw every weight of 2+ dims and
# zero every bias (BatchNorm weights keep their ones).
INIT = {"logistic": "xavier", "mlp": "xavier", "lenet5": "xavier", "allcnn_c": "kaiming", "alexnet": "kaiming",
        "vgg16": "torch", "resnet18": "torch", "conv4": "torch"}


def _conv_bn_relu(layers, cin, cout, k, stride, pad, relu=True):
    layers.append(nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=True))
    layers.append(nn.BatchNorm2d(cout))
    if relu:
        layers.append(nn.ReLU())


def logistic(classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(784, classes))


def mlp(classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 1000), nn.ReLU(), nn.Linear(1000, 1000), nn.ReLU(),
                         nn.Linear(1000, classes))


def lenet5(classes):
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(256, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
                         nn.Linear(84, classes))


def allcnn_c(classes, p=0.5):
    L = []
    _conv_bn_relu(L, 3, 96, 3, 1, 1)
    _conv_bn_relu(L, 96, 96, 3, 1, 1)
    _conv_bn_relu(L, 96, 96, 3, 2, 1)
    L.append(nn.Dropout(p))
    _conv_bn_relu(L, 96, 192, 3, 1, 1)
    _conv_bn_relu(L, 192, 192, 3, 1, 1)
    _conv_bn_relu(L, 192, 192, 3, 2, 1)
    L.append(nn.Dropout(p))
    _conv_bn_relu(L, 192, 192, 3, 1, 0)
    _conv_bn_relu(L, 192, 192, 1, 1, 0)
    _conv_bn_relu(L, 192, classes, 1, 1, 0, relu=False)
    L += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*L)


def alexnet(classes):
    def conv(cin, cout, stride):
        return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
    return nn.Sequential(conv(3, 64, 2), nn.ReLU(), nn.MaxPool2d(2), conv(64, 192, 1), nn.ReLU(), nn.MaxPool2d(2),
                         conv(192, 384, 1), nn.ReLU(), conv(384, 256, 1), nn.ReLU(), conv(256, 256, 1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 4096), nn.ReLU(), nn.Linear(4096, 4096),
                         nn.ReLU(), nn.Linear(4096, classes))


def vgg16(classes):
    L, cin = [], 3
    for c in [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]:
        if c == 0:
            L.append(nn.MaxPool2d(2))
        else:
            _conv_bn_relu(L, cin, c, 3, 1, 1)
            cin = c
    L += [nn.Flatten(), nn.Linear(512, classes)]
    return nn.Sequential(*L)


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut (1x1 conv + BN when the shape changes), then ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return torch.relu(h + (self.shortcut(x) if self.shortcut is not None else x))


def resnet18(classes):
    L = [nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for stage in range(4):
        cout = 64 << stage
        for b in range(2):
            L.append(BasicBlock(cin, cout, 2 if (stage > 0 and b == 0) else 1))
            cin = cout
    L += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)]
    return nn.Sequential(*L)


def conv4(classes):
    L, cin = [], 1
    for _ in range(4):
        _conv_bn_relu(L, cin, 64, 3, 1, 1)
        L.append(nn.MaxPool2d(2))
        cin = 64
    L += [nn.Flatten(), nn.Linear(64, classes)]
    return nn.Sequential(*L)


_BUILD = {"logistic": logistic, "mlp": mlp, "lenet5": lenet5, "allcnn_c": allcnn_c, "alexnet": alexnet,
          "vgg16": vgg16, "resnet18": resnet18, "conv4": conv4}


def make(name, classes=None, dropout=True):
    """The twin of zoo model `name` (torch default initialisation). dropout=False sets every
    Dropout's p to 0, as `metaloss train --dropout off`."""
    if name not in _BUILD:
        raise ValueError(f"unknown model {name!r} (known: {', '.join(NAMES)})")
    m = _BUILD[name](classes or CLASSES[name])
    if not dropout:
        for mod in m.modules():
            if isinstance(mod, nn.Dropout):
                mod.p = 0.0
    return m


@torch.no_grad()
def init_like_metaloss(model, name, generator=None):
    """The zoo's scheme (same distributions, not the same draws): Xavier-uniform or Kaiming-normal
    weights for every parameter of 2+ dims, zero biases; nothing for the models that keep torch's
    defaults. Returns the model."""
    how = INIT[name]
    if how == "torch":
        return model
    for pname, t in model.named_parameters():
        if t.dim() < 2:
            if pname.endswith("bias"):
                t.zero_()
            continue
        fan_in = t.shape[1] * (t[0][0].numel() if t.dim() > 2 else 1)
        fan_out = t.shape[0] * (t[0][0].numel() if t.dim() > 2 else 1)
        if how == "xavier":
            bound = (6.0 / (fan_in + fan_out)) ** 0.5
            t.uniform_(-bound, bound, generator=generator)
        else:
            t.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=generator)
    return model


def _metaloss_state(binary, name):
    out = subprocess.run([binary, "models", "show", name], check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"^  (\S+)\s+\[([0-9, ]*)\]\s+(float32|int64)$", line)
        if m:
            shape = tuple(int(d) for d in m.group(2).split(",") if d.strip())
            rows.append((m.group(1), shape, m.group(3)))
    return rows


def _main(argv):
    binary = argv[argv.index("--metaloss") + 1] if "--metaloss" in argv else None
    ok = True
    for name in NAMES:
        m = make(name)
        n = sum(p.numel() for p in m.parameters())
        line = f"{name:10s} {n:>10d} parameters"
        if binary:
            ours = [(k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in m.state_dict().items()]
            theirs = _metaloss_state(binary, name)
            # metaloss lists parameters first, then buffers; compare as sets and per kind in order.
            same = sorted(ours) == sorted(theirs)
            params = [(k, tuple(p.shape)) for k, p in m.named_parameters()]
            same_order = params == [(k, s) for k, s, _ in theirs][:len(params)]
            line += f"  state_dict vs metaloss: {'match' if same and same_order else 'MISMATCH'} ({len(theirs)} entries)"
            if not (same and same_order):
                ok = False
                for row in sorted(set(ours) ^ set(theirs)):
                    line += f"\n    only in {'torch' if row in ours else 'metaloss'}: {row}"
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
