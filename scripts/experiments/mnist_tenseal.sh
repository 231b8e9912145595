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
source scripts/experiments/common.sh
key pe 28x28x1
key logistic 28x28x1
tenseal() { # name extra args...
  local name="$1"; shift
  run "$name" --dataset mnist --model tenseal-cnn --epochs "$EPOCHS" --schedule "$SCHEDULE" "$@"
}
tenseal plain
tenseal pe-fixed --key "$OUT/keys/pe.key"
tenseal logistic-fixed --key "$OUT/keys/logistic.key"
summary
