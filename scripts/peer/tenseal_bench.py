#!/usr/bin/env python3
"""Times SEAL (as shipped in the TenSEAL wheel, via ``tenseal.sealapi``) on the same CKKS
operations and chains as ``pixveil_ckks::bench::run_op_benchmarks`` and, given pixveil's JSON,
prints a table with ratios (SEAL time / pixveil time: > 1 means pixveil is faster).

Usage:
    tenseal_bench.py [--reps N] [--k K] [--chain tenseal|precise ...] [--pixveil FILE.json]
                     [--json-out FILE] [--csv-out FILE]

Chains (N = 8192, single thread):
    tenseal  [31, 26x6, 31], scale 2^26   (TenSEAL MNIST tutorial chain)
    precise  [40, 26x5, 48], scale 2^26
Each op is timed ``reps`` times after one warm-up; the median is reported in milliseconds.
"""
import argparse
import csv
import json
import math
import statistics
import sys
import time

import tenseal.sealapi as seal

CHAINS = {
    "tenseal": [31, 26, 26, 26, 26, 26, 26, 31],
    "precise": [40, 26, 26, 26, 26, 26, 48],
}
N = 8192
LOG_SCALE = 26


def median_ms(reps, fn):
    fn()
    times = []
    for _ in range(max(reps, 1)):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def bench_chain(name, bits, reps, k):
    parms = seal.EncryptionParameters(seal.SCHEME_TYPE.CKKS)
    parms.set_poly_modulus_degree(N)
    parms.set_coeff_modulus(seal.CoeffModulus.Create(N, bits))
    ctx = seal.SEALContext(parms, True, seal.SEC_LEVEL_TYPE.TC128)
    keygen = seal.KeyGenerator(ctx)
    sk = keygen.secret_key()
    pk = seal.PublicKey()
    keygen.create_public_key(pk)
    rlk = seal.RelinKeys()
    keygen.create_relin_keys(rlk)
    gk = seal.GaloisKeys()
    # Only the keys the benchmark uses: steps 1..k (one key switch each) and conjugation.
    elts = [keygen_elt for keygen_elt in galois_elements(ctx, list(range(1, k + 1)))]
    elts.append(2 * N - 1)
    keygen.create_galois_keys(elts, gk)
    encoder = seal.CKKSEncoder(ctx)
    encryptor = seal.Encryptor(ctx, pk)
    encryptor_sk = seal.Encryptor(ctx, sk)
    decryptor = seal.Decryptor(ctx, sk)
    ev = seal.Evaluator(ctx)
    scale = 2.0 ** LOG_SCALE
    slots = N // 2
    vals = [math.sin(i * 0.01) for i in range(slots)]

    pt = seal.Plaintext()
    encoder.encode(vals, scale, pt)
    ct = seal.Ciphertext(ctx)
    encryptor.encrypt(pt, ct)
    ct2 = seal.Ciphertext(ctx)
    encryptor.encrypt(pt, ct2)
    out = seal.Ciphertext(ctx)
    out2 = seal.Ciphertext(ctx)
    ct3 = seal.Ciphertext(ctx)
    ev.multiply(ct, ct2, ct3)
    ptd = seal.Plaintext()

    def enc_pt():
        p = seal.Plaintext()
        encoder.encode(vals, scale, p)

    def encrypt():
        c = seal.Ciphertext(ctx)
        encryptor.encrypt(pt, c)

    def encrypt_sk():
        c = seal.Ciphertext(ctx)
        encryptor_sk.encrypt_symmetric(pt, c)

    def decode():
        encoder.decode_double(pt)

    def rot_k():
        for s in range(1, k + 1):
            ev.rotate_vector(ct, s, gk, out)

    # Per-prime NTT: SEAL transforms a whole size-2 ciphertext (2 x L primes, plus a copy).
    ct_coeff = seal.Ciphertext(ctx)
    ev.transform_from_ntt(ct, ct_coeff)
    per_prime = 2 * (len(bits) - 1)
    ops = [
        ("ntt", lambda: ev.transform_to_ntt(ct_coeff, out), per_prime),
        ("intt", lambda: ev.transform_from_ntt(ct, out), per_prime),
        ("encode", enc_pt),
        ("decode", decode),
        ("encrypt", encrypt),
        ("encrypt_sk", encrypt_sk),
        ("decrypt", lambda: decryptor.decrypt(ct, ptd)),
        ("add", lambda: ev.add(ct, ct2, out)),
        ("mul_plain", lambda: ev.multiply_plain(ct, pt, out)),
        ("mul", lambda: ev.multiply(ct, ct2, out)),
        ("relinearize", lambda: ev.relinearize(ct3, rlk, out)),
        ("mul_relin", lambda: (ev.multiply(ct, ct2, out2), ev.relinearize(out2, rlk, out))),
        ("rescale", lambda: ev.rescale_to_next(ct, out)),
        ("rotate", lambda: ev.rotate_vector(ct, 1, gk, out)),
        ("conjugate", lambda: ev.complex_conjugate(ct, gk, out)),
        # SEAL has no hoisting: k independent rotations.
        (f"hoisted_rotate_{k}", rot_k),
        (f"rotate_{k}", rot_k),
    ]
    res = []
    for op, fn, *div in ops:
        ms = median_ms(reps * (10 if div else 1), fn) / (div[0] if div else 1)
        res.append({"op": op, "chain": name, "threads": 1, "median_ms": ms})
    return res


def galois_elements(ctx, steps):
    m = 2 * N
    out = []
    for s in steps:
        out.append(pow(3, s % (N // 2), m))  # SEAL's GaloisTool generator is 3
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--chain", action="append", choices=sorted(CHAINS))
    ap.add_argument("--pixveil", help="pixveil JSON (pixveil bench ckks --json / example bench_json)")
    ap.add_argument("--json-out")
    ap.add_argument("--csv-out")
    a = ap.parse_args()
    chains = a.chain or ["tenseal", "precise"]
    if a.pixveil:
        with open(a.pixveil) as f:
            have = {r["chain"] for r in json.load(f)}
        chains = [c for c in chains if c in have] or chains
    seal_rows = []
    for c in chains:
        seal_rows += bench_chain(c, CHAINS[c], a.reps, a.k)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(seal_rows, f, indent=1)
    pix = {}
    if a.pixveil:
        with open(a.pixveil) as f:
            for r in json.load(f):
                pix[(r["chain"], r["op"])] = r["median_ms"]
    seal_map = {(r["chain"], r["op"]): r["median_ms"] for r in seal_rows}
    keys = []
    for r in seal_rows:
        keys.append((r["chain"], r["op"]))
    for key in pix:
        if key not in seal_map and key[0] in chains:
            keys.append(key)
    rows = [["chain", "op", "seal_ms", "pixveil_ms", "ratio_seal_over_pixveil"]]
    print(f"{'chain':8} {'op':18} {'SEAL (TenSEAL) ms':>18} {'pixveil ms':>11} {'SEAL/pixveil':>13}")
    for chain, op in keys:
        s = seal_map.get((chain, op))
        p = pix.get((chain, op))
        ratio = (s / p) if (s is not None and p) else None
        fmt = lambda v, d=3: "n/a" if v is None else f"{v:.{d}f}"
        print(f"{chain:8} {op:18} {fmt(s):>18} {fmt(p):>11} {fmt(ratio, 2):>13}")
        rows.append([chain, op, fmt(s), fmt(p), fmt(ratio, 2)])
    if a.csv_out:
        with open(a.csv_out, "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)


if __name__ == "__main__":
    sys.exit(main())
