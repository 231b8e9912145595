#!/usr/bin/env python3
"""pixveil.Key.encrypt from Python against `pixveil bench encrypt` (the Rust engine on the same
shapes, same run) and against NumPy doing the same kind of work.

Every row: 2 000 random 32x32x3 images (6.144 MB), median of 5 timed runs after a warm-up, MB/s
of image data, as `pixveil bench encrypt` measures. Python's figure includes what a Python user
pays: argument checks, allocating the result array, copying, and per-image nonces (drawn inside
the timed region here; `bench encrypt` draws them before timing). One thread: this script
re-runs itself with RAYON_NUM_THREADS=1. NumPy baselines (fixed keys, one thread, what a
Python user would write without pixveil): `pe-np` = XOR with a per-value mask; `pe` = mask plus
a per-pixel channel permutation (fancy indexing); `logistic` = XOR with a keystream permuted
per image; `le`/`etc` = a gather through a precomputed index map.

Usage: python scripts/python/bench_encrypt.py [--pixveil target/release/pixveil] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

import pixveil

N, SHAPE = 2000, (32, 32, 3)
REPS = 5


def median_mb_s(fn, nbytes):
    fn()
    times = []
    for _ in range(REPS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return nbytes / statistics.median(times) / 1e6


def python_rows():
    x = np.random.default_rng(7).integers(0, 256, size=(N, *SHAPE), dtype=np.uint8)
    rows = {}
    for scheme in pixveil.schemes():
        for mode in ("fixed", "per-image"):
            key = pixveil.Key.generate(scheme, SHAPE, mode=mode)
            rows[f"{scheme}/{mode}"] = median_mb_s(lambda: key.encrypt(x), x.nbytes)
    return rows


def numpy_rows():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(N, *SHAPE), dtype=np.uint8)
    flat = x.reshape(N, -1)
    mask = (rng.integers(0, 2, size=SHAPE, dtype=np.uint8) * 255).astype(np.uint8)
    perms = np.array([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])
    chan = perms[rng.integers(0, 6, size=SHAPE[:2])]  # (H, W, 3)
    keystream = rng.integers(0, 256, size=flat.shape[1], dtype=np.uint8)
    order = rng.permutation(flat.shape[1])
    gather = rng.permutation(flat.shape[1])
    return {
        "pe-np/fixed": median_mb_s(lambda: x ^ mask, x.nbytes),
        "pe/fixed": median_mb_s(lambda: np.take_along_axis(x ^ mask, chan[None], axis=3), x.nbytes),
        "logistic/fixed": median_mb_s(lambda: flat[:, order] ^ keystream, x.nbytes),
        "le/fixed": median_mb_s(lambda: flat[:, gather] ^ keystream, x.nbytes),
        "etc/fixed": median_mb_s(lambda: flat[:, gather], x.nbytes),
    }


def cpu():
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512ifma") if f in flags]
    return model, simd


def main():
    if os.environ.get("_PIXVEIL_BENCH_CHILD"):
        out = {"python": python_rows()}
        if os.environ.get("RAYON_NUM_THREADS") == "1":
            out["numpy"] = numpy_rows()
        print(json.dumps(out))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--pixveil", default="target/release/pixveil")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    model, simd = cpu()
    print(f"CPU: {model} ({os.cpu_count()} logical cores; {', '.join(simd) or 'no AVX2'})")
    print(f"pixveil {pixveil.__version__} (Python {platform.python_version()}, NumPy {np.__version__}); "
          "the perceptual ciphers are scalar Rust auto-vectorised at build time: no runtime kernel choice")
    cli = subprocess.run([a.pixveil, "-q", "bench", "encrypt", "--json"], capture_output=True, text=True, check=True)
    rust = {f"{r['scheme']}/{r['mode']}": r for r in json.loads(cli.stdout) if r["shape"] == "32x32x3"}

    def child(threads):
        env = dict(os.environ, _PIXVEIL_BENCH_CHILD="1")
        if threads:
            env["RAYON_NUM_THREADS"] = str(threads)
        r = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, check=True)
        return json.loads(r.stdout)

    one, all_ = child(1), child(None)
    rows = []
    for k, r in rust.items():
        rows.append({
            "scheme": r["scheme"], "mode": r["mode"],
            "rust_1t_mb_s": r["single_thread_mb_s"], "python_1t_mb_s": one["python"][k],
            "ratio_1t": one["python"][k] / r["single_thread_mb_s"],
            "rust_all_mb_s": r["all_threads_mb_s"], "python_all_mb_s": all_["python"][k],
            "ratio_all": all_["python"][k] / r["all_threads_mb_s"],
            "numpy_1t_mb_s": one["numpy"].get(k),
            "python_vs_numpy_1t": one["python"][k] / one["numpy"][k] if k in one["numpy"] else None,
        })
    if a.json:
        print(json.dumps(rows))
        return
    print(f"{'scheme':9} {'mode':10} {'Rust 1t':>9} {'Py 1t':>9} {'Py/Rust':>7} {'Rust all':>9} {'Py all':>9} {'Py/Rust':>7} {'NumPy 1t':>9} {'Py/NumPy':>8}")
    for r in rows:
        np_s = f"{r['numpy_1t_mb_s']:9.0f} {r['python_vs_numpy_1t']:8.1f}" if r["numpy_1t_mb_s"] else f"{'-':>9} {'-':>8}"
        print(f"{r['scheme']:9} {r['mode']:10} {r['rust_1t_mb_s']:9.0f} {r['python_1t_mb_s']:9.0f} {r['ratio_1t']:7.2f} "
              f"{r['rust_all_mb_s']:9.0f} {r['python_all_mb_s']:9.0f} {r['ratio_all']:7.2f} {np_s}")
    print("MB/s of 32x32x3 image data (2 000 images); ratios > 1: Python faster.")


if __name__ == "__main__":
    main()
