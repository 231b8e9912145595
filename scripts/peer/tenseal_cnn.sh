#!/usr/bin/env bash
# Peer comparison: encrypted CNN inference, TenSEAL's MNIST tutorial vs `pixveil he-eval`, on the
# same tenseal-cnn weights and the same test images, in the same run, same machine.
#
#   scripts/peer/tenseal_cnn.sh [--limit N] [--threads T] [--dataset D] [--model CKPT] [--tenseal-only]
#
# 1. creates/reuses a venv (PEER_VENV, default .venv-peer; git-ignored) with tenseal, numpy,
#    safetensors;
# 2. without --model: `pixveil export-model --model tenseal-cnn --random --seed 1` writes the
#    checkpoint to $OUT/tenseal-cnn.safetensors;
# 3. `pixveil he-eval --mode latency --json` -> $OUT/pixveil.json (skipped with --tenseal-only);
# 4. scripts/peer/tenseal_cnn.py on the same model and images -> $OUT/tenseal.json;
# 5. prints a markdown table (TenSEAL | pixveil | ratio) -> $OUT/ratios.md, and $OUT/comparison.json.
# OUT = PEER_OUT (default target-peer/); images from PIXVEIL_DATA_DIR (default ../shared/data);
# the binary is PIXVEIL (default target/release/pixveil).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${PEER_VENV:-.venv-peer}"
OUT="${PEER_OUT:-target-peer}"
DATA="${PIXVEIL_DATA_DIR:-../shared/data}"
PIXVEIL="${PIXVEIL:-target/release/pixveil}"
LIMIT=100 THREADS=1 DATASET=mnist MODEL="" TENSEAL_ONLY=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --limit) LIMIT="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --dataset) DATASET="$2"; shift 2 ;;
    --model) MODEL="$2"; shift 2 ;;
    --tenseal-only) TENSEAL_ONLY=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
die() { echo "error: $*" >&2; exit 1; }

# Check pixveil's side before the slow TenSEAL run.
if [[ -z "$MODEL" || "$TENSEAL_ONLY" == 0 ]]; then
  [[ -x "$PIXVEIL" ]] || die "$PIXVEIL not built (cargo build --release -p pixveil)"
fi
if [[ -z "$MODEL" ]]; then
  "$PIXVEIL" export-model --help >/dev/null 2>&1 \
    || die "$PIXVEIL has no 'export-model' subcommand; rebuild it or pass --model CKPT"
fi
if [[ "$TENSEAL_ONLY" == 0 ]]; then
  "$PIXVEIL" he-eval --help >/dev/null 2>&1 \
    || die "$PIXVEIL has no 'he-eval' subcommand; rebuild it, or run with --tenseal-only --model CKPT"
fi

mkdir -p "$OUT"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c "import tenseal, numpy, safetensors" 2>/dev/null \
  || "$VENV/bin/pip" install --quiet tenseal numpy safetensors

if [[ -z "$MODEL" ]]; then
  MODEL="$OUT/tenseal-cnn.safetensors"
  "$PIXVEIL" export-model --model tenseal-cnn --random --seed 1 -o "$MODEL"
fi
if [[ "$TENSEAL_ONLY" == 0 ]]; then
  "$PIXVEIL" he-eval --model "$MODEL" --dataset "$DATASET" --data-dir "$DATA" --limit "$LIMIT" \
    --threads "$THREADS" --mode latency --json > "$OUT/pixveil.json"
else
  rm -f "$OUT/pixveil.json"
fi
"$VENV/bin/python" scripts/peer/tenseal_cnn.py --model "$MODEL" --data-dir "$DATA" \
  --dataset "$DATASET" --limit "$LIMIT" --threads "$THREADS" --warmup 1 \
  --json-out "$OUT/tenseal.json" > /dev/null

"$VENV/bin/python" - "$OUT" <<'EOF'
"""Markdown table and combined JSON from $OUT/tenseal.json and $OUT/pixveil.json."""
import json
import os
import sys

out = sys.argv[1]
ts = json.load(open(os.path.join(out, "tenseal.json")))
pv_path = os.path.join(out, "pixveil.json")
pv = json.load(open(pv_path)) if os.path.exists(pv_path) else {}
# (key, label, ratio): "ts/pv" (lower is better: > 1 means pixveil wins), "pv/ts" (higher is better).
ROWS = [
    ("latency_ms_p50", "latency p50 (ms/image)", "ts/pv"),
    ("latency_ms_p95", "latency p95 (ms/image)", "ts/pv"),
    ("encrypt_ms_p50", "encrypt p50 (ms/image)", "ts/pv"),
    ("evaluate_ms_p50", "evaluate p50 (ms/image)", "ts/pv"),
    ("decrypt_ms_p50", "decrypt p50 (ms/image)", "ts/pv"),
    ("images_per_s", "throughput (images/s)", "pv/ts"),
    ("ct_in_bytes", "input ciphertext (bytes)", "ts/pv"),
    ("ct_out_bytes", "output ciphertext (bytes)", "ts/pv"),
    ("eval_key_bytes", "evaluation keys (bytes)", "ts/pv"),
    ("accuracy", "accuracy (encrypted)", None),
    ("plain_accuracy", "accuracy (plaintext)", None),
    ("agreement", "agreement enc/plain argmax", None),
    ("precision_bits_min", "precision bits, min", None),
    ("precision_bits_median", "precision bits, median", None),
]


def fmt(v, key):
    if v is None:
        return "-"
    if key.endswith("_bytes"):
        return f"{int(v):,}"
    return f"{v:.4g}" if abs(v) < 1 else f"{v:.1f}"


ratios, lines = {}, [
    f"TenSEAL {ts['tenseal_version']} vs pixveil, {ts['images']} {ts['dataset']} images, "
    f"{ts['threads']} thread(s), {ts['cpu']}",
    "",
    "| metric | TenSEAL | pixveil | ratio |",
    "|---|---:|---:|---:|",
]
for key, label, how in ROWS:
    a, b = ts.get(key), pv.get(key)
    r = None
    if how and a and b:
        r = a / b if how == "ts/pv" else b / a
        ratios[key] = r
    lines.append(f"| {label} | {fmt(a, key)} | {fmt(b, key)} | {f'{r:.2f}x' if r else '-'} |")
lines += [
    "",
    "Ratios: TenSEAL/pixveil for latency and bytes, pixveil/TenSEAL for images/s (> 1: pixveil "
    "better). TenSEAL ciphertext bytes are serialize() (SEAL zstd); "
    f"uncompressed: in {ts['ct_in_raw_bytes']:,}, out {ts['ct_out_raw_bytes']:,}.",
]
table = "\n".join(lines)
print(table)
open(os.path.join(out, "ratios.md"), "w").write(table + "\n")
json.dump({"tenseal": ts, "pixveil": pv or None, "ratios": ratios},
          open(os.path.join(out, "comparison.json"), "w"), indent=2)
EOF
