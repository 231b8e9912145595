#!/usr/bin/env bash
# The client/server table of the README (issue 10): `pixveil serve` started as its own process on
# loopback, 16 concurrent clients classifying MNIST test images in latency mode (503s retried after
# Retry-After), then one throughput-mode batch through the network against `he-eval` throughput on
# the same images in the same run, and the server's peak memory next to its limits.
#
#   scripts/experiments/service_load.sh [OUT_DIR] [MODEL] [CLIENTS] [REQUESTS_PER_CLIENT] [THREADS]
#
# MODEL defaults to the trained tenseal-cnn of he_models.sh (trained first if missing).
# Writes OUT_DIR/service-load.json (printed).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-target/he-models}"
MODEL="${2:-}"
CLIENTS="${3:-16}"
REQUESTS="${4:-8}"
THREADS="${5:-2}"
DATA="${PIXVEIL_DATA_DIR:-../shared/data}"
cargo build --release --locked -q -p pixveil
if [[ -z "$MODEL" ]]; then
  scripts/experiments/he_models.sh "$OUT" > /dev/null
  MODEL="$OUT/tenseal-cnn-mnist.safetensors"
fi
mkdir -p "$OUT"
cargo run --release --locked -q -p pixveil-service --example load -- \
  --model "$MODEL" --pixveil target/release/pixveil --clients "$CLIENTS" \
  --requests "$REQUESTS" --threads "$THREADS" --data-dir "$DATA" | tee "$OUT/service-load.json"
