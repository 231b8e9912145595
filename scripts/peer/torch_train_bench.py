#!/usr/bin/env python3
"""Times PyTorch (CPU) training and inference of the models ``pixveil bench train`` measures
(tenseal-cnn and small-cnn on MNIST, ResNet-18 at widths 8 and 64 on CIFAR-10), on the same
images, and, given pixveil's JSON, prints a pixveil/PyTorch table.

Usage:
    torch_train_bench.py [--data-dir DIR] [--images N] [--threads T] [--passes P]
                         [--models tenseal-cnn,small-cnn,resnet18-w8,resnet18-w64,
                                   resnet18-w8-adapt]
                         [--json-out FILE]
    torch_train_bench.py --compare PIXVEIL.json TORCH.json [--csv-out FILE]

Benchmark (the default): the first N training images of MNIST (IDX .gz files in DIR/mnist) or
CIFAR-10 (DIR/cifar10/data_batch_1.bin[.gz]), DIR = --data-dir, else $PIXVEIL_DATA_DIR, else
../shared/data beside the project; pixels / 255 as float32 NCHW; ``torch.set_num_threads(T)``
(default: all cores). N: --images, else each model's own as in ``pixveil bench train`` (10 000
for the small models, 2 048 for resnet18-w8 and resnet18-w8-adapt, 256 for resnet18-w64:
passes of a few seconds).
Per model, freshly initialised with seed 0:
  train   batch 64, shuffled per pass, cross-entropy, forward + backward + step; Adam lr 1e-3
          for the small models, SGD lr 0.01 momentum 0.9 weight decay 5e-4 for ResNet-18 (as
          pixveil bench train);
  infer   batch 256, model.eval() under torch.no_grad(), forward only.
One warm-up pass over the N images, then P timed samples (default 3), each repeating the pass
until it lasts at least 2 s (as pixveil bench train does); the median sample gives images/s. Prints one JSON object on stdout:
  {"peer": "pytorch", "torch_version", "threads", "batch_size", "rows": [{"model", "dataset",
   "images", "train_images_per_s", "infer_images_per_s"}, ...], ...}

Models (PyTorch module and parameter names = pixveil-nn's safetensors names):
  tenseal-cnn  conv1 Conv2d(1,4,7,stride 3) -> x^2 -> flatten(256) -> fc1 Linear(256,64) -> x^2
               -> fc2 Linear(64,10)
  small-cnn    conv1 Conv2d(1,32,3,pad 1) -> ReLU -> MaxPool2d(2) -> conv2 Conv2d(32,64,3,pad 1)
               -> ReLU -> MaxPool2d(2) -> flatten(3136) -> fc1 Linear(3136,128) -> ReLU
               -> fc2 Linear(128,10)
  resnet18-w8/-w64  kuangliu's CIFAR ResNet-18 (BasicBlock, batch norm) at base width 8 / 64:
               the module scripts/peer/torch_load_any.py builds (it loads pixveil's checkpoints
               with strict=True, so the parameter counts and layouts are the same)
  resnet18-w8-adapt  resnet18-w8 behind paper A's adaptation network (two 1x1 convolutions
               3->8->32, each followed by batch norm and ReLU): paper A's model

Compare: reads pixveil's JSON (``pixveil bench train --json``: an object with "rows", or a bare
array of rows; each row has "model" and "train_images_per_s" / "infer_images_per_s") and this
script's JSON, prints a table with the ratios pixveil / PyTorch (> 1: pixveil faster) and
writes it as CSV. A missing pixveil file gives PyTorch-only rows with empty ratios.

Fairness: run on an otherwise idle machine. The JSON records the load average before and after;
the script warns when other work shared the cores. PyTorch runs with its defaults (OpenMP
threads spin-wait); on a busy machine set OMP_WAIT_POLICY=PASSIVE, recorded as
"omp_wait_policy", or its multi-threaded numbers measure the contention, not PyTorch.
"""
import argparse
import csv
import gzip
import json
import math
import os
from pathlib import Path
import statistics
import struct
import sys
import time

# ../shared/data relative to the project root, as everywhere else in the project.
DEFAULT_DATA_DIR = str(Path(__file__).resolve().parents[2].parent / "shared" / "data")
BATCH = 64
INFER_BATCH = 256
MIN_SAMPLE_SECONDS = 2.0
MODELS = ("tenseal-cnn", "small-cnn", "resnet18-w8", "resnet18-w64", "resnet18-w8-adapt")
# Default images per timed pass, as pixveil-ml's BENCH_MODELS.
MODEL_IMAGES = {"tenseal-cnn": 10000, "small-cnn": 10000, "resnet18-w8": 2048, "resnet18-w64": 256,
                "resnet18-w8-adapt": 2048}
# ResNet-18 models: (base width, paper A's adaptation network in front).
RESNET = {"resnet18-w8": (8, False), "resnet18-w64": (64, False), "resnet18-w8-adapt": (8, True)}


def data_dir(arg=None):
    return arg or os.environ.get("PIXVEIL_DATA_DIR") or DEFAULT_DATA_DIR


def read_idx(path, magic, limit=None):
    """The payload of an IDX file (raw or gzip) as a numpy uint8 array, checked against its
    header; at most ``limit`` records."""
    import numpy as np

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        head = f.read(4)
        if len(head) != 4 or struct.unpack(">I", head)[0] != magic:
            raise ValueError(f"{path}: not an IDX file with magic {magic:#x}")
        ndim = magic & 0xFF
        dims = struct.unpack(f">{ndim}I", f.read(4 * ndim))
        n = dims[0] if limit is None else min(dims[0], limit)
        per = 1
        for d in dims[1:]:
            per *= d
        data = f.read(n * per)
    if len(data) != n * per:
        raise ValueError(f"{path}: truncated ({len(data)} of {n * per} bytes)")
    return np.frombuffer(data, dtype=np.uint8).reshape((n,) + tuple(dims[1:]))


def load_mnist(directory, split, limit=None):
    """(images float32 [N,1,28,28] in [0,1], labels int64 [N]) as torch tensors."""
    import torch

    prefix = "train" if split == "train" else "t10k"
    base = os.path.join(directory, "mnist")
    tried = []
    for ext in (".gz", ""):
        img = os.path.join(base, f"{prefix}-images-idx3-ubyte{ext}")
        lab = os.path.join(base, f"{prefix}-labels-idx1-ubyte{ext}")
        tried += [img, lab]
        if os.path.exists(img) and os.path.exists(lab):
            x = read_idx(img, 0x803, limit)
            y = read_idx(lab, 0x801, limit)
            if x.shape[1:] != (28, 28) or len(x) != len(y):
                raise ValueError(f"{img}: {x.shape} images for {len(y)} labels")
            xt = torch.from_numpy(x.copy()).to(torch.float32).div_(255.0).unsqueeze(1)
            return xt.contiguous(), torch.from_numpy(y.astype("int64"))
    raise FileNotFoundError("MNIST %s files: none of these exists: %s" % (split, ", ".join(tried)))


def load_cifar10(directory, limit=None):
    """(images float32 [N,3,32,32] in [0,1], labels int64 [N]) from data_batch_1."""
    import numpy as np
    import torch

    tried = []
    for name in ("data_batch_1.bin.gz", "data_batch_1.bin"):
        path = os.path.join(directory, "cifar10", name)
        tried.append(path)
        if os.path.exists(path):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rb") as f:
                raw = f.read()
            if len(raw) % 3073:
                raise ValueError(f"{path}: {len(raw)} bytes, not whole 3073-byte records")
            rec = np.frombuffer(raw, np.uint8).reshape(-1, 3073)[:limit]
            x = torch.from_numpy(rec[:, 1:].reshape(-1, 3, 32, 32).copy()).to(torch.float32)
            return x.div_(255.0).contiguous(), torch.from_numpy(rec[:, 0].astype("int64"))
    raise FileNotFoundError("CIFAR-10 batch: none of these exists: " + ", ".join(tried))


def build_model(name):
    import torch
    from torch import nn

    if name in RESNET:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from torch_load_any import Net

        width, adaptation = RESNET[name]
        return Net("resnet18", 3, 32, 32, width, adaptation, 10)

    class Square(nn.Module):
        def forward(self, x):
            return x * x

    class TensealCnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, kernel_size=7, stride=3)
            self.fc1 = nn.Linear(256, 64)
            self.fc2 = nn.Linear(64, 10)
            self.sq = Square()

        def forward(self, x):
            x = self.sq(self.conv1(x))
            x = x.reshape(x.shape[0], -1)
            return self.fc2(self.sq(self.fc1(x)))

    class SmallCnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
            self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
            self.fc1 = nn.Linear(3136, 128)
            self.fc2 = nn.Linear(128, 10)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            x = self.pool(torch.relu(self.conv1(x)))
            x = self.pool(torch.relu(self.conv2(x)))
            x = x.reshape(x.shape[0], -1)
            return self.fc2(torch.relu(self.fc1(x)))

    models = {"tenseal-cnn": TensealCnn, "small-cnn": SmallCnn}
    if name not in models:
        raise ValueError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    return models[name]()


def bench_model(name, x, y, passes, seed=0):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    model = build_model(name)
    if name in RESNET:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = x.shape[0]
    gen = torch.Generator().manual_seed(seed)

    def train_pass():
        model.train()
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        return loss.item()

    def infer_pass():
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, n, INFER_BATCH):
                correct += (model(x[i:i + INFER_BATCH]).argmax(1) == y[i:i + INFER_BATCH]).sum().item()
        return correct / n

    def timed(fn):
        # Warm-up, timed to size the samples: each repeats the pass until it lasts at least
        # MIN_SAMPLE_SECONDS (as pixveil bench train does); rates are per pass.
        t = time.perf_counter()
        fn()
        reps = max(1, min(10000, math.ceil(MIN_SAMPLE_SECONDS / max(time.perf_counter() - t, 1e-9))))
        rates = []
        for _ in range(max(passes, 1)):
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            rates.append(n * reps / (time.perf_counter() - t))
        return statistics.median(rates), rates, reps

    train, train_all, train_reps = timed(train_pass)
    infer, infer_all, infer_reps = timed(infer_pass)
    return {
        "model": name,
        "dataset": "cifar10" if name in RESNET else "mnist",
        "images": n,
        "train_images_per_s": round(train, 1),
        "infer_images_per_s": round(infer, 1),
        "train_images_per_s_passes": [round(r, 1) for r in train_all],
        "infer_images_per_s_passes": [round(r, 1) for r in infer_all],
        "train_passes_per_sample": train_reps,
        "infer_passes_per_sample": infer_reps,
        "train_accuracy_after": round(infer_pass(), 4),
    }


def load_average():
    """The 1-minute load average, or None where the OS does not give it."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def warn_if_busy(before, after, threads):
    """Warns when other work shared the cores: PyTorch's OpenMP threads spin-wait at barriers by
    default, so with more runnable threads than cores its multi-threaded numbers collapse (seen
    here: 2-thread tenseal-cnn training 10x slower than 1 thread at load 5 on 2 cores;
    OMP_WAIT_POLICY=PASSIVE avoids most of it)."""
    cpus = os.cpu_count() or 1
    busy = [v for v in (before, after) if v is not None and v > 0.5 * cpus + 0.5]
    if busy:
        print(f"warning: load average {max(busy)} on {cpus} cpus: other work shared the cores, "
              f"the numbers are unreliable" + (" (multi-threaded PyTorch especially; "
              "see OMP_WAIT_POLICY)" if threads > 1 else ""), file=sys.stderr)


def run_bench(a):
    import torch

    threads = a.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    load_before = load_average()
    rows = []
    for name in (m.strip() for m in a.models.split(",")):
        if name not in MODELS:
            raise SystemExit(f"error: unknown model {name!r} (known: {', '.join(MODELS)})")
        want = a.images or MODEL_IMAGES[name]
        if name in RESNET:
            x, y = load_cifar10(data_dir(a.data_dir), want)
        else:
            x, y = load_mnist(data_dir(a.data_dir), "train", want)
        if x.shape[0] < want:
            print(f"note: only {x.shape[0]} training images available", file=sys.stderr)
        print(f"timing {name} ({threads} threads, {x.shape[0]} images) ...", file=sys.stderr)
        rows.append(bench_model(name, x, y, a.passes))
    load_after = load_average()
    warn_if_busy(load_before, load_after, threads)
    out = {
        "peer": "pytorch",
        "torch_version": torch.__version__,
        "threads": threads,
        "batch_size": BATCH,
        "infer_batch_size": INFER_BATCH,
        "passes": a.passes,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "rows": rows,
    }
    text = json.dumps(out)
    print(text)
    if a.json_out:
        with open(a.json_out, "w") as f:
            f.write(text + "\n")
    return 0


def rows_of(doc):
    if isinstance(doc, dict):
        doc = doc.get("rows", [])
    return {r["model"]: r for r in doc if isinstance(r, dict) and "model" in r}


def compare(pixveil_path, torch_path, csv_out):
    with open(torch_path) as f:
        peer = json.load(f)
    pix, pix_doc = {}, {}
    if pixveil_path and os.path.exists(pixveil_path) and os.path.getsize(pixveil_path) > 0:
        with open(pixveil_path) as f:
            pix_doc = json.load(f)
        pix = rows_of(pix_doc)
    tor = rows_of(peer)

    def num(v):
        return round(float(v), 1) if isinstance(v, (int, float)) else None

    def ratio(a, b):
        return round(a / b, 3) if isinstance(a, (int, float)) and b else None

    table = []
    for model in list(tor) + [m for m in pix if m not in tor]:
        p, t = pix.get(model, {}), tor.get(model, {})
        row = {
            "model": model,
            "dataset": t.get("dataset") or p.get("dataset") or "mnist",
            "threads": peer.get("threads"),
            "batch_size": peer.get("batch_size"),
            "images": t.get("images") or p.get("images") or peer.get("images"),
            "pixveil_train_images_per_s": num(p.get("train_images_per_s")),
            "torch_train_images_per_s": num(t.get("train_images_per_s")),
            "train_ratio": ratio(p.get("train_images_per_s"), t.get("train_images_per_s")),
            "pixveil_infer_images_per_s": num(p.get("infer_images_per_s")),
            "torch_infer_images_per_s": num(t.get("infer_images_per_s")),
            "infer_ratio": ratio(p.get("infer_images_per_s"), t.get("infer_images_per_s")),
        }
        table.append(row)

    def fmt(v):
        return "-" if v is None else (f"{v:.0f}" if isinstance(v, float) and v >= 100 else str(v))

    print(f"PyTorch {peer.get('torch_version')} vs pixveil, {peer.get('threads')} threads, "
          f"batch {peer.get('batch_size')} "
          f"(inference batch {peer.get('infer_batch_size', INFER_BATCH)}); "
          "ratio = pixveil / PyTorch, > 1: pixveil faster")
    if not pix:
        print("(no pixveil numbers: ratios left empty)")
    loads = [peer.get("load_average_before"), peer.get("load_average_after")]
    if any(v is not None for v in loads):
        print(f"load average before / after the PyTorch run: {loads[0]} / {loads[1]} "
              f"on {peer.get('cpus')} cpus")
    head = ("model", "images", "pixveil train/s", "torch train/s", "train ratio",
            "pixveil infer/s", "torch infer/s", "infer ratio")
    keys = ("model", "images", "pixveil_train_images_per_s", "torch_train_images_per_s", "train_ratio",
            "pixveil_infer_images_per_s", "torch_infer_images_per_s", "infer_ratio")
    widths = [max(len(h), *(len(fmt(r[k])) for r in table)) for h, k in zip(head, keys)]
    print("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    for r in table:
        print("  ".join(fmt(r[k]).rjust(w) for k, w in zip(keys, widths)))
    if csv_out:
        with open(csv_out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(table[0]) if table else ["model"])
            w.writeheader()
            w.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in table)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", help="folder holding mnist/ (default $PIXVEIL_DATA_DIR or "
                    f"{DEFAULT_DATA_DIR})")
    ap.add_argument("--images", type=int, default=None,
                    help="training images per pass for every model (default: each model's own)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    ap.add_argument("--passes", type=int, default=3, help="timed passes after the warm-up")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--json-out", help="also write the JSON here")
    ap.add_argument("--compare", nargs=2, metavar=("PIXVEIL_JSON", "TORCH_JSON"),
                    help="print the comparison table instead of benchmarking")
    ap.add_argument("--csv-out", help="with --compare: write the table as CSV")
    a = ap.parse_args()
    if a.compare:
        return compare(a.compare[0], a.compare[1], a.csv_out)
    if (a.images is not None and a.images < 1) or a.passes < 1 or a.threads < 0:
        ap.error("--images and --passes must be >= 1, --threads >= 0")
    return run_bench(a)


if __name__ == "__main__":
    sys.exit(main())
