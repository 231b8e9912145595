#!/usr/bin/env bash
# The HE-friendly CNN (he-cnn: conv 8 5×5/2 + BN, x², fc 128 + BN, x², fc 10) in plaintext on
# MNIST, Fashion-MNIST and KMNIST, with its default recipe (AdamW 2e-3, decoupled weight decay
# 0.05 on weights, 0.5-epoch warm-up then per-step cosine, batch 64) and shift augmentation.
# KMNIST's training images are not in ../shared/data: pixveil then trains on a fixed-seed
# 8 000 / 2 000 split of its test set (train_source "test-split" in the JSON).
#
#   scripts/experiments/he_cnn.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-target/he-cnn}"
DATA="${PIXVEIL_DATA_DIR:-../shared/data}"
BIN="${PIXVEIL_BIN:-target/release/pixveil}"
[[ -x "$BIN" ]] || cargo build --release --locked -p pixveil
mkdir -p "$OUT"
run() { # name dataset epochs extra args...
  local name="$1" ds="$2" ep="$3"; shift 3
  if [[ -f "$OUT/$name.json" ]]; then echo "skip $name (done)"; return; fi
  "$BIN" train --dataset "$ds" --data-dir "$DATA" --model he-cnn --epochs "$ep" --seed 0 \
    --augment before -o "$OUT/$name.safetensors" --json "$@" > "$OUT/$name.json.tmp"
  mv "$OUT/$name.json.tmp" "$OUT/$name.json"
}
run mnist mnist 15 --shift 2 --no-hflip
run fashion-mnist fashion-mnist 15 --shift 1 --hflip
run kmnist kmnist 40 --shift 2 --no-hflip
python3 scripts/experiments/summarize.py "$OUT" > "$OUT/summary.md"
cat "$OUT/summary.md"
