#!/usr/bin/env bash
# Peer benchmark: pixveil training / inference throughput vs PyTorch (CPU), same run, same
# machine, same images, same models (tenseal-cnn and small-cnn on MNIST with Adam 1e-3,
# resnet18-w8 and resnet18-w64 on CIFAR-10 with SGD 0.01 + momentum), batch 64.
#
#   scripts/peer/torch_train_bench.sh [--images N] [--threads T] [--passes P] [--no-build]
#
# 1. creates a venv (PEER_VENV, default .venv-peer; git-ignored) and installs PyTorch from PyPI
#    if it does not import (see "PyTorch install" below);
# 2. builds pixveil (cargo build --release -p pixveil; --no-build skips it) and runs
#    `target/release/pixveil bench train --json --batch-size 64 --images N --threads T`; if the
#    binary has no `bench train`, says so and goes on with PyTorch only;
# 3. runs scripts/peer/torch_train_bench.py (PyTorch, torch.set_num_threads(T));
# 4. prints a table with pixveil / PyTorch ratios per model.
# Outputs go to PEER_OUT (default target-peer/): train_pixveil.json, train_torch.json,
# train_table.csv. Data: $PIXVEIL_DATA_DIR (default ../shared/data, relative to the project root) holding mnist/.
# Defaults: N = each model's own (10 000 for the small models, 2 048 for resnet18-w8 and
# resnet18-w8-adapt, 256 for resnet18-w64), T = all cores, P = 3 timed passes after one warm-up.
# MODELS (environment): comma-separated subset, default all five (resnet18-w8-adapt: paper A's
# model, resnet18-w8 behind the adaptation network).
#
# PyTorch install: the CPU-only wheels live on the PyTorch download server, which this project's
# machines cannot reach; the PyPI Linux x86_64 wheel is a CUDA build whose libtorch_cpu.so
# itself links libcudart / libcupti, so `pip install --no-deps torch` does not import. The
# script therefore installs `torch` from PyPI with its dependencies (the nvidia-* runtime
# wheels, ~5 GB in the venv); it runs on the CPU without a GPU. TORCH_SPEC overrides the
# requirement (default: torch), e.g. TORCH_SPEC=torch==2.15.0.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${PEER_VENV:-.venv-peer}"
OUT="${PEER_OUT:-target-peer}"
IMAGES=
THREADS="$(nproc 2>/dev/null || echo 1)"
PASSES=3
BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --images) IMAGES="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --passes) PASSES="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
DATA_DIR="${PIXVEIL_DATA_DIR:-../shared/data}"
MODELS="${MODELS:-tenseal-cnn,small-cnn,resnet18-w8,resnet18-w64,resnet18-w8-adapt}"
mkdir -p "$OUT"

# --- PyTorch venv
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import torch, safetensors, numpy" 2>/dev/null; then
  echo "installing ${TORCH_SPEC:-torch} (+ safetensors, numpy) from PyPI into $VENV ..." >&2
  "$VENV/bin/pip" install --quiet "${TORCH_SPEC:-torch}" safetensors numpy
fi

# --- pixveil side
PIX_JSON="$OUT/train_pixveil.json"
rm -f "$PIX_JSON"
if [[ "$BUILD" == 1 ]]; then
  cargo build --quiet --release --locked -p pixveil \
    || echo "warning: cargo build failed; using the existing target/release/pixveil if any" >&2
fi
if [[ ! -x target/release/pixveil ]]; then
  echo "pixveil: target/release/pixveil not found (cargo build --release -p pixveil); skipping pixveil's side" >&2
elif ! target/release/pixveil bench train --help >/dev/null 2>&1; then
  echo "pixveil: this build has no 'pixveil bench train' yet; skipping pixveil's side (PyTorch only)" >&2
else
  echo "pixveil: bench train, ${IMAGES:-default} images, $THREADS threads ..." >&2
  EXTRA=(--reps "$PASSES")
  [[ -n "$IMAGES" ]] && EXTRA+=(--images "$IMAGES")
  if target/release/pixveil bench train --help 2>/dev/null | grep -q -- '--data-dir'; then
    EXTRA+=(--data-dir "$DATA_DIR")
  fi
  EXTRA+=(--models "$MODELS")
  if PIXVEIL_DATA_DIR="$DATA_DIR" target/release/pixveil bench train --json --batch-size 64 \
      --threads "$THREADS" "${EXTRA[@]}" > "$PIX_JSON.tmp"; then
    mv "$PIX_JSON.tmp" "$PIX_JSON"
  else
    echo "warning: pixveil bench train failed; going on with PyTorch only" >&2
    rm -f "$PIX_JSON.tmp"
  fi
fi

# --- PyTorch side, then the table
TORCH_ARGS=(--models "$MODELS")
[[ -n "$IMAGES" ]] && TORCH_ARGS+=(--images "$IMAGES")
"$VENV/bin/python" scripts/peer/torch_train_bench.py --data-dir "$DATA_DIR" "${TORCH_ARGS[@]}" \
  --threads "$THREADS" --passes "$PASSES" --json-out "$OUT/train_torch.json" > /dev/null
"$VENV/bin/python" scripts/peer/torch_train_bench.py --compare "$PIX_JSON" "$OUT/train_torch.json" \
  --csv-out "$OUT/train_table.csv"
echo "wrote $OUT/train_torch.json, $OUT/train_table.csv$([[ -s $PIX_JSON ]] && echo ", $PIX_JSON")" >&2
