#!/usr/bin/env python3
"""Markdown tables from he_table.sh's outputs: pixveil under CKKS, TenSEAL on the same weights
and images, and CryptonDL's published figures (paper D; ../shared/research/papers.md)."""
import json
import sys
from pathlib import Path

ROWS = [  # (file stem, model, dataset, perceptual scheme)
    ("he-cnn-mnist", "he-cnn", "MNIST", "none"),
    ("he-cnn-fashion-mnist", "he-cnn", "Fashion-MNIST", "none"),
    ("he-cnn-kmnist", "he-cnn", "KMNIST held-out", "none"),
    ("he-cnn-mnist-pe", "he-cnn", "MNIST", "pe (hybrid)"),
    ("tenseal-cnn-mnist", "tenseal-cnn", "MNIST", "none"),
    ("tenseal-cnn-mnist-pe", "tenseal-cnn", "MNIST", "pe (hybrid)"),
]
CRYPTONDL = {"MNIST": (98.32, 0.9832), "Fashion-MNIST": (88.0, 0.8811), "KMNIST held-out": (92.0, 0.9207)}


def load(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def main(out: Path) -> None:
    print("Throughput mode over the full test sets (accuracy, agreement, evaluator images/s) and")
    print("latency mode on the first images (latency p50/p95 end to end, evaluation keys, upload):\n")
    print("| model | dataset | perceptual | encrypted acc. | plaintext acc. | agreement | macro F1 "
          "| precision bits min / median | throughput img/s | upload / image (thr.) "
          "| latency p50 / p95 ms | eval keys MB | upload / image (lat.) | CryptonDL acc. / F1 |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for stem, model, ds, scheme in ROWS:
        t = load(out / "he-eval" / f"{stem}-throughput.json")
        lat = load(out / "he-eval" / f"{stem}-latency.json") or load(
            out / "he-eval" / f"{stem}-latency-full.json")
        if t is None or lat is None:
            continue
        c = CRYPTONDL.get(ds) if model == "he-cnn" and scheme == "none" else None
        cd = f"{c[0]:.2f} % / {c[1]:.4f}" if c else "–"
        print(f"| {model} | {ds} ({t['images']}) | {scheme} | {100 * t['accuracy']:.2f} % "
              f"| {100 * t['plain_accuracy']:.2f} % | {100 * t['agreement']:.2f} % | {t['f1_macro']:.4f} "
              f"| {t['precision_bits_min']:.1f} / {t['precision_bits_median']:.1f} "
              f"| {t['images_per_s']:.0f} | {t['ct_in_bytes'] / 1e3:.1f} kB "
              f"| {lat['latency_ms_p50']:.0f} / {lat['latency_ms_p95']:.0f} "
              f"| {lat['eval_key_bytes'] / 1e6:.1f} | {lat['ct_in_bytes'] / 1e6:.2f} MB | {cd} |")
    full = [(model, ds, load(out / "he-eval" / f"{stem}-latency-full.json"))
            for stem, model, ds, scheme in ROWS if scheme == "none"]
    full = [(m, d, r) for m, d, r in full if r is not None]
    if full:
        print("\nLatency mode over the full test set (`he_table.sh` with LATENCY_LIMIT 10000, or "
              "`pixveil he-eval --mode latency` without `--limit`):\n")
        print("| model | dataset | images | encrypted acc. | agreement | precision bits min / median "
              "| latency p50 / p95 ms | evaluate p50 ms | peak RSS MB |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for model, ds, r in full:
            print(f"| {model} | {ds} | {r['images']} | {100 * r['accuracy']:.2f} % "
                  f"| {100 * r['agreement']:.2f} % "
                  f"| {r['precision_bits_min']:.1f} / {r['precision_bits_median']:.1f} "
                  f"| {r['latency_ms_p50']:.0f} / {r['latency_ms_p95']:.0f} "
                  f"| {r['evaluate_ms_p50']:.0f} | {(r['peak_rss_bytes'] or 0) / 1e6:.0f} |")
    first = load(out / "he-eval" / "tenseal-cnn-mnist-latency.json") or {}
    m = first.get("machine", {})
    print(f"\nMachine: {m.get('cpu', '?')} ({', '.join(m.get('features', []))}; kernels: "
          f"{m.get('kernels', '?')}), {first.get('threads', '?')} threads.")
    peer = load(out / "peer" / "comparison.json")
    ratios = out / "peer" / "ratios.md"
    if peer is not None and ratios.exists():
        print("\nTenSEAL's tutorial pipeline on the same tenseal-cnn weights and images, same run, "
              "same threads (`scripts/peer/tenseal_cnn.sh`):\n")
        print(ratios.read_text().strip())


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "target/he-models"))
