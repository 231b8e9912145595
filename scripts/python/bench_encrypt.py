#!/usr/bin/env python3
"""pixveil.Key.encrypt from Python against `pixveil bench encrypt` (the Rust engine on the same
shapes, same run) and against NumPy doing the same kind of work.

Python rows: a (10 000, 32, 32, 3) uint8 array (30.72 MB), median of 5 timed runs after a
warm-up, MB/s of image data; `pixveil bench encrypt` (same run, before) times 2 000 such images
encrypted in place. Python's figures include what a Python user pays: argument checks, per-image
nonces (drawn inside the timed region here; `bench encrypt` draws them before timing), and for
`key.encrypt(x)` a fresh result array (allocation and its page faults); `key.encrypt(x, out=buf)`
reuses one. One thread: this script
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

N, SHAPE = 10000, (32, 32, 3)
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
    out = np.empty_like(x)
    # `bench encrypt`'s own workload: 2 000 images encrypted in place (cache-resident): what the
    # binding itself adds.
    small = x[:2000].copy()
    rows, rows_out, rows_small = {}, {}, {}
    for scheme in pixveil.schemes():
        for mode in ("fixed", "per-image"):
            key = pixveil.Key.generate(scheme, SHAPE, mode=mode)
            rows[f"{scheme}/{mode}"] = median_mb_s(lambda: key.encrypt(x), x.nbytes)
            rows_out[f"{scheme}/{mode}"] = median_mb_s(lambda: key.encrypt(x, out=out), x.nbytes)
            rows_small[f"{scheme}/{mode}"] = median_mb_s(lambda: key.encrypt(small, out=small), small.nbytes)
    return rows, rows_out, rows_small


def ray_rows():
    """Images/s of pixveil.ray.encrypt_dataset on a local cluster with 1 and 2 workers."""
    try:
        import ray
        import pixveil.ray as pray
    except ImportError:
        return None
    x = np.random.default_rng(7).integers(0, 256, size=(N, *SHAPE), dtype=np.uint8)
    key = pixveil.Key.generate("pe", SHAPE)
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    out = {}
    try:
        for workers in (1, 2):
            def run():
                ds = ray.data.from_numpy(np.array_split(x, 20))
                pray.encrypt_dataset(ds, key, concurrency=workers, batch_size=500).materialize()
            run()
            times = []
            for _ in range(3):
                t = time.perf_counter()
                run()
                times.append(time.perf_counter() - t)
            out[workers] = N / statistics.median(times)
    finally:
        ray.shutdown()
    return out


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
        new, reused, small = python_rows()
        out = {"python": new, "python_out": reused, "python_inplace_2000": small}
        if os.environ.get("RAYON_NUM_THREADS") == "1":
            out["numpy"] = numpy_rows()
        else:
            out["ray"] = ray_rows()
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
            "python_inplace_2000_1t_mb_s": one["python_inplace_2000"][k],
            "ratio_inplace_2000_1t": one["python_inplace_2000"][k] / r["single_thread_mb_s"],
            "python_inplace_2000_all_mb_s": all_["python_inplace_2000"][k],
            "ratio_inplace_2000_all": all_["python_inplace_2000"][k] / r["all_threads_mb_s"],
            "python_out_1t_mb_s": one["python_out"][k],
            "ratio_out_1t": one["python_out"][k] / r["single_thread_mb_s"],
            "rust_all_mb_s": r["all_threads_mb_s"], "python_all_mb_s": all_["python"][k],
            "ratio_all": all_["python"][k] / r["all_threads_mb_s"],
            "python_out_all_mb_s": all_["python_out"][k],
            "ratio_out_all": all_["python_out"][k] / r["all_threads_mb_s"],
            "numpy_1t_mb_s": one["numpy"].get(k),
            "python_vs_numpy_1t": one["python"][k] / one["numpy"][k] if k in one["numpy"] else None,
        })
    ray_ips = all_.get("ray")
    if a.json:
        print(json.dumps({"rows": rows, "ray_images_per_s": ray_ips}))
        return
    print(f"{'scheme':9} {'mode':10} {'Rust 1t':>8} {'Py 1t':>7} {'ratio':>5} {'out= 1t':>7} {'ratio':>5} "
          f"{'Rust all':>8} {'Py all':>7} {'ratio':>5} {'out= all':>8} {'ratio':>5} {'NumPy 1t':>8} {'Py/NumPy':>8} "
          f"{'same-work 1t':>12} {'all':>5}")
    for r in rows:
        np_s = f"{r['numpy_1t_mb_s']:8.0f} {r['python_vs_numpy_1t']:8.1f}" if r["numpy_1t_mb_s"] else f"{'-':>8} {'-':>8}"
        print(f"{r['scheme']:9} {r['mode']:10} {r['rust_1t_mb_s']:8.0f} {r['python_1t_mb_s']:7.0f} {r['ratio_1t']:5.2f} "
              f"{r['python_out_1t_mb_s']:7.0f} {r['ratio_out_1t']:5.2f} "
              f"{r['rust_all_mb_s']:8.0f} {r['python_all_mb_s']:7.0f} {r['ratio_all']:5.2f} "
              f"{r['python_out_all_mb_s']:8.0f} {r['ratio_out_all']:5.2f} {np_s} "
              f"{r['ratio_inplace_2000_1t']:12.2f} {r['ratio_inplace_2000_all']:5.2f}")
    print("MB/s of 32x32x3 image data; Rust: `pixveil bench encrypt` (2 000 images, in place); Python: "
          "(10 000, 32, 32, 3), new array or out=; ratio = Python / Rust; NumPy: the same kind of work, 1 thread; "
          "same-work: Python on bench's own workload (2 000 images, in place, out=x), ratio to Rust.")
    if ray_ips:
        print("pixveil.ray.encrypt_dataset, pe fixed, 10 000 images in 20 blocks, local cluster: "
              + ", ".join(f"{w} worker(s) {v:.0f} images/s" for w, v in ray_ips.items()))


if __name__ == "__main__":
    main()
