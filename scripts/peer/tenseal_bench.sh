#!/usr/bin/env bash
# Peer benchmark: pixveil CKKS vs SEAL as shipped in TenSEAL, in the same run, same machine.
#
#   scripts/peer/tenseal_bench.sh [--quick]
#
# 1. creates a venv (PEER_VENV, default .venv-peer; git-ignored) and `pip install tenseal`;
# 2. runs pixveil's op benchmarks (target/release/pixveil bench ckks --json if built, else
#    `cargo run --release -p pixveil-ckks --example bench_json`);
# 3. times the same ops with tenseal.sealapi and prints a table with SEAL/pixveil ratios.
# Outputs go to PEER_OUT (default target-peer/): pixveil.json, seal.json, table.csv.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${PEER_VENV:-.venv-peer}"
OUT="${PEER_OUT:-target-peer}"
REPS=21
K=8
if [[ "${1:-}" == "--quick" ]]; then REPS=3; K=2; fi
mkdir -p "$OUT"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c "import tenseal" 2>/dev/null || "$VENV/bin/pip" install --quiet tenseal
if [[ -x target/release/pixveil ]] && target/release/pixveil bench ckks --help >/dev/null 2>&1; then
  target/release/pixveil bench ckks --json > "$OUT/pixveil.json"
else
  ARGS=(--reps "$REPS")
  [[ "$K" == 2 ]] && ARGS=(--quick)
  CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target-ckks}" \
    cargo run --quiet --release -p pixveil-ckks --example bench_json -- "${ARGS[@]}" > "$OUT/pixveil.json"
fi
"$VENV/bin/python" scripts/peer/tenseal_bench.py --reps "$REPS" --k "$K" \
  --pixveil "$OUT/pixveil.json" --json-out "$OUT/seal.json" --csv-out "$OUT/table.csv"
