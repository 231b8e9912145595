#!/usr/bin/env bash
# The models behind the encrypted-inference table (issue 9): he-cnn on MNIST, Fashion-MNIST and
# KMNIST (plain images, recipe of he_cnn.sh), and the hybrid of paper C — he-cnn and the TenSEAL
# CNN trained on perceptually encrypted MNIST (`pe`, fixed key), evaluated under CKKS by
# `pixveil he-eval --key` — plus the TenSEAL CNN on plain MNIST.
#
#   scripts/experiments/he_models.sh [OUT_DIR]      (≈ 20 min on the 2-core machine)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-target/he-models}"
source scripts/experiments/common.sh
key pe 28x28x1
he() { # name dataset epochs extra args...
  local name="$1" ds="$2" ep="$3"; shift 3
  run "$name" --dataset "$ds" --model he-cnn --epochs "$ep" --seed 0 --augment before "$@"
}
he he-cnn-mnist mnist 15 --shift 2 --no-hflip
he he-cnn-fashion-mnist fashion-mnist 15 --shift 1 --hflip
he he-cnn-kmnist kmnist 40 --shift 2 --no-hflip
he he-cnn-mnist-pe mnist 15 --shift 2 --no-hflip --key "$OUT/keys/pe.key"
run tenseal-cnn-mnist --dataset mnist --model tenseal-cnn --epochs 10 --seed 0
run tenseal-cnn-mnist-pe --dataset mnist --model tenseal-cnn --epochs 10 --seed 0 --key "$OUT/keys/pe.key"
summary
