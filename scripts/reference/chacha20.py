"""ChaCha20 block function (RFC 8439 §2.3) in plain Python, and the byte stream of
`rand_chacha` 0.9's `ChaCha20Rng::from_seed` as `docs/schemes.md` §1 describes it (64-bit block
counter from 0, stream/nonce 0). Written from RFC 8439; no pixveil code involved.

Run `python3 chacha20.py` to check the block function against RFC 8439 §2.3.2's test vector.
"""

import struct

MASK = 0xFFFFFFFF


def _rotl(v, n):
    return ((v << n) & MASK) | (v >> (32 - n))


def _quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & MASK; s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & MASK; s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & MASK; s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & MASK; s[b] = _rotl(s[b] ^ s[c], 7)


def block(key, counter_and_nonce):
    """One 64-byte block: `key` 32 bytes, `counter_and_nonce` the four words 12..15."""
    state = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    state += list(struct.unpack("<8I", key)) + list(counter_and_nonce)
    w = list(state)
    for _ in range(10):  # 20 rounds: 10 × (column round + diagonal round)
        _quarter(w, 0, 4, 8, 12); _quarter(w, 1, 5, 9, 13)
        _quarter(w, 2, 6, 10, 14); _quarter(w, 3, 7, 11, 15)
        _quarter(w, 0, 5, 10, 15); _quarter(w, 1, 6, 11, 12)
        _quarter(w, 2, 7, 8, 13); _quarter(w, 3, 4, 9, 14)
    return struct.pack("<16I", *((x + y) & MASK for x, y in zip(w, state)))


def hchacha20(key, nonce):
    """HChaCha20 (draft-irtf-cfrg-xchacha-03 §2.2; docs/schemes.md §1.3): the ChaCha20 state of
    constants, `key` and the 16-byte `nonce` (words 12..15), 20 rounds, no final addition;
    words 0..3 and 12..15 little-endian."""
    w = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    w += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce))
    for _ in range(10):
        _quarter(w, 0, 4, 8, 12); _quarter(w, 1, 5, 9, 13)
        _quarter(w, 2, 6, 10, 14); _quarter(w, 3, 7, 11, 15)
        _quarter(w, 0, 5, 10, 15); _quarter(w, 1, 6, 11, 12)
        _quarter(w, 2, 7, 8, 13); _quarter(w, 3, 4, 9, 14)
    return struct.pack("<8I", *(w[:4] + w[12:]))


def rng_stream(seed, nbytes):
    """The first `nbytes` bytes of `ChaCha20Rng::from_seed(seed)`: blocks with a 64-bit
    counter (words 12, 13 = low, high) starting at 0 and stream id 0 (words 14, 15)."""
    out = bytearray()
    counter = 0
    while len(out) < nbytes:
        out += block(seed, (counter & MASK, counter >> 32, 0, 0))
        counter += 1
    return bytes(out[:nbytes])


def _self_test():
    # RFC 8439 §2.3.2: key 00..1f, counter 1, nonce 00:00:00:09:00:00:00:4a:00:00:00:00.
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a00000000")
    got = block(key, (1,) + struct.unpack("<3I", nonce))
    want = bytes.fromhex(
        "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
        "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e"
    )
    assert got == want, got.hex()
    # RFC 8439 §2.3.2 also lists the state words of the block before serialisation; the first.
    assert struct.unpack("<I", got[:4])[0] == 0xE4E7F110
    print("chacha20: RFC 8439 §2.3.2 test vector OK")
    # draft-irtf-cfrg-xchacha-03 §2.2.1: HChaCha20 test vector.
    sub = hchacha20(bytes(range(32)), bytes.fromhex("000000090000004a0000000031415927"))
    assert sub.hex() == ("82413b4227b27bfed30e42508a877d73"
                         "a0f9e4d58a74a853c12ec41326d3ecdc"), sub.hex()
    print("hchacha20: draft-irtf-cfrg-xchacha §2.2.1 test vector OK")


if __name__ == "__main__":
    _self_test()
