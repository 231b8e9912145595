#!/usr/bin/env bash
# The TenSEAL tutorial CNN on MNIST: plain vs pe and logistic fixed-key ciphertexts.
#
#   scripts/experiments/mnist_tenseal.sh [OUT_DIR] [EPOCHS] [SCHEDULE]
#
# Full MNIST (60 000 train / 10 000 test), Adam 1e-3, batch 64 (the tutorial's setting),
# default 10 epochs at a constant rate (SCHEDULE: constant, cosine, step, multistep).
# Writes OUT_DIR/<config>.json and OUT_DIR/summary.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-target/mnist-tenseal}"
EPOCHS="${2:-10}"
SCHEDULE="${3:-constant}"
DATA="${PIXVEIL_DATA_DIR:-../shared/data}"
BIN="${PIXVEIL_BIN:-target/release/pixveil}"
[[ -x "$BIN" ]] || cargo build --release --locked -p pixveil
mkdir -p "$OUT/keys"
for s in pe logistic; do
  [[ -f "$OUT/keys/$s.key" ]] || "$BIN" keygen --scheme "$s" --shape 28x28x1 --mode fixed -o "$OUT/keys/$s.key"
done
run() { # name, extra args...
  local name="$1"; shift
  if [[ -f "$OUT/$name.json" ]]; then echo "skip $name (done)"; return; fi
  "$BIN" train --dataset mnist --data-dir "$DATA" --model tenseal-cnn --epochs "$EPOCHS" --schedule "$SCHEDULE" \
    -o "$OUT/$name.safetensors" --json "$@" > "$OUT/$name.json.tmp"
  mv "$OUT/$name.json.tmp" "$OUT/$name.json"
}
run plain
run pe-fixed --key "$OUT/keys/pe.key"
run logistic-fixed --key "$OUT/keys/logistic.key"
python3 scripts/experiments/summarize.py "$OUT" > "$OUT/summary.md"
cat "$OUT/summary.md"
