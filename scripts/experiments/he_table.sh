#!/usr/bin/env bash
# The encrypted-inference table of the README (issue 9): every model of he_models.sh under CKKS,
# throughput mode over the full test sets (accuracy, agreement, images/s), latency mode on the
# first LATENCY_LIMIT images (latency per stage, keys, bytes), and TenSEAL's tutorial pipeline on
# the same tenseal-cnn weights and images in the same run (scripts/peer/tenseal_cnn.sh).
#
#   scripts/experiments/he_table.sh [OUT_DIR] [LATENCY_LIMIT] [THREADS]   (≈ 20 min, 2 cores)
#
# Writes OUT_DIR/he-eval/NAME-MODE.json, OUT_DIR/peer/ and OUT_DIR/he-table.md (printed).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-target/he-models}"
LIMIT="${2:-200}"
THREADS="${3:-2}"
DATA="${PIXVEIL_DATA_DIR:-../shared/data}"
BIN="${PIXVEIL_BIN:-target/release/pixveil}"
scripts/experiments/he_models.sh "$OUT" > /dev/null
mkdir -p "$OUT/he-eval"
he() { # name dataset [key]
  local name="$1" ds="$2" key=()
  [[ -n "${3:-}" ]] && key=(--key "$3")
  for mode in throughput latency; do
    local lim=()
    [[ "$mode" == latency ]] && lim=(--limit "$LIMIT")
    local f="$OUT/he-eval/$name-$mode.json"
    # LATENCY_LIMIT 10000 or more: the whole test set (files named *-latency-full.json).
    if [[ "$mode" == latency && "$LIMIT" -ge 10000 ]]; then
      f="$OUT/he-eval/$name-latency-full.json"
      lim=()
    fi
    [[ -f "$f" ]] && continue
    "$BIN" --quiet --threads "$THREADS" he-eval --model "$OUT/$name.safetensors" --dataset "$ds" \
      --data-dir "$DATA" --mode "$mode" "${lim[@]}" "${key[@]}" --json > "$f.tmp"
    mv "$f.tmp" "$f"
  done
}
he he-cnn-mnist mnist
he he-cnn-fashion-mnist fashion-mnist
he he-cnn-kmnist kmnist
he he-cnn-mnist-pe mnist "$OUT/keys/pe.key"
he tenseal-cnn-mnist mnist
he tenseal-cnn-mnist-pe mnist "$OUT/keys/pe.key"
if [[ ! -f "$OUT/peer/comparison.json" ]]; then
  PEER_OUT="$OUT/peer" scripts/peer/tenseal_cnn.sh --limit "$LIMIT" --threads "$THREADS" \
    --model "$OUT/tenseal-cnn-mnist.safetensors" > /dev/null
fi
python3 scripts/experiments/he_table.py "$OUT" > "$OUT/he-table.md"
cat "$OUT/he-table.md"
