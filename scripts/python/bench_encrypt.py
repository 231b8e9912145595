#!/usr/bin/env python3
"""pixveil.Key.encrypt from Python against `pixveil bench encrypt` (the Rust engine on the same
workload, same run) and against NumPy doing the same kind of work.

Workload: a (10 000, 32, 32, 3) uint8 array (30.72 MB) for Python and for Rust
(`pixveil bench encrypt --images 10000`: the same 10 000 images encrypted in place). Three Python
calls per scheme and key mode: `key.encrypt(x, out=x)` (in place: exactly the Rust benchmark's
work, so the ratio is what the binding adds), `key.encrypt(x, out=buf)` (a second array the
caller owns), and `key.encrypt(x)` (a fresh result array: allocation and its page faults, what
the simplest call costs). Per-image nonces are drawn inside the timed region on both sides
(from the OS CSPRNG, as every encryption must). Every figure is the median of 5 samples after a warm-up,
each sample repeating the call until it lasts at least 20 ms (as `bench encrypt` does), in MB/s
of image data. The Rust benchmark runs before and after the Python children; its rows are the
mean of the two runs (both are printed in --json). The whole sequence runs --runs times (3 by
default: a shared VM's neighbours move single runs by ±30 %) and every figure, ratios included, is
the median over the runs. One thread: this script re-runs itself with
RAYON_NUM_THREADS=1. NumPy baselines (fixed keys, one thread, what a Python user would write
without pixveil): `pe-np` = XOR with a per-value mask; `pe` = mask plus a per-pixel channel
permutation (fancy indexing); `logistic` = XOR with a keystream permuted per image; `le`/`etc` =
a gather through a precomputed index map.

Usage: python scripts/python/bench_encrypt.py [--pixveil target/release/pixveil] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
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


def median_mb_s(fn, nbytes, min_sample=0.02):
    t = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t, 1e-9)
    runs = max(1, math.ceil(min_sample / once))
    rates = []
    for _ in range(REPS):
        t = time.perf_counter()
        for _ in range(runs):
            fn()
        rates.append(nbytes * runs / (time.perf_counter() - t) / 1e6)
    return statistics.median(rates)


def python_rows():
    x = np.random.default_rng(7).integers(0, 256, size=(N, *SHAPE), dtype=np.uint8)
    buf = np.empty_like(x)
    inplace = x.copy()
    rows = {"new": {}, "out": {}, "inplace": {}}
    for scheme in pixveil.schemes():
        for mode in ("fixed", "per-image"):
            key = pixveil.Key.generate(scheme, SHAPE, mode=mode)
            k = f"{scheme}/{mode}"
            rows["inplace"][k] = median_mb_s(lambda: key.encrypt(inplace, out=inplace), x.nbytes)
            rows["out"][k] = median_mb_s(lambda: key.encrypt(x, out=buf), x.nbytes)
            rows["new"][k] = median_mb_s(lambda: key.encrypt(x), x.nbytes)
    return rows


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
        out = {"python": python_rows()}
        if os.environ.get("RAYON_NUM_THREADS") == "1":
            out["numpy"] = numpy_rows()
        else:
            out["ray"] = ray_rows()
        print(json.dumps(out))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--pixveil", default="target/release/pixveil")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--runs", type=int, default=3,
                    help="whole runs (Rust, Python, Rust); every figure is the median over them")
    a = ap.parse_args()
    model, simd = cpu()
    if not a.json:
        print(f"CPU: {model} ({os.cpu_count()} logical cores; {', '.join(simd) or 'no AVX2'})")
        print(f"pixveil {pixveil.__version__} (Python {platform.python_version()}, NumPy {np.__version__})")

    def rust():
        cli = subprocess.run([a.pixveil, "-q", "bench", "encrypt", "--json", "--images", str(N)],
                             capture_output=True, text=True, check=True)
        return {f"{r['scheme']}/{r['mode']}": r for r in json.loads(cli.stdout) if r["shape"] == "32x32x3"}

    def child(threads):
        env = dict(os.environ, _PIXVEIL_BENCH_CHILD="1")
        if threads:
            env["RAYON_NUM_THREADS"] = str(threads)
        r = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, check=True)
        return json.loads(r.stdout)

    def one_run():
        before = rust()
        one, all_ = child(1), child(None)
        after = rust()
        rows = []
        for k, r in before.items():
            rust_1t = (r["single_thread_mb_s"] + after[k]["single_thread_mb_s"]) / 2
            rust_all = (r["all_threads_mb_s"] + after[k]["all_threads_mb_s"]) / 2
            row = {"scheme": r["scheme"], "mode": r["mode"], "images": N,
                   "rust_1t_mb_s": rust_1t, "rust_all_mb_s": rust_all,
                   "rust_1t_runs_mb_s": [r["single_thread_mb_s"], after[k]["single_thread_mb_s"]],
                   "rust_all_runs_mb_s": [r["all_threads_mb_s"], after[k]["all_threads_mb_s"]]}
            for call in ("inplace", "out", "new"):
                row[f"python_{call}_1t_mb_s"] = one["python"][call][k]
                row[f"ratio_{call}_1t"] = one["python"][call][k] / rust_1t
                row[f"python_{call}_all_mb_s"] = all_["python"][call][k]
                row[f"ratio_{call}_all"] = all_["python"][call][k] / rust_all
            row["numpy_1t_mb_s"] = one["numpy"].get(k)
            row["python_vs_numpy_1t"] = one["python"]["new"][k] / one["numpy"][k] if k in one["numpy"] else None
            rows.append(row)
        return rows, all_.get("ray")

    results = []
    for i in range(a.runs):
        if a.runs > 1:
            print(f"run {i + 1} of {a.runs}", file=sys.stderr)
        results.append(one_run())
    # Each figure is the median over the runs (of the ratios themselves, not a ratio of medians).
    rows = []
    for same in zip(*(r for r, _ in results)):
        rows.append({f: statistics.median(x[f] for x in same) if isinstance(v, float)
                     else [y for x in same for y in x[f]] if isinstance(v, list) else v
                     for f, v in same[0].items()})
    rays = [ray for _, ray in results if ray]
    ray_ips = {w: statistics.median(r[w] for r in rays) for w in rays[0]} if rays else None
    if a.json:
        print(json.dumps({"cpu": model, "cores": os.cpu_count(), "simd": simd,
                          "python": platform.python_version(), "numpy": np.__version__,
                          "rows": rows, "ray_images_per_s": ray_ips}))
        return
    print(f"{'scheme':9} {'mode':10} {'Rust 1t':>8} {'in place':>8} {'out=':>5} {'new':>5} "
          f"{'Rust all':>8} {'in place':>8} {'out=':>5} {'new':>5} {'NumPy 1t':>8} {'new/NumPy':>9}")
    for r in rows:
        np_s = f"{r['numpy_1t_mb_s']:8.0f} {r['python_vs_numpy_1t']:9.1f}" if r["numpy_1t_mb_s"] else f"{'-':>8} {'-':>9}"
        print(f"{r['scheme']:9} {r['mode']:10} {r['rust_1t_mb_s']:8.0f} {r['ratio_inplace_1t']:8.2f} "
              f"{r['ratio_out_1t']:5.2f} {r['ratio_new_1t']:5.2f} {r['rust_all_mb_s']:8.0f} "
              f"{r['ratio_inplace_all']:8.2f} {r['ratio_out_all']:5.2f} {r['ratio_new_all']:5.2f} {np_s}")
    print("Rust: `pixveil bench encrypt --images 10000` MB/s (10 000 images of 32x32x3 in place, mean of a run "
          "before and after Python); Python columns: MB/s of key.encrypt on the same (10 000, 32, 32, 3) array "
          "divided by Rust's: in place (out=x, the same work), out= another array, new = a fresh result array; "
          "NumPy: the same kind of work, 1 thread.")
    if ray_ips:
        print("pixveil.ray.encrypt_dataset, pe fixed, 10 000 images in 20 blocks, local cluster: "
              + ", ".join(f"{w} worker(s) {v:.0f} images/s" for w, v in ray_ips.items()))


if __name__ == "__main__":
    main()
