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
source scripts/experiments/common.sh
he() { # name dataset epochs extra args...
  local name="$1" ds="$2" ep="$3"; shift 3
  run "$name" --dataset "$ds" --model he-cnn --epochs "$ep" --seed 0 --augment before "$@"
}
he mnist mnist 15 --shift 2 --no-hflip
he fashion-mnist fashion-mnist 15 --shift 1 --hflip
he kmnist kmnist 40 --shift 2 --no-hflip
summary
