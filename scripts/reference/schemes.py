#!/usr/bin/env python3
"""Independent reference implementation of pixveil's perceptual ciphers.

Written from `docs/schemes.md` alone (not from the Rust code), in plain Python (standard
library only): HKDF-SHA-256 from RFC 5869 with `hmac`/`hashlib`, ChaCha20 from RFC 8439
(`chacha20.py`), the sampler of §1.1 and every scheme of §2–§6, in fixed and per-image key mode,
under key derivation v2 (current) and v1 (legacy).

Library use: `cipher(spec, shape, secret, kdf=2)` returns a function that encrypts one `HWC`
image (bytes); `spec` is the JSON form of docs/schemes.md (`{"scheme": "pe", "shuffle": true}`,
`{"scheme": "chain", "stages": [...]}`, ...). Derivation v3 (§1.3) differs from v2 only in
per-image mode for pe, pe-np, le and etc: `encrypt_batch(..., kdf=3, nonces=...)`.
Command line: see `main()` (`--help`).
"""

import argparse
import gzip
import hashlib
import hmac
import json
import os
import struct
import sys

from chacha20 import rng_stream, block as chacha_block, hchacha20

# ---------------------------------------------------------------------------------------------
# §1 Conventions: derivation

HKDF_SALT = b"pixveil/v1/hkdf"


def hkdf_sha256(salt, ikm, info, length):
    """RFC 5869 HKDF-SHA-256: extract then expand."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, t, i = b"", b"", 1
    while len(okm) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm += t
        i += 1
    return okm[:length]


def derive(secret, label, ctx):
    """`derive(label, ctx)`: HKDF-SHA-256, salt "pixveil/v1/hkdf", info label ‖ 0x00 ‖ ctx."""
    return hkdf_sha256(HKDF_SALT, secret, label.encode() + b"\x00" + ctx, 32)


def u32s(*values):
    return b"".join(struct.pack(">I", v) for v in values)


class Sampler:
    """§1.1: a generator read as one byte stream (ChaCha20Rng keystream bytes in order)."""

    def __init__(self, secret, label, ctx, seed=None):
        self.seed = derive(secret, label, ctx) if seed is None else seed
        self.buf = b""
        self.pos = 0
        self.counter = 0

    def _fill(self, need):
        parts = [self.buf[self.pos:]]
        have = len(parts[0])
        while have < need:
            parts.append(chacha_block(self.seed, (self.counter & 0xFFFFFFFF, self.counter >> 32, 0, 0)))
            self.counter += 1
            have += 64
        self.buf, self.pos = b"".join(parts), 0

    def take(self, n):
        if self.pos + n > len(self.buf):
            self._fill(n)
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def byte(self):
        return self.take(1)[0]

    def next_u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def bits(self, n):
        raw = self.take((n + 7) // 8)
        return [(raw[k >> 3] >> (k & 7)) & 1 for k in range(n)]

    def below_small(self, m):
        assert 1 <= m <= 256
        limit = 256 - (256 % m)
        while True:
            b = self.byte()
            if b < limit:
                return b % m

    def below(self, n):
        assert 1 <= n <= 1 << 32
        threshold = ((1 << 32) - n) % n
        while True:
            x = struct.unpack("<I", self.take(4))[0]
            m = x * n
            if (m & 0xFFFFFFFF) >= threshold:
                return m >> 32

    def permutation(self, n):
        p = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.below(i + 1)
            p[i], p[j] = p[j], p[i]
        return p


# §1.2 Table 1: output channel c takes input channel TABLE1[k][c].
TABLE1 = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]


def gather_xor(src, mask):
    """A byte map `out[j] = in[src[j]] ^ mask[j]` as a function of one image."""
    def run(img):
        return bytes(img[s] ^ m for s, m in zip(src, mask))
    return run


# ---------------------------------------------------------------------------------------------
# §2 pe, pe-np


def stream_of(seed):
    """§1.3: the stream keyed by `seed` directly (ChaCha20Rng::from_seed(seed))."""
    return Sampler(None, None, None, seed=seed)


def generators(secret, ctx):
    """Fixed-key draws: one generator per label, derive_rng(label, ctx)."""
    return lambda label: Sampler(secret, label, ctx)


def pe(shape, secret, shuffle, kdf):
    h, w, c = shape
    ctx = u32s(h, w, c, int(shuffle)) if kdf >= 2 else u32s(h, w, c)
    return pe_from(shape, shuffle, generators(secret, ctx))


def pe_from(shape, shuffle, gen):
    """§2 with the draws taken from `gen(label)` (§1.3: one stream for every label)."""
    h, w, c = shape
    r = gen("pixveil/v1/pe/np").bits(h * w * c)
    mask = [0xFF * bit for bit in r]
    src = list(range(h * w * c))
    out_mask = list(mask)
    if shuffle and c == 3:
        sh = gen("pixveil/v1/pe/shuffle")
        for i in range(h * w):
            t = TABLE1[sh.below_small(6)]
            for ch in range(3):
                # out[i][ch] = y[i][t[ch]] = x[i][t[ch]] ^ m[i][t[ch]]
                src[3 * i + ch] = 3 * i + t[ch]
                out_mask[3 * i + ch] = mask[3 * i + t[ch]]
    return gather_xor(src, out_mask)


# ---------------------------------------------------------------------------------------------
# §3 logistic


def logistic_keystream(shape, secret, burn_in, kdf):
    h, w, c = shape
    n = h * w * c
    ctx = u32s(h, w, c, burn_in) if kdf >= 2 else u32s(h, w, c)
    g = Sampler(secret, "pixveil/v1/logistic/map", ctx)
    u1, u2 = g.next_u64(), g.next_u64()
    x = ((u1 >> 12) + 0.5) / 2.0**52
    mu = 4.0 - ((u2 >> 20) + 1.0) * 2.0**-51
    for _ in range(burn_in):
        x = (mu * x) * (1.0 - x)
    raw = []
    for _ in range(n):
        x = (mu * x) * (1.0 - x)
        raw.append(int(x * 65536.0) & 0xFF)
    perm = Sampler(secret, "pixveil/v1/logistic/shuffle", ctx).permutation(n)
    return [raw[p] for p in perm]


def logistic(shape, secret, burn_in, kdf):
    ks = logistic_keystream(shape, secret, burn_in, kdf)
    return gather_xor(list(range(len(ks))), ks)


# ---------------------------------------------------------------------------------------------
# §5 le


def le(shape, secret, b):
    h, w, c = shape
    return le_from(shape, b, generators(secret, u32s(h, w, c, b)))


def le_from(shape, b, gen):
    h, w, c = shape
    d = b * b * c
    key = gen("pixveil/v1/le/key").permutation(2 * d)
    rev = [k > d for k in key]

    def flip(x):
        return [15 - v if r else v for v, r in zip(x, rev)]

    def run(img):
        out = bytearray(img)
        for by in range(h // b):
            for bx in range(w // b):
                idx = [((by * b + r) * w + bx * b + col) * c + ch
                       for r in range(b) for col in range(b) for ch in range(c)]
                v = [img[k] for k in idx]
                x = [t & 0xF for t in v] + [t >> 4 for t in v]
                x = flip(x)
                x = [x[k] for k in key]
                x = flip(x)
                for t, k in enumerate(idx):
                    out[k] = (x[d + t] << 4) + x[t]
        return bytes(out)
    return run


# ---------------------------------------------------------------------------------------------
# §6 etc


def etc(shape, secret, b):
    h, w, c = shape
    return etc_from(shape, b, generators(secret, u32s(h, w, c, b)))


def etc_from(shape, b, gen):
    h, w, c = shape
    gh, gw = h // b, w // b
    n = gh * gw
    perm = gen("pixveil/v1/etc/perm").permutation(n)
    og = gen("pixveil/v1/etc/orient")
    orient = [og.below_small(8) for _ in range(n)]
    npb = gen("pixveil/v1/etc/np").bits(n)
    if c == 3:
        sg = gen("pixveil/v1/etc/shuffle")
        codes = [sg.below_small(6) for _ in range(n)]
    else:
        codes = [0] * n
    src = [0] * (h * w * c)
    mask = [0] * (h * w * c)
    for i in range(n):
        p = perm[i]
        rot, fl = orient[i] & 3, orient[i] >> 2
        for r in range(b):
            for col in range(b):
                c1 = b - 1 - col if fl else col
                rr, cc = [(r, c1), (b - 1 - c1, r), (b - 1 - r, b - 1 - c1), (c1, b - 1 - r)][rot]
                for ch in range(c):
                    sch = TABLE1[codes[i]][ch] if c == 3 else ch
                    dst = (((i // gw) * b + r) * w + (i % gw) * b + col) * c + ch
                    src[dst] = (((p // gw) * b + rr) * w + (p % gw) * b + cc) * c + sch
                    mask[dst] = 0xFF * npb[i]
    return gather_xor(src, mask)


# ---------------------------------------------------------------------------------------------
# §4 chain, and the dispatcher


def cipher(spec, shape, secret, kdf=2):
    s = spec["scheme"]
    if s == "pe":
        return pe(shape, secret, spec["shuffle"], kdf)
    if s == "logistic":
        return logistic(shape, secret, spec["burn_in"], kdf)
    if s == "le":
        return le(shape, secret, spec["block"])
    if s == "etc":
        return etc(shape, secret, spec["block"])
    if s == "chain":
        stages = spec["stages"]
        n = len(stages)
        assert n >= 1, "an empty chain is InvalidParameter"
        fns = []
        for i, st in enumerate(stages):
            ctx = u32s(i, n) if kdf >= 2 else bytes([i])
            fns.append(cipher(st, shape, derive(secret, "pixveil/v1/chain", ctx), kdf))

        def run(img):
            for f in fns:
                img = f(img)
            return img
        return run
    raise ValueError(f"unknown scheme {s!r}")


NAMES = {
    "pe": {"scheme": "pe", "shuffle": True},
    "pe-np": {"scheme": "pe", "shuffle": False},
    "logistic": {"scheme": "logistic", "burn_in": 1000},
    "grey": {"scheme": "chain", "stages": [{"scheme": "pe", "shuffle": False},
                                          {"scheme": "logistic", "burn_in": 1000}]},
}


def spec_from_name(name):
    """CLI-style names: pe, pe-np, logistic, grey/gray, le/B, etc/B, chain(pe,etc/4)."""
    name = name.strip()
    if name == "gray":
        name = "grey"
    if name in NAMES:
        return NAMES[name]
    if name.startswith("chain(") and name.endswith(")"):
        return {"scheme": "chain", "stages": [spec_from_name(x) for x in name[6:-1].split(",")]}
    for s in ("le", "etc"):
        if name == s:
            return {"scheme": s, "block": 4}
        if name.startswith(s + "/"):
            return {"scheme": s, "block": int(name[len(s) + 1:])}
    raise ValueError(f"unknown scheme name {name!r}")


# ---------------------------------------------------------------------------------------------
# Key modes (§1): per-image keys image n with derive("pixveil/v1/per-image", nonce_n); under
# v3, pe / pe-np / le / etc read image n's key from one stream (§1.3).


def per_image_stream_cipher(spec, shape, secret, nonce):
    """§1.3: K = derive("pixveil/v3/per-image/<scheme>", v2 ctx); stream keyed by
    HChaCha20(K, nonce); every draw of the scheme from that one stream, in its order."""
    h, w, c = shape
    s = spec["scheme"]
    if s == "pe":
        ctx = u32s(h, w, c, int(spec["shuffle"]))
    else:
        ctx = u32s(h, w, c, spec["block"])
    stream = stream_of(hchacha20(derive(secret, "pixveil/v3/per-image/" + s, ctx), nonce))
    gen = lambda label: stream  # noqa: E731 (one stream for every draw)
    if s == "pe":
        return pe_from(shape, spec["shuffle"], gen)
    if s == "le":
        return le_from(shape, spec["block"], gen)
    return etc_from(shape, spec["block"], gen)


def encrypt_batch(spec, shape, secret, images, kdf=2, nonces=None):
    if nonces is None:
        f = cipher(spec, shape, secret, kdf)
        return [f(img) for img in images]
    if kdf >= 3 and spec["scheme"] in ("pe", "le", "etc"):
        return [per_image_stream_cipher(spec, shape, secret, nonce)(img)
                for img, nonce in zip(images, nonces)]
    return [cipher(spec, shape, derive(secret, "pixveil/v1/per-image", nonce), kdf)(img)
            for img, nonce in zip(images, nonces)]


# ---------------------------------------------------------------------------------------------
# File formats (inputs of `pixveil encrypt`): IDX images and CIFAR-10 batches, raw or gzip.


def read_maybe_gz(path):
    data = open(path, "rb").read()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def read_idx_images(path):
    data = read_maybe_gz(path)
    magic, n, h, w = struct.unpack(">IIII", data[:16])
    assert magic == 0x0803, hex(magic)
    size = h * w
    return (h, w, 1), [data[16 + k * size:16 + (k + 1) * size] for k in range(n)], data[:16]


def read_cifar(path):
    """CIFAR-10 binary batch: records of 1 label byte + 3072 bytes (R plane, G, B; 32×32)."""
    data = read_maybe_gz(path)
    rec = 1 + 3072
    labels, images = [], []
    for k in range(len(data) // rec):
        r = data[k * rec:(k + 1) * rec]
        labels.append(r[0])
        planes = r[1:]
        images.append(bytes(planes[ch * 1024 + i] for i in range(1024) for ch in range(3)))
    return (32, 32, 3), images, labels


def write_idx_images(path, shape, images):
    h, w, _ = shape
    with open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x0803, len(images), h, w) + b"".join(images))


def write_cifar(path, images, labels):
    with open(path, "wb") as f:
        for img, lab in zip(images, labels):
            f.write(bytes([lab]) + bytes(img[i * 3 + ch] for ch in range(3) for i in range(1024)))


# ---------------------------------------------------------------------------------------------
# Key files: the pixveil container (layout in pixveil-core's format module docs / key files).


SETTINGS_MAC_LABEL = "pixveil/v2/settings-mac"


def key_id(secret):
    """Public key id: the first 8 bytes of derive_rng("pixveil/v1/key-id", ""), hex."""
    return Sampler(secret, "pixveil/v1/key-id", b"").take(8).hex()


def settings_mac(secret, meta):
    """HMAC-SHA-256 under derive(SETTINGS_MAC_LABEL, "") over `key ‖ 0x00 ‖ JSON(settings)`
    (every metadata field but the MAC, in file order, compact JSON)."""
    signed = {k: meta[k] for k in ("spec", "shape", "mode", "protection", "key_id", "kdf")}
    message = b"key\x00" + json.dumps(signed, separators=(",", ":")).encode()
    return hmac.new(derive(secret, SETTINGS_MAC_LABEL, b""), message, hashlib.sha256).hexdigest()


def container(kind, meta, body):
    """The pixveil container: PXVL, version 1, reserved, kind (8 bytes), lengths, JSON, body,
    SHA-256 of everything before it (little-endian integers)."""
    m = json.dumps(meta, separators=(",", ":")).encode()
    head = b"PXVL" + struct.pack("<HH", 1, 0) + kind.encode().ljust(8, b"\x00")
    data = head + struct.pack("<IQ", len(m), len(body)) + m + body
    return data + hashlib.sha256(data).digest()


def write_key_file(path, spec, shape, mode, secret, kdf=3):
    """A stored-secret key file with its settings MAC (key files of derivation v2 and later)."""
    h, w, c = shape
    meta = {"spec": spec, "shape": {"height": h, "width": w, "channels": c}, "mode": mode,
            "protection": {"kind": "stored"}, "key_id": key_id(secret), "kdf": kdf}
    meta["mac"] = settings_mac(secret, meta)
    with open(path, "wb") as f:
        f.write(container("key", meta, secret))


def read_key_file(path):
    """Returns (spec, shape, mode, kdf, secret) of a stored-secret key file, after checking its
    checksum, key id and settings MAC."""
    data = open(path, "rb").read()
    assert data[:4] == b"PXVL", "not a pixveil container"
    assert hashlib.sha256(data[:-32]).digest() == data[-32:], "container checksum"
    meta_len, body_len = struct.unpack("<IQ", data[16:28])
    meta = json.loads(data[28:28 + meta_len])
    secret = data[28 + meta_len:28 + meta_len + body_len]
    assert meta["protection"]["kind"] == "stored", "passphrase keys are not supported here"
    assert len(secret) == 32
    assert meta["key_id"] == key_id(secret), "key id"
    assert meta["mac"] == settings_mac(secret, meta), "settings MAC"
    shape = (meta["shape"]["height"], meta["shape"]["width"], meta["shape"]["channels"])
    return meta["spec"], shape, meta["mode"], meta["kdf"], secret


# ---------------------------------------------------------------------------------------------
# Self-checks and command line


def kat_inputs(shape, seed_byte, count=16):
    h, w, c = shape
    stream = rng_stream(bytes([seed_byte]) * 32, count * h * w * c)
    size = h * w * c
    return [stream[k * size:(k + 1) * size] for k in range(count)]


KAT_SECRET = bytes(range(32))


SAMPLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "..", "..", "crates", "pixveil-image", "sample")


def sample_images(dataset, count=256):
    """The built-in sample: the first 256 test images of `dataset` (files in pixveil-image)."""
    if dataset == "cifar10":
        shape, images, _ = read_cifar(os.path.join(SAMPLE_DIR, dataset, "test_batch.bin.gz"))
    else:
        shape, images, _ = read_idx_images(
            os.path.join(SAMPLE_DIR, dataset, "t10k-images-idx3-ubyte.gz"))
    return shape, images[:count]


def check_kat(vectors_path, kdf):
    """Recomputes every vector of vectors.json (docs/schemes.md §8); returns the mismatches."""
    bad = 0
    inputs = {}
    for v in json.load(open(vectors_path)):
        shape = tuple(int(x) for x in v["shape"].split("x"))
        what = v["input"]
        if what not in inputs:
            if what.startswith("built-in sample: "):
                dataset = what[len("built-in sample: "):].split(",")[0]
                shp, inputs[what] = sample_images(dataset)
                assert shp == shape, (shp, shape)
            else:
                seed = int(what.split("from_seed([")[1].split(";")[0])
                inputs[what] = kat_inputs(shape, seed, int(what.split()[0]))
            got = hashlib.sha256(b"".join(inputs[what])).hexdigest()
            if "input_sha256" in v and got != v["input_sha256"]:
                print(f"MISMATCH input {what}: {got} != {v['input_sha256']}")
                bad += 1
        ct = encrypt_batch(v["spec"], shape, KAT_SECRET, inputs[what], kdf)
        got = hashlib.sha256(b"".join(ct)).hexdigest()
        ok = got == v["sha256"]
        bad += not ok
        print(f"{'ok      ' if ok else 'MISMATCH'} v{kdf} {v['scheme']:>16} {v['shape']} "
              f"{what[:40]:40}: {got}")
    print(f"{bad} mismatches")
    return bad


def check_per_image_kat(vectors_path):
    """Recomputes every per-image vector (tests/kat/vectors-per-image-v*.json): the synthetic
    batch encrypted in per-image mode under the vector's nonces and derivation version; checks
    the batch digest and the first image's ciphertext. Returns the mismatches."""
    bad = 0
    for v in json.load(open(vectors_path)):
        shape = tuple(int(x) for x in v["shape"].split("x"))
        what = v["input"]
        seed = int(what.split("from_seed([")[1].split(";")[0])
        images = kat_inputs(shape, seed, int(what.split()[0]))
        ok = hashlib.sha256(b"".join(images)).hexdigest() == v["input_sha256"]
        nonces = [bytes.fromhex(n) for n in v["nonces"]]
        ct = encrypt_batch(v["spec"], shape, KAT_SECRET, images, v["kdf"], nonces)
        got = hashlib.sha256(b"".join(ct)).hexdigest()
        ok = ok and got == v["sha256"] and ct[0].hex() == v["first_ciphertext"]
        bad += not ok
        print(f"{'ok      ' if ok else 'MISMATCH'} per-image v{v['kdf']} {v['scheme']:>16} "
              f"{v['shape']}: {got}")
    print(f"{bad} mismatches")
    return bad


KAT_SCHEMES = {
    (28, 28, 1): ["pe", "pe-np", "logistic", "grey", "le/4", "etc/4", "le/2", "etc/2",
                  "chain(pe,etc/4)"],
    (32, 32, 3): ["pe", "pe-np", "logistic", "grey", "le/4", "etc/4", "le/2", "etc/2", "le/8",
                  "etc/8", "chain(pe,etc/4)"],
}


def key_file_name(name, shape, mode, kdf):
    safe = name.replace("/", "").replace("(", "-").replace(",", "-").replace(")", "")
    return f"{safe}_{'x'.join(map(str, shape))}_{mode}_v{kdf}.key"


def write_kat_keys(folder):
    """The KAT key files: secret 0x00..0x1f, every scheme of §8, fixed and per-image (v3 and
    v2), and fixed v1 (legacy key files after `pixveil rekey`). Written by this reference, not by
    pixveil."""
    os.makedirs(folder, exist_ok=True)
    for shape, names in KAT_SCHEMES.items():
        for name in names:
            for mode, kdf in (("fixed", 3), ("per-image", 3), ("fixed", 2), ("per-image", 2),
                              ("fixed", 1)):
                path = os.path.join(folder, key_file_name(name, shape, mode, kdf))
                write_key_file(path, spec_from_name(name), shape, mode, KAT_SECRET, kdf)


def write_inputs(folder):
    """Uncompressed inputs for `pixveil encrypt`: the built-in sample (256 images per dataset),
    its first 16 images, and the synthetic KAT batches of §8."""
    for ds in ("mnist", "fashion-mnist", "kmnist", "cifar10"):
        shape, images = sample_images(ds)
        for n, suffix in ((256, ""), (16, "-16")):
            if shape[2] == 1:
                write_idx_images(os.path.join(folder, f"{ds}{suffix}.idx"), shape, images[:n])
            else:
                write_cifar(os.path.join(folder, f"{ds}{suffix}.bin"), images[:n],
                            [k % 10 for k in range(n)])
    write_idx_images(os.path.join(folder, "kat-28x28x1.idx"), (28, 28, 1),
                     kat_inputs((28, 28, 1), 1))
    write_cifar(os.path.join(folder, "kat-32x32x3.bin"), kat_inputs((32, 32, 3), 3),
                [0] * 16)


def manifest_nonces(path):
    """The per-image nonces of an encryption manifest (`*.pxv`, a container of kind
    `manifest`): its body, 16 bytes per image in batch order."""
    data = open(path, "rb").read()
    assert data[8:16] == b"manifest" and hashlib.sha256(data[:-32]).digest() == data[-32:]
    meta_len, body_len = struct.unpack("<IQ", data[16:28])
    meta = json.loads(data[28:28 + meta_len])
    body = data[28 + meta_len:28 + meta_len + body_len]
    assert len(body) == 16 * meta["count"], (len(body), meta["count"])
    return [body[i:i + 16] for i in range(0, len(body), 16)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("kat", help="check tests/kat/vectors*.json")
    k.add_argument("vectors")
    k.add_argument("--kdf", type=int, default=2)
    sub.add_parser("kat-per-image", help="check tests/kat/vectors-per-image-v*.json").add_argument(
        "vectors")
    sub.add_parser("selftest", help="RFC 5869 and RFC 8439 test vectors")
    sub.add_parser("keys", help="write the KAT key files").add_argument("folder")
    sub.add_parser("inputs", help="write the inputs of check.sh").add_argument("folder")
    e = sub.add_parser("encrypt", help="encrypt an IDX/CIFAR file with a key file")
    e.add_argument("--key", required=True)
    e.add_argument("--manifest", help="per-image mode: the manifest holding the nonces")
    e.add_argument("input")
    e.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    if a.cmd == "kat":
        sys.exit(1 if check_kat(a.vectors, a.kdf) else 0)
    if a.cmd == "kat-per-image":
        sys.exit(1 if check_per_image_kat(a.vectors) else 0)
    if a.cmd == "selftest":
        selftest()
        return
    if a.cmd == "keys":
        write_kat_keys(a.folder)
        return
    if a.cmd == "inputs":
        write_inputs(a.folder)
        return
    spec, shape, mode, kdf, secret = read_key_file(a.key)
    nonces = manifest_nonces(a.manifest) if mode == "per-image" else None
    head = read_maybe_gz(a.input)[:4]
    if head == b"\x00\x00\x08\x03":
        shp, images, _ = read_idx_images(a.input)
        assert shp == tuple(shape), (shp, shape)
        write_idx_images(a.output, shp, encrypt_batch(spec, shp, secret, images, kdf, nonces))
    else:
        shp, images, labels = read_cifar(a.input)
        assert shp == tuple(shape), (shp, shape)
        write_cifar(a.output, encrypt_batch(spec, shp, secret, images, kdf, nonces), labels)


def selftest():
    """RFC 5869 A.1 (HKDF-SHA-256 case 1) and RFC 8439 §2.3.2 (ChaCha20 block)."""
    okm = hkdf_sha256(bytes.fromhex("000102030405060708090a0b0c"), b"\x0b" * 22,
                      bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), 42)
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                         "34007208d5b887185865"), okm.hex()
    print("hkdf: RFC 5869 case 1 OK")
    import chacha20
    chacha20._self_test()


if __name__ == "__main__":
    main()
