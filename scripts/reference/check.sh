#!/usr/bin/env bash
# Compares `pixveil encrypt` with the independent Python reference (scripts/reference/schemes.py,
# written from docs/schemes.md alone), byte for byte, and exits non-zero on any mismatch.
#
# 1. The reference's own checks: RFC 5869 (HKDF) and RFC 8439 (ChaCha20) test vectors.
# 2. Every KAT vector (crates/pixveil-cipher/tests/kat/vectors*.json: fixed mode v3 = v2, and
#    v1; per-image mode v2 and v3) recomputed by the reference: synthetic batches and the
#    built-in sample.
# 3. Through the CLI: every committed KAT key (crates/pixveil-cipher/tests/kat/keys/, secret
#    0x00..0x1f, written by the reference; fixed and per-image, derivations v3, v2 and, fixed
#    only, v1) encrypts the built-in sample (fixed mode: all 256
#    images of each dataset of its shape; per-image mode: the first 16, with the nonces the CLI
#    stored in its manifest) and the synthetic KAT batch; the reference encrypts the same input
#    with the same key file; the two output files must be identical.
#
# Usage: scripts/reference/check.sh            (builds the CLI with cargo)
#        PIXVEIL=/path/to/pixveil scripts/reference/check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ref=scripts/reference/schemes.py
keys=crates/pixveil-cipher/tests/kat/keys

if [[ -z "${PIXVEIL:-}" ]]; then
  cargo build --locked -p pixveil --bin pixveil
  target=$(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  PIXVEIL="$target/debug/pixveil"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== reference self-test"
python3 "$ref" selftest

echo "== KAT vectors recomputed by the reference"
python3 "$ref" kat crates/pixveil-cipher/tests/kat/vectors.json | tail -1
python3 "$ref" kat --kdf 1 crates/pixveil-cipher/tests/kat/vectors-v1.json | tail -1
python3 "$ref" kat --kdf 3 crates/pixveil-cipher/tests/kat/vectors.json | tail -1
for v in 2 3; do
  python3 "$ref" kat-per-image "crates/pixveil-cipher/tests/kat/vectors-per-image-v$v.json" | tail -1
done

echo "== committed KAT keys are the reference's"
python3 "$ref" keys "$tmp/keys"
diff -r "$tmp/keys" "$keys"

echo "== pixveil encrypt vs the reference"
python3 "$ref" inputs "$tmp"
fail=0
checked=0
for key in "$keys"/*.key; do
  base=$(basename "$key" .key)
  shape=$(cut -d_ -f2 <<<"$base")
  mode=$(cut -d_ -f3 <<<"$base")
  if [[ $shape == 28x28x1 ]]; then
    sample=(mnist fashion-mnist kmnist) ext=idx
  else
    sample=(cifar10) ext=bin
  fi
  inputs=("kat-$shape.$ext")
  for ds in "${sample[@]}"; do
    if [[ $mode == fixed ]]; then inputs+=("$ds.$ext"); else inputs+=("$ds-16.$ext"); fi
  done
  for input in "${inputs[@]}"; do
    out="$tmp/cli-$base-$input"
    "$PIXVEIL" -q encrypt --key "$key" "$tmp/$input" -o "$out" >/dev/null
    manifest=()
    [[ $mode == per-image ]] && manifest=(--manifest "$out.pxv")
    python3 "$ref" encrypt --key "$key" "${manifest[@]}" "$tmp/$input" -o "$tmp/ref.out"
    checked=$((checked + 1))
    if cmp -s "$out" "$tmp/ref.out"; then
      rm -f "$out"
    else
      echo "MISMATCH: $base on $input" >&2
      fail=1
    fi
  done
done
echo "$checked encryptions compared"
if [[ $fail != 0 ]]; then
  echo "error: pixveil encrypt and the reference disagree" >&2
  exit 1
fi
echo "pixveil encrypt matches the independent reference"
