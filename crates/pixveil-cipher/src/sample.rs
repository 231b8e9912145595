//! Unbiased sampling from a derived ChaCha20 stream, shared by every scheme.
//!
//! Every scheme draws its key material through a [`Sampler`]: a [`ChaCha20Rng`] obtained from
//! [`MasterSecret::derive_rng`](pixveil_core::MasterSecret::derive_rng), read as **one byte
//! stream** — the ChaCha20 keystream bytes in order (the generator is always asked for whole
//! 64-byte blocks — 512 bytes, or 1 024 from the AVX-512 kernel —, a multiple of its 4-byte
//! word, so no keystream byte is ever skipped). The draws are:
//!
//! * [`Sampler::byte`]: the next stream byte.
//! * [`Sampler::bits`]`(n)`: `⌈n/8⌉` bytes; bit `k` is bit `k mod 8` (least significant first)
//!   of byte `⌊k/8⌋`. Each bit is an independent fair bit (no "exactly half" constraint).
//! * [`Sampler::below_small`]`(m)` for `1 ≤ m ≤ 256`: draw a byte `b`; reject it if
//!   `b ≥ 256 − (256 mod m)` and draw again; return `b mod m`. (For `m = 6`: bytes 252..=255 are
//!   rejected; for powers of two nothing is rejected.)
//! * [`Sampler::below`]`(n)` for `1 ≤ n ≤ 2^32` (Lemire's multiply-and-reject method, ACM TOMACS
//!   2019): draw 4 bytes as a little-endian `u32` `x` (i.e. ChaCha20's `next_u32`); let
//!   `m = x·n` (64-bit product); reject and redraw while `m mod 2^32 < (2^32 − n) mod n`; return
//!   `⌊m / 2^32⌋`. For `n > 2^32` (impossible for valid shapes, whose byte count is below `2^30`):
//!   draw 8-byte little-endian `u64` values `x`, reject `x < 2^64 mod n`, return `x mod n`.
//! * [`Sampler::permutation`]`(n)`: Fisher–Yates from the identity: for `i = n−1` down to `1`,
//!   `j = below(i+1)`, swap `p[i]` and `p[j]`. The result `p` is used as a gather
//!   (`out[k] = in[p[k]]`) unless a scheme says otherwise.
//!
//! Every draw is unbiased: a uniform value, bit, code or permutation, given an ideal stream.

use pixveil_core::MasterSecret;
use pixveil_image::Shape;
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;
use zeroize::Zeroizing;

/// Bytes fetched from the generator at a time (eight ChaCha20 blocks: a multiple of its
/// 4-byte word, so the byte stream is the keystream whatever the buffer size).
const BUF: usize = crate::kernels::CHACHA_BYTES;

/// The buffer: room for the sixteen blocks of the AVX-512 kernel
/// ([`crate::kernels::chacha20_blocks16`]), which refills with them when more than [`BUF`]
/// bytes are still wanted (with eight blocks otherwise, so short streams compute no unread
/// blocks). Every refill is whole blocks, in stream order: the byte stream does not depend on
/// the refill sizes.
const BUF_MAX: usize = crate::kernels::CHACHA_BYTES16;

/// Room in the buffer for a prefilled start of the stream ([`Sampler::prefill`]):
/// up to eight blocks, the size of the refills it replaces. (Prefilling 23 blocks of `pe`'s
/// 32×32×3 stream for eight images at once was slower than the sixteen-block refills: the
/// eight streams and images no longer fit the L1 cache together.)
pub(crate) const PREFILL_MAX: usize = 512;

/// The buffer's size.
const BUF_CAP: usize = if PREFILL_MAX > BUF_MAX {
    PREFILL_MAX
} else {
    BUF_MAX
};

/// Where a [`Sampler`]'s keystream comes from. (Unboxed although the variants differ in
/// size: a sampler lives on the stack, and boxing would allocate once per image on CPUs
/// without AVX2.)
#[allow(clippy::large_enum_variant)]
enum Source {
    /// `rand_chacha`'s generator.
    Rng(ChaCha20Rng),
    /// The same ChaCha20 keystream from the SIMD kernels ([`crate::kernels::chacha20_blocks`],
    /// [`crate::kernels::chacha20_blocks16`]): the key words and the next block's counter.
    Simd { key: [u32; 8], counter: u64 },
}

impl Source {
    /// Zeroes the SIMD source's key words (`rand_chacha`'s generator has no wipe of its own).
    fn wipe_key(&mut self) {
        if let Source::Simd { key, .. } = self {
            zeroize::Zeroize::zeroize(key);
        }
    }
}

/// A byte-stream view of a derived ChaCha20 generator with unbiased bounded draws.
///
/// Invariant: `buf[pos..len]` are the next stream bytes (`pos ≤ len ≤ BUF_CAP`, `len` a
/// multiple of 64); `buf[hi..]` was never written (`len ≤ hi`); the buffered keystream
/// (`buf[..hi]`) and the SIMD source's key are wiped on drop.
pub(crate) struct Sampler {
    src: Source,
    buf: [u8; BUF_CAP],
    pos: usize,
    len: usize,
    hi: usize,
    /// Stream bytes the current bulk draw still expects to read (a refill hint: 0 unless
    /// [`Sampler::permutation_into`] is running).
    want: usize,
}

impl Drop for Sampler {
    fn drop(&mut self) {
        crate::kernels::wipe(&mut self.buf[..self.hi]);
        self.src.wipe_key();
    }
}

impl Sampler {
    /// The sampler for `secret.derive_rng(label, context)`.
    pub(crate) fn new(secret: &MasterSecret, label: &str, context: &[u8]) -> Self {
        Self::over(Source::Rng(secret.derive_rng(label, context)))
    }

    /// An empty sampler reading `src`.
    #[inline]
    fn over(src: Source) -> Self {
        Self {
            src,
            buf: [0; BUF_CAP],
            pos: 0,
            len: 0,
            hi: 0,
            want: 0,
        }
    }

    /// The sampler of the ChaCha20 stream keyed by `seed` directly (block counter 0, stream 0):
    /// the per-image streams of derivation v3 ([`crate::per_image`]). The seed is wiped here.
    #[inline]
    pub(crate) fn from_seed(seed: [u8; 32]) -> Self {
        Self::over(Self::seeded(seed))
    }

    /// The source of [`Sampler::from_seed`]: the SIMD kernels on an AVX2 CPU, else
    /// `rand_chacha`. The seed is wiped here.
    fn seeded(seed: [u8; 32]) -> Source {
        let seed = Zeroizing::new(seed);
        if crate::kernels::has_avx2() {
            let key = std::array::from_fn(|i| {
                u32::from_le_bytes([
                    seed[4 * i],
                    seed[4 * i + 1],
                    seed[4 * i + 2],
                    seed[4 * i + 3],
                ])
            });
            Source::Simd { key, counter: 0 }
        } else {
            Source::Rng(<ChaCha20Rng as rand_core::SeedableRng>::from_seed(*seed))
        }
    }

    /// Makes this sampler read the stream of [`Sampler::from_seed`]`(seed)` from its start,
    /// keeping its buffer: the bytes left there by the last stream are never read again
    /// (`pos = len = 0`), and the high-water mark stays, so that dropping the sampler still
    /// wipes every byte any of its streams wrote. (One sampler for a batch of images: one
    /// buffer initialisation and one wipe per batch instead of per image.)
    pub(crate) fn reseed(&mut self, seed: [u8; 32]) {
        std::mem::replace(&mut self.src, Self::seeded(seed)).wipe_key();
        (self.pos, self.len, self.want) = (0, 0, 0);
    }

    /// Makes the stream of a fresh [`Sampler::from_seed`] sampler start with `pre` (whole
    /// blocks, at most [`PREFILL_MAX`] bytes): the first `pre.len() / 64` blocks of its
    /// keystream, computed by the caller ([`crate::kernels::chacha20_multi16`]). On a CPU
    /// without AVX2 (where `from_seed` takes `rand_chacha`) `pre` is ignored: the stream is
    /// the same. (A method on the sampler in place: returning a new one moved its buffer.)
    ///
    /// # Panics
    /// If `pre` is not whole blocks or longer than [`PREFILL_MAX`], or the sampler was read.
    #[inline]
    pub(crate) fn prefill(&mut self, pre: &[u8]) {
        assert!(
            pre.len().is_multiple_of(64) && pre.len() <= PREFILL_MAX,
            "whole blocks that fit"
        );
        if let Source::Simd { counter, .. } = &mut self.src {
            assert!(*counter == 0 && self.len == 0, "a fresh sampler");
            self.buf[..pre.len()].copy_from_slice(pre);
            *counter = (pre.len() / 64) as u64;
            self.len = pre.len();
            self.hi = pre.len();
        }
    }

    /// Refills the (used up) buffer with the next keystream bytes: sixteen blocks from the
    /// AVX-512 kernel when more than [`BUF`] bytes are wanted (`need`), else [`BUF`] bytes.
    fn refill(&mut self, need: usize) {
        debug_assert_eq!(self.pos, self.len, "refill of a used-up buffer");
        self.len = match &mut self.src {
            Source::Rng(rng) => {
                rng.fill_bytes(&mut self.buf[..BUF]);
                BUF
            }
            Source::Simd { key, counter } => {
                let whole: &mut [u8; BUF_MAX] = (&mut self.buf[..BUF_MAX])
                    .try_into()
                    .expect("BUF_MAX bytes");
                if need > BUF && crate::kernels::chacha20_blocks16(key, *counter, whole) {
                    *counter = counter.wrapping_add((BUF_MAX / 64) as u64);
                    BUF_MAX
                } else {
                    let head: &mut [u8; BUF] =
                        (&mut self.buf[..BUF]).try_into().expect("BUF bytes");
                    // `from_seed` chose this source only on an AVX2 CPU.
                    let done = crate::kernels::chacha20_blocks(key, *counter, head);
                    assert!(done, "the SIMD source is chosen only on an AVX2 CPU");
                    *counter = counter.wrapping_add((BUF / 64) as u64);
                    BUF
                }
            }
        };
        self.pos = 0;
        self.hi = self.hi.max(self.len);
    }

    /// Fills `out` with the next `out.len()` stream bytes (what `out.len()` calls of
    /// [`Sampler::byte`] would return).
    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.len {
                self.refill(out.len() - done);
            }
            let n = (self.len - self.pos).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            done += n;
        }
    }

    /// The next keystream byte.
    #[inline]
    pub(crate) fn byte(&mut self) -> u8 {
        if self.pos == self.len {
            self.refill(self.want);
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        b
    }

    /// `n` independent fair bits, least significant bit of each byte first (key material:
    /// wiped when dropped).
    pub(crate) fn bits(&mut self, n: usize) -> Zeroizing<Vec<bool>> {
        let mut out = Zeroizing::new(Vec::with_capacity(n));
        while out.len() < n {
            let b = self.byte();
            for k in 0..8 {
                if out.len() == n {
                    break;
                }
                out.push((b >> k) & 1 == 1);
            }
        }
        out
    }

    #[inline]
    fn u32_le(&mut self) -> u32 {
        if let Some(w) = self.buf[..self.len].get(self.pos..self.pos + 4) {
            let v = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            self.pos += 4;
            return v;
        }
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    fn u64_le(&mut self) -> u64 {
        let lo = u64::from(self.u32_le());
        let hi = u64::from(self.u32_le());
        lo | (hi << 32)
    }

    /// A uniform value in `0..m` drawn from single bytes by rejection (`1 ≤ m ≤ 256`; `m` is
    /// clamped into that range).
    #[inline]
    pub(crate) fn below_small(&mut self, m: u16) -> u8 {
        let m = u32::from(m.clamp(1, 256));
        let limit = 256 - (256 % m);
        loop {
            let b = u32::from(self.byte());
            if b < limit {
                // b % m < m ≤ 256 fits a byte.
                return (b % m) as u8;
            }
        }
    }

    /// `out.len()` successive [`Sampler::below_small`]`(6)` draws into `out` (the same values
    /// and stream position), branch-free: every byte is reduced by a table and kept unless it
    /// is one of the rejected bytes `252..=255`.
    pub(crate) fn below6_into(&mut self, out: &mut [u8]) {
        /// `b mod 6` for every byte `b`.
        const MOD6: [u8; 256] = {
            let mut t = [0u8; 256];
            let mut b = 0;
            while b < 256 {
                t[b] = (b % 6) as u8;
                b += 1;
            }
            t
        };
        let n = out.len();
        let mut j = 0;
        while j < n {
            if self.pos == self.len {
                // About 256/252 bytes a value, plus a margin.
                self.refill(n - j + (n - j) / 32 + 16);
            }
            // Each byte gives at most one value, so `take` bytes never overshoot `n` values:
            // the stream stops exactly after the byte of the last value, as with `below_small`.
            // First 32-byte windows (while 32 bytes and 32 values remain)...
            let (used, got) =
                crate::kernels::below6_run(&self.buf[self.pos..self.len], &mut out[j..]);
            self.pos += used;
            j += got;
            // ...then the next (at most) 32 bytes one at a time.
            let take = (self.len - self.pos).min(n - j).min(32);
            for &b in &self.buf[self.pos..self.pos + take] {
                // j < n here: at most `take` values are stored from `n - j ≥ take` free slots.
                out[j] = MOD6[usize::from(b)];
                j += usize::from(b < 252);
            }
            self.pos += take;
        }
    }

    /// A uniform value in `0..n` (`n ≥ 1`; `n = 0` is treated as 1).
    #[inline]
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n = n.max(1) as u64;
        if n <= 1 << 32 {
            let mut m = u64::from(self.u32_le()) * n;
            if m & 0xFFFF_FFFF < n {
                // Only now is the (slow) threshold (2^32 − n) mod n needed.
                let threshold = ((1u64 << 32) - n) % n;
                while m & 0xFFFF_FFFF < threshold {
                    m = u64::from(self.u32_le()) * n;
                }
            }
            (m >> 32) as usize
        } else {
            let threshold = n.wrapping_neg() % n;
            loop {
                let x = self.u64_le();
                if x >= threshold {
                    return (x % n) as usize;
                }
            }
        }
    }

    /// A uniform permutation of `0..n` (Fisher–Yates from the identity, `i` from `n−1` down;
    /// key material: wiped when dropped).
    pub(crate) fn permutation(&mut self, n: usize) -> Zeroizing<Vec<u32>> {
        let mut p = Zeroizing::new(Vec::with_capacity(n));
        self.permutation_into(n, &mut p);
        p
    }

    /// [`Sampler::permutation`] into `p` (cleared first; its allocation is reused).
    pub(crate) fn permutation_into(&mut self, n: usize, p: &mut Vec<u32>) {
        p.clear();
        p.extend(0..n as u32);
        if n > 1 << 32 {
            // (Not reached: `p` holds `u32` indices.)
            for i in (1..n).rev() {
                let j = self.below(i + 1);
                p.swap(i, j);
            }
            return;
        }
        let mut i = n.saturating_sub(1);
        while i >= 1 {
            // The draws `below(i + 1)`, `below(i)`, … straight from the buffered words while
            // none may be rejected (`m mod 2^32 ≥ i + 1`, so `m mod 2^32 ≥ (2^32 − (i+1))
            // mod (i+1)` too): what `below` returns for them, without its per-draw checks.
            let words = (self.len - self.pos) / 4;
            let take = words.min(i);
            let mut used = 0;
            for w in self.buf[self.pos..self.pos + 4 * take].chunks_exact(4) {
                let bound = i as u64 + 1;
                let m = u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]])) * bound;
                if m & 0xFFFF_FFFF < bound {
                    break;
                }
                p.swap(i, (m >> 32) as usize);
                used += 1;
                i -= 1;
            }
            self.pos += 4 * used;
            if used == take && take > 0 {
                // The buffer's whole words are used up (or the draws done): go on.
                continue;
            }
            if i >= 1 {
                // A possible rejection, or fewer than four buffered bytes: one draw through
                // `below` (which refills; about four stream bytes a draw still to come).
                self.want = 4 * i;
                let j = self.below(i + 1);
                p.swap(i, j);
                i -= 1;
            }
        }
        self.want = 0;
    }
}

/// The derivation context of a scheme's generators: `H ‖ W ‖ C` as big-endian `u32`s, followed
/// by `extra` (big-endian `u32`s, e.g. the block size), so a key never yields related streams for
/// two shapes or block sizes.
pub(crate) fn context(shape: Shape, extra: &[u32]) -> Vec<u8> {
    let mut c = Vec::with_capacity(12 + 4 * extra.len());
    for v in [shape.height(), shape.width(), shape.channels()] {
        c.extend_from_slice(&(v as u32).to_be_bytes());
    }
    for v in extra {
        c.extend_from_slice(&v.to_be_bytes());
    }
    c
}

/// The inverse of a permutation given as a gather (`inv[p[k]] = k`).
pub(crate) fn invert(p: &[u32]) -> Vec<u32> {
    let mut inv = vec![0u32; p.len()];
    for (k, &v) in p.iter().enumerate() {
        if let Some(slot) = inv.get_mut(v as usize) {
            *slot = k as u32;
        }
    }
    inv
}

/// Paper A's Table 1 (normative): under code `k`, output channel `c` takes input channel
/// `TABLE1[k][c]`. Rows in code order 0..5: RGB, RBG, GRB, GBR, BRG, BGR.
pub const TABLE1: [[u8; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

/// `TABLE1_INV[k]` is the inverse permutation of `TABLE1[k]` (undoes code `k`).
pub(crate) const TABLE1_INV: [[u8; 3]; 6] = {
    let mut inv = [[0u8; 3]; 6];
    let mut k = 0;
    while k < 6 {
        let mut c = 0;
        while c < 3 {
            inv[k][TABLE1[k][c] as usize] = c as u8;
            c += 1;
        }
        k += 1;
    }
    inv
};

/// Applies `out[j] = inp[j] ^ mask[j]` over equal-length slices (auto-vectorised).
#[inline]
pub(crate) fn xor_into(data: &mut [u8], mask: &[u8]) {
    // Word-wise over u64 chunks; the compiler turns this into SIMD XORs.
    let mut d = data.chunks_exact_mut(8);
    let mut m = mask.chunks_exact(8);
    for (a, b) in (&mut d).zip(&mut m) {
        let x = u64::from_ne_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]])
            ^ u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        a.copy_from_slice(&x.to_ne_bytes());
    }
    for (a, b) in d.into_remainder().iter_mut().zip(m.remainder()) {
        *a ^= *b;
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    fn sampler() -> Sampler {
        Sampler::new(&MasterSecret::from_bytes([3; 32]), "test", b"")
    }

    #[test]
    fn byte_stream_is_the_keystream() {
        let mut s = sampler();
        let mut rng = MasterSecret::from_bytes([3; 32]).derive_rng("test", b"");
        let mut expect = [0u8; 600];
        rng.fill_bytes(&mut expect);
        let got: Vec<u8> = (0..600).map(|_| s.byte()).collect();
        assert_eq!(got, expect);
        // below() on u32 equals next_u32's little-endian word.
        let mut s = sampler();
        let mut rng = MasterSecret::from_bytes([3; 32]).derive_rng("test", b"");
        assert_eq!(s.u32_le(), rng.next_u32());
    }

    #[test]
    fn seeded_stream_is_the_keystream() {
        let seed: [u8; 32] = std::array::from_fn(|i| (i * 13 + 1) as u8);
        let mut s = Sampler::from_seed(seed);
        let mut rng = <ChaCha20Rng as rand_core::SeedableRng>::from_seed(seed);
        let mut expect = vec![0u8; 3000];
        rng.fill_bytes(&mut expect);
        let mut got = vec![0u8; 1000];
        s.fill(&mut got);
        got.extend((0..2000).map(|_| s.byte()));
        assert_eq!(got, expect);
    }

    /// A reseeded sampler reads the new seed's stream from its start, whatever the last
    /// stream left in its buffer (part read, several refills), and keeps its high-water mark
    /// (what its drop wipes).
    #[test]
    fn reseeded_sampler_reads_the_new_stream() {
        let seeds: [[u8; 32]; 3] =
            std::array::from_fn(|k| std::array::from_fn(|i| (i * 7 + k) as u8));
        let draws = |s: &mut Sampler| {
            let mut codes = vec![0u8; 1500];
            s.below6_into(&mut codes);
            let mut bits = vec![0u8; 100];
            s.fill(&mut bits);
            (s.permutation(96), codes, bits, s.byte())
        };
        let mut s = Sampler::from_seed(seeds[0]);
        let mut big = vec![0u8; 2500];
        s.fill(&mut big);
        for (k, &seed) in seeds.iter().enumerate().skip(1) {
            let hi = s.hi;
            s.reseed(seed);
            assert_eq!(s.hi, hi, "seed {k}");
            assert_eq!(
                draws(&mut s),
                draws(&mut Sampler::from_seed(seed)),
                "seed {k}"
            );
        }
    }

    /// The sampler of `seed` on `rand_chacha` (the source `from_seed` takes without AVX2).
    fn rng_sampler(seed: [u8; 32]) -> Sampler {
        Sampler {
            src: Source::Rng(<ChaCha20Rng as rand_core::SeedableRng>::from_seed(seed)),
            buf: [0; BUF_CAP],
            pos: 0,
            len: 0,
            hi: 0,
            want: 0,
        }
    }

    /// Every draw, whatever the refill sizes of the SIMD source (eight or sixteen blocks),
    /// reads the same stream as on `rand_chacha`.
    #[test]
    fn seeded_draws_match_the_rng_source() {
        let seed: [u8; 32] = std::array::from_fn(|i| (i * 29 + 7) as u8);
        let mut a = Sampler::from_seed(seed);
        let mut b = rng_sampler(seed);
        for round in 0..3 {
            for n in [1usize, 96, 700, 3000] {
                assert_eq!(a.permutation(n), b.permutation(n), "round {round}, {n}");
                let mut x = vec![0u8; 3 * n];
                let mut y = vec![0u8; 3 * n];
                a.below6_into(&mut x);
                b.below6_into(&mut y);
                assert_eq!(x, y, "round {round}, {n}");
                a.fill(&mut x[..n]);
                b.fill(&mut y[..n]);
                assert_eq!(x, y, "round {round}, {n}");
                assert_eq!(a.below(1000), b.below(1000));
                assert_eq!(a.byte(), b.byte());
            }
        }
    }

    /// `permutation_into`'s batched draws equal the definition (`below(i + 1)` one at a time),
    /// also from a stream position that is not a multiple of four and for a size whose draws
    /// often meet the rejection test (`m mod 2^32 < i + 1`, about once in 2^12 draws here).
    #[test]
    fn permutation_is_the_fisher_yates_definition() {
        let seed: [u8; 32] = std::array::from_fn(|i| (i * 5 + 1) as u8);
        for (skip, n) in [
            (0usize, 0usize),
            (0, 1),
            (0, 2),
            (1, 96),
            (3, 700),
            (2, 1 << 20),
        ] {
            let mut a = Sampler::from_seed(seed);
            let mut b = rng_sampler(seed);
            for _ in 0..skip {
                assert_eq!(a.byte(), b.byte());
            }
            let got = a.permutation(n);
            let mut want: Vec<u32> = (0..n as u32).collect();
            for i in (1..n).rev() {
                let j = b.below(i + 1);
                want.swap(i, j);
            }
            assert!(*got == want, "n = {n}, skip = {skip}");
            assert_eq!(a.byte(), b.byte(), "same stream position after n = {n}");
        }
    }

    #[test]
    fn small_draws_are_in_range_and_cover() {
        let mut s = sampler();
        let mut seen = [0usize; 6];
        for _ in 0..6000 {
            seen[usize::from(s.below_small(6))] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        for m in [1u16, 2, 7, 255, 256] {
            for _ in 0..50 {
                assert!(u16::from(s.below_small(m)) < m);
            }
        }
        let mut a = sampler();
        let mut b = sampler();
        assert_eq!(a.below(1 << 32) as u32, b.u32_le());
        let mut seen3 = [0usize; 3];
        for _ in 0..3000 {
            seen3[s.below(3)] += 1;
        }
        assert!(seen3.iter().all(|&c| c > 850), "{seen3:?}");
        for n in [1usize, 2, 3, 1000, 1 << 20, (1 << 31) + 1] {
            for _ in 0..50 {
                assert!(s.below(n) < n);
            }
        }
    }

    #[test]
    fn below6_into_equals_below_small() {
        for n in [0usize, 1, 5, 300, 1000, 2500] {
            let mut a = sampler();
            let mut b = sampler();
            let mut got = vec![0u8; n];
            a.below6_into(&mut got);
            let want: Vec<u8> = (0..n).map(|_| b.below_small(6)).collect();
            assert_eq!(got, want, "{n}");
            assert_eq!(a.byte(), b.byte(), "same stream position after {n} draws");
        }
    }

    #[test]
    fn permutations_are_permutations() {
        let mut s = sampler();
        for n in [0usize, 1, 2, 5, 96, 1000] {
            let p = s.permutation(n);
            let mut sorted = p.to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..n as u32).collect::<Vec<_>>());
            let inv = invert(&p);
            for k in 0..n {
                assert_eq!(inv[p[k] as usize] as usize, k);
            }
        }
    }

    #[test]
    fn bits_are_lsb_first() {
        let mut a = sampler();
        let mut b = sampler();
        let bits = a.bits(12);
        let b0 = b.byte();
        let b1 = b.byte();
        for k in 0..8 {
            assert_eq!(bits[k], (b0 >> k) & 1 == 1);
        }
        for k in 0..4 {
            assert_eq!(bits[8 + k], (b1 >> k) & 1 == 1);
        }
    }

    #[test]
    fn table1_inverse() {
        for k in 0..6 {
            for c in 0..3 {
                assert_eq!(TABLE1_INV[k][TABLE1[k][c] as usize] as usize, c);
            }
        }
    }

    #[test]
    fn xor_into_matches_bytewise() {
        let data: Vec<u8> = (0..37u8).collect();
        let mask: Vec<u8> = (0..37u8).map(|v| v.wrapping_mul(91)).collect();
        let mut a = data.clone();
        xor_into(&mut a, &mask);
        for i in 0..37 {
            assert_eq!(a[i], data[i] ^ mask[i]);
        }
    }
}
