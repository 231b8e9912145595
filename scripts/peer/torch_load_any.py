#!/usr/bin/env python3
"""Loads any pixveil-nn checkpoint (tenseal-cnn, he-cnn, small-cnn, resnet18 with or without the
adaptation network, any width) into the equivalent PyTorch module with
``load_state_dict(..., strict=True)`` and reports its accuracy on the first N plain test images
of MNIST (1,28,28) or CIFAR-10 (3,32,32): a check that names, shapes, layouts and batch-norm
buffers are PyTorch's, and that PyTorch computes the same function.

Usage: .venv-peer/bin/python scripts/peer/torch_load_any.py CKPT [--data-dir DIR] [--n 1000]
Compare with: pixveil eval --model CKPT --dataset mnist|cifar10 --data-dir DIR --limit N --plain
"""
import argparse
import gzip
import json
import os
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn
import torch.nn.functional as F


class Square(nn.Module):
    def forward(self, x):
        return x * x


class Block(nn.Module):  # kuangliu / mixup BasicBlock
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Net(nn.Module):
    def __init__(self, arch, c, h, w, width, adaptation, classes):
        super().__init__()
        self.arch = arch
        if adaptation:
            self.adapt = nn.Sequential(nn.Conv2d(c, 8, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                       nn.Conv2d(8, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
            c = 32
        else:
            self.adapt = None
        side = lambda n, k, s, p: (n + 2 * p - k) // s + 1  # noqa: E731
        if arch == "tenseal-cnn":
            self.conv1 = nn.Conv2d(c, 4, 7, 3)
            self.fc1 = nn.Linear(4 * side(h, 7, 3, 0) * side(w, 7, 3, 0), 64)
            self.fc2 = nn.Linear(64, classes)
        elif arch == "he-cnn":
            self.conv1 = nn.Conv2d(c, 8, 5, 2)
            self.bn1 = nn.BatchNorm2d(8)
            self.fc1 = nn.Linear(8 * side(h, 5, 2, 0) * side(w, 5, 2, 0), 128)
            self.bn2 = nn.BatchNorm1d(128)
            self.fc2 = nn.Linear(128, classes)
        elif arch == "small-cnn":
            self.conv1 = nn.Conv2d(c, 32, 3, 1, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1, 1)
            self.fc1 = nn.Linear(64 * (h // 4) * (w // 4), 128)
            self.fc2 = nn.Linear(128, classes)
        elif arch == "resnet18":
            self.conv1 = nn.Conv2d(c, width, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            cin, layers = width, []
            for i, (planes, stride) in enumerate([(width, 1), (2 * width, 2), (4 * width, 2), (8 * width, 2)]):
                blocks = [Block(cin, planes, stride), Block(planes, planes, 1)]
                cin = planes
                setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            self.linear = nn.Linear(8 * width, classes)
        else:
            raise SystemExit(f"unknown architecture {arch}")

    def forward(self, x):
        if self.adapt is not None:
            x = self.adapt(x)
        a = self.arch
        if a == "tenseal-cnn":
            x = self.conv1(x) ** 2
            return self.fc2(self.fc1(x.flatten(1)) ** 2)
        if a == "he-cnn":
            x = self.bn1(self.conv1(x)) ** 2
            return self.fc2(self.bn2(self.fc1(x.flatten(1))) ** 2)
        if a == "small-cnn":
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc2(F.relu(self.fc1(x.flatten(1))))
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.linear(x.mean((2, 3)))


def load_images(d, shape, n):
    if shape == (1, 28, 28):
        with gzip.open(os.path.join(d, "mnist", "t10k-images-idx3-ubyte.gz")) as f:
            x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
        with gzip.open(os.path.join(d, "mnist", "t10k-labels-idx1-ubyte.gz")) as f:
            y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
        return x, y
    with gzip.open(os.path.join(d, "cifar10", "test_batch.bin.gz")) as f:
        rec = np.frombuffer(f.read(), np.uint8).reshape(-1, 3073)[:n]
    return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--data-dir", default=os.environ.get("PIXVEIL_DATA_DIR", "../shared/data"))
    ap.add_argument("--n", type=int, default=1000)
    a = ap.parse_args()
    with safe_open(a.checkpoint, framework="pt") as f:
        meta = f.metadata() or {}
    c, h, w = (int(v) for v in meta["input_shape"].split(","))
    net = Net(meta["architecture"], c, h, w, int(meta.get("width", 64)),
              meta.get("adaptation") == "true", int(meta.get("classes", 10)))
    try:
        net.load_state_dict(load_file(a.checkpoint), strict=True)
    except RuntimeError as e:
        print(f"error: does not load: {e}", file=sys.stderr)
        return 1
    net.eval()
    x, y = load_images(a.data_dir, (c, h, w), a.n)
    with torch.no_grad():
        logits = net(torch.from_numpy(x.astype(np.float32) / 255.0))
    acc = float((logits.argmax(1).numpy() == y).mean())
    print(json.dumps({"checkpoint": a.checkpoint, "architecture": meta["architecture"],
                      "adaptation": meta.get("adaptation"), "width": meta.get("width"),
                      "images": int(len(y)), "accuracy": acc, "torch_version": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
