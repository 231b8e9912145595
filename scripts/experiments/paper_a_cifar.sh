#!/usr/bin/env bash
# Paper A's CIFAR-10 ordering on CPU (Tables 2 and 3, scaled down):
#   plain > pe NP-only with augmentation before encryption
#         > pe (NP + colour shuffle) + adaptation network with augmentation after encryption
#         > block-wise baselines (LE, EtC) with augmentation after encryption.
#
#   scripts/experiments/paper_a_cifar.sh [OUT_DIR] [EPOCHS] [WIDTH] [TRAIN_LIMIT]
#
# Defaults are CPU-feasible on 2 cores: ResNet-18 at base width 8, data_batch_1 only
# (10 000 training images), 24 epochs, full 10 000-image test set (the seven rows in about
# 40 minutes on a 2-core AVX2 machine; EPOCHS=8 gives the earlier, shorter table). The test
# set is evaluated after the last epoch only. The paper's setting is
# width 64, all 50 000 training images, 300 epochs, SGD 0.1 momentum 0.9 wd 5e-4, lr / 10
# at epochs 150 and 225 (`--schedule multistep`), batch 128: pass WIDTH=64 EPOCHS=300
# TRAIN_LIMIT=50000 on a machine that can afford it.
# Writes OUT_DIR/<config>.json (one `pixveil train --json` object each) and
# OUT_DIR/summary.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-target/paper-a}"
EPOCHS="${2:-24}"
WIDTH="${3:-8}"
LIMIT="${4:-10000}"
source scripts/experiments/common.sh
for s in pe-np pe le etc; do key "$s" 32x32x3; done
resnet() { # name extra args... (the test set is evaluated after the last epoch only)
  local name="$1"; shift
  run "$name" --dataset cifar10 --model resnet18 --width "$WIDTH" --epochs "$EPOCHS" \
    --train-limit "$LIMIT" --test-at-end "$@"
}
resnet plain-before      --augment before
resnet pe-np-before      --augment before --key "$OUT/keys/pe-np.key"
resnet pe-np-after       --augment after  --key "$OUT/keys/pe-np.key"
resnet pe-adapt-after    --augment after  --key "$OUT/keys/pe.key" --adaptation
resnet le-after          --augment after  --key "$OUT/keys/le.key"
resnet etc-after         --augment after  --key "$OUT/keys/etc.key"
resnet pe-after          --augment after  --key "$OUT/keys/pe.key"
summary
