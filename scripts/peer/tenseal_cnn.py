#!/usr/bin/env python3
"""Encrypted CNN inference with TenSEAL (the "Encrypted Convolution on MNIST" tutorial pipeline)
on a pixveil ``tenseal-cnn`` checkpoint and the same test images pixveil uses.

Usage:
    tenseal_cnn.py --model CKPT [--data-dir DIR] [--dataset mnist] [--limit N] [--threads T]
                   [--warmup 1] [--json-out FILE]

Pipeline (as in the tutorial): CKKS, N = 8192, moduli [31, 26x6, 31], scale 2^26, Galois keys.
Client: ``ts.im2col_encoding(ctx, image, 7, 7, 3)`` (encode + encrypt). Server: per output
channel ``enc_x.conv2d_im2col(kernel, windows_nb) + bias``, ``CKKSVector.pack_vectors``
(channel-major, like PyTorch's flatten), ``square_``, ``mm(fc1.T) + fc1.bias``, ``square_``,
``mm(fc2.T) + fc2.bias``. Client: decrypt. Pixels are ``pixel / 255`` (no normalisation), the
first N images of ``DIR/DATASET/t10k-*-ubyte.gz`` in file order.

The numpy plaintext forward of the same weights is the reference for ``agreement`` (same argmax)
and precision: per image, bits = -log2(max_j |enc logit_j - plain logit_j|); min and median over
images are reported. Byte counts: ``ct_in_bytes`` / ``ct_out_bytes`` are TenSEAL's
``serialize()`` (SEAL's default compression, zstd), ``*_raw_bytes`` the uncompressed SEAL data
(polys x moduli x N x 8); ``eval_key_bytes`` is the serialized public context with Galois and
relinearisation keys only. Prints one JSON object on stdout; progress on stderr.

Expect logit errors of a few per cent of the logit size: TenSEAL resets a ciphertext's scale to
2^26 after every rescale (``ct.scale() = this->scale()`` in encrypted_tensor.h) although the
dropped 26-bit prime q is not 2^26, so each of the 6 rescales (conv, pack_vectors' mask, square,
fc1, square, fc2) multiplies the value by 2^26/q (0.1% to 1.0% with this chain); on top of that,
the conv outputs already carry ~1e-3 of noise, which the two squares amplify.
``max_rel_logit_error`` (max over images of max |error| / max |plain logit|) shows the effect.
"""
import argparse
import gzip
import json
import os
from pathlib import Path
import statistics
import sys
import time

import numpy as np
import tenseal as ts
from safetensors import safe_open
from safetensors.numpy import load_file

POLY_DEGREE = 8192
COEFF_BITS = [31, 26, 26, 26, 26, 26, 26, 31]
LOG_SCALE = 26
KERNEL, STRIDE = 7, 3
SHAPES = {"conv1.weight": (4, 1, 7, 7), "conv1.bias": (4,), "fc1.weight": (64, 256),
          "fc1.bias": (64,), "fc2.weight": (10, 64), "fc2.bias": (10,)}


def load_model(path):
    """Weights of a pixveil ``tenseal-cnn`` checkpoint as float64 arrays; exits on anything else."""
    with safe_open(path, framework="np") as f:
        arch = (f.metadata() or {}).get("architecture")
    if arch != "tenseal-cnn":
        sys.exit(f"error: {path}: architecture {arch!r}, expected 'tenseal-cnn' "
                 "(the TenSEAL tutorial network: conv 4x7x7 stride 3, x^2, fc 256->64, x^2, fc 64->10)")
    w = load_file(path)
    for name, shape in SHAPES.items():
        if name not in w or tuple(w[name].shape) != shape:
            got = None if name not in w else tuple(w[name].shape)
            sys.exit(f"error: {path}: {name} has shape {got}, expected {shape}")
    return {k: w[k].astype(np.float64) for k in SHAPES}


def read_idx(path):
    """An IDX (``.gz``) file as a numpy array of its dimensions (unsigned bytes only)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\0\0" or data[2] != 0x08:
        sys.exit(f"error: {path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_images(data_dir, dataset, limit):
    """First ``limit`` test images (pixel / 255, [n, 28, 28]) and labels of an MNIST-family set."""
    base = os.path.join(data_dir, dataset)
    x = read_idx(os.path.join(base, "t10k-images-idx3-ubyte.gz"))[:limit]
    y = read_idx(os.path.join(base, "t10k-labels-idx1-ubyte.gz"))[:limit]
    if x.shape[1:] != (28, 28):
        sys.exit(f"error: {base}: images are {x.shape[1:]}, expected 28x28")
    return x.astype(np.float64) / 255.0, y.astype(np.int64)


def plain_forward(w, img):
    """Numpy reference: conv 7x7 stride 3 (no padding) -> x^2 -> fc1 -> x^2 -> fc2, PyTorch order."""
    out = (img.shape[0] - KERNEL) // STRIDE + 1
    # Patches row-major over output positions (oh, ow), each patch row-major over (kh, kw).
    patches = np.stack([img[r * STRIDE:r * STRIDE + KERNEL, c * STRIDE:c * STRIDE + KERNEL].ravel()
                        for r in range(out) for c in range(out)])
    conv = w["conv1.weight"].reshape(4, -1) @ patches.T + w["conv1.bias"][:, None]  # [c, oh*ow]
    h = conv.ravel() ** 2  # channel-major: c * 64 + oh * 8 + ow
    h = (w["fc1.weight"] @ h + w["fc1.bias"]) ** 2
    return w["fc2.weight"] @ h + w["fc2.bias"]


def make_context(threads):
    """The tutorial's CKKS context (secret key kept: this process is also the client)."""
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, POLY_DEGREE, coeff_mod_bit_sizes=COEFF_BITS,
                     n_threads=threads)
    ctx.global_scale = 2 ** LOG_SCALE
    ctx.generate_galois_keys()
    return ctx


class EncConvNet:
    """Server side of the tutorial's ``EncConvNet`` with pixveil's weights."""

    def __init__(self, w):
        self.kernels = w["conv1.weight"].reshape(4, KERNEL, KERNEL).tolist()
        self.conv_bias = w["conv1.bias"].tolist()
        self.fc1_w, self.fc1_b = w["fc1.weight"].T.tolist(), w["fc1.bias"].tolist()
        self.fc2_w, self.fc2_b = w["fc2.weight"].T.tolist(), w["fc2.bias"].tolist()

    def forward(self, enc_x, windows_nb):
        channels = [enc_x.conv2d_im2col(k, windows_nb) + b
                    for k, b in zip(self.kernels, self.conv_bias)]
        enc_x = ts.CKKSVector.pack_vectors(channels)
        enc_x.square_()
        enc_x = enc_x.mm(self.fc1_w) + self.fc1_b
        enc_x.square_()
        return enc_x.mm(self.fc2_w) + self.fc2_b


def raw_bytes(vec):
    """Uncompressed size of a CKKSVector's ciphertext data (polys x moduli x N x 8 bytes)."""
    return sum(c.size() * c.coeff_modulus_size() * c.poly_modulus_degree() * 8
               for c in vec.ciphertext())


def infer(ctx, net, img):
    """One encrypted inference; returns (logits, (encrypt, evaluate, decrypt) ms, enc_x, enc_y)."""
    t0 = time.perf_counter()
    enc_x, windows_nb = ts.im2col_encoding(ctx, img.tolist(), KERNEL, KERNEL, STRIDE)
    t1 = time.perf_counter()
    enc_y = net.forward(enc_x, windows_nb)
    t2 = time.perf_counter()
    logits = np.array(enc_y.decrypt())
    t3 = time.perf_counter()
    return logits, ((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3), enc_x, enc_y


def pct(values, q):
    """Percentile ``q`` (0-100) by linear interpolation."""
    return float(np.percentile(values, q))


def cpu_model():
    """CPU model name from /proc/cpuinfo (or platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="pixveil tenseal-cnn checkpoint (.safetensors)")
    ap.add_argument("--data-dir", default=os.environ.get(
        "PIXVEIL_DATA_DIR", str(Path(__file__).resolve().parents[2].parent / "shared" / "data")
    ))
    ap.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist", "kmnist"])
    ap.add_argument("--limit", type=int, default=100, help="first N test images (default 100)")
    ap.add_argument("--threads", type=int, default=1, help="TenSEAL n_threads (default 1)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed inferences first (default 1)")
    ap.add_argument("--json-out", help="also write the JSON object to this file")
    a = ap.parse_args()

    w = load_model(a.model)
    x, y = load_images(a.data_dir, a.dataset, a.limit)
    if len(x) == 0:
        sys.exit("error: no images")
    ctx = make_context(a.threads)
    eval_key_bytes = len(ctx.serialize(save_public_key=False, save_secret_key=False,
                                       save_galois_keys=True, save_relin_keys=True))
    net = EncConvNet(w)
    for _ in range(a.warmup):
        infer(ctx, net, x[0])

    stages, bits, enc_pred, plain_pred = [], [], [], []
    max_err = max_rel = 0.0
    for i, img in enumerate(x):
        logits, ms, enc_x, enc_y = infer(ctx, net, img)
        plain = plain_forward(w, img)
        err = float(np.max(np.abs(logits - plain)))
        max_err = max(max_err, err)
        max_rel = max(max_rel, err / max(float(np.max(np.abs(plain))), 1e-12))
        bits.append(-np.log2(err) if err > 0 else 64.0)
        enc_pred.append(int(np.argmax(logits)))
        plain_pred.append(int(np.argmax(plain)))
        stages.append(ms)
        if i == 0:
            sizes = (len(enc_x.serialize()), len(enc_y.serialize()), raw_bytes(enc_x),
                     raw_bytes(enc_y))
        if (i + 1) % 10 == 0 or i + 1 == len(x):
            print(f"[tenseal] {i + 1}/{len(x)} images, last {sum(ms):.0f} ms, "
                  f"max |logit err| {max_err:.2e}", file=sys.stderr)

    stages = np.array(stages)
    total = stages.sum(axis=1)
    enc_pred, plain_pred = np.array(enc_pred), np.array(plain_pred)
    report = {
        "peer": "tenseal",
        "tenseal_version": ts.__version__,
        "cpu": cpu_model(),
        "threads": a.threads,
        "dataset": a.dataset,
        "model": a.model,
        "images": len(x),
        "accuracy": float(np.mean(enc_pred == y)),
        "plain_accuracy": float(np.mean(plain_pred == y)),
        "agreement": float(np.mean(enc_pred == plain_pred)),
        "max_logit_error": max_err,
        "max_rel_logit_error": max_rel,
        "precision_bits_min": float(min(bits)),
        "precision_bits_median": float(statistics.median(bits)),
        "latency_ms_p50": pct(total, 50),
        "latency_ms_p95": pct(total, 95),
        "encrypt_ms_p50": pct(stages[:, 0], 50),
        "encrypt_ms_p95": pct(stages[:, 0], 95),
        "evaluate_ms_p50": pct(stages[:, 1], 50),
        "evaluate_ms_p95": pct(stages[:, 1], 95),
        "decrypt_ms_p50": pct(stages[:, 2], 50),
        "decrypt_ms_p95": pct(stages[:, 2], 95),
        "images_per_s": float(len(x) / (total.sum() / 1e3)),
        "ct_in_bytes": sizes[0],
        "ct_out_bytes": sizes[1],
        "ct_in_raw_bytes": sizes[2],
        "ct_out_raw_bytes": sizes[3],
        "eval_key_bytes": eval_key_bytes,
        "params": {"poly_modulus_degree": POLY_DEGREE, "coeff_mod_bit_sizes": COEFF_BITS,
                   "log_scale": LOG_SCALE},
    }
    text = json.dumps(report, indent=2)
    print(text)
    if a.json_out:
        with open(a.json_out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
