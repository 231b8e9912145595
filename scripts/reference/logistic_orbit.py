"""Independent values for `crates/pixveil-cipher/src/logistic.rs` test `orbit_is_pinned`.

Written from `docs/schemes.md` §3 alone (not from the Rust code): the map parameters
x0 = (floor(u1 / 2^12) + 0.5) / 2^52 and mu = 4 - (floor(u2 / 2^20) + 1) * 2^-51, the iteration
x <- (mu * x) * (1 - x) in IEEE-754 binary64 (Python floats are binary64, round to nearest, and
CPython never fuses multiply-add), and the quantisation raw = floor(x * 2^16) mod 256.
Prints the literals pasted into the Rust test.
"""

import struct


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def map_parameters(u1, u2):
    x0 = ((u1 >> 12) + 0.5) / 2.0**52
    mu = 4.0 - ((u2 >> 20) + 1.0) * 2.0**-51
    return x0, mu


def raw_sequence(x0, mu, burn_in, n):
    x = x0
    for _ in range(burn_in):
        x = (mu * x) * (1.0 - x)
    out = []
    for _ in range(n):
        x = (mu * x) * (1.0 - x)
        out.append(int(x * 65536.0) & 0xFF)
    return out, x


PAIRS = [(0, 0), (2**64 - 1, 2**64 - 1), (0x0123456789ABCDEF, 0xFEDCBA9876543210)]

if __name__ == "__main__":
    for u1, u2 in PAIRS:
        x0, mu = map_parameters(u1, u2)
        print(f"map_parameters({u1:#x}, {u2:#x}) = bits ({bits(x0):#018x}, {bits(mu):#018x})")
    raw, x = raw_sequence(0.3, 3.99, 10, 16)
    print("raw_sequence(0.3, 3.99, 10, 16) =", raw, f"last x bits {bits(x):#018x}")
    x0, mu = map_parameters(*PAIRS[2])
    raw, x = raw_sequence(x0, mu, 1000, 32)
    print("raw_sequence(pair 3, 1000, 32) =", raw, f"last x bits {bits(x):#018x}")
