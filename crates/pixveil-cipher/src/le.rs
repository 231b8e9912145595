//! Tanaka's learnable image encryption (ICCE-TW 2018), exactly as the official code
//! (`mastnk/ICCE-TW2018`, `BlockScramble.py`), generalised to a `b×b` block.
//!
//! # Algorithm
//! Let `d = b·b·C`. The image is cut into `(H/b)·(W/b)` blocks of `b×b×C` bytes; `b` must divide
//! `H` and `W`. Every block is processed the same way, with **the same key for every block of
//! every image**:
//!
//! 1. Flatten the block in (row, column, channel) order: bytes `v[0..d]`.
//! 2. Split into `2d` nibbles: `X[t] = v[t] & 0xF` (the **lower** nibbles first, `t < d`), then
//!    `X[d + t] = v[t] >> 4` (the upper nibbles) — `np.concatenate((X & 0xF, X >> 4))`.
//! 3. Key: a permutation `key` of `0..2d`; reversal mask `rev[j] = key[j] > d` (the official
//!    `key > key.size/2`: for `b = 4`, `C = 3`, that is 47 of 96 positions — values 49..95).
//! 4. Encrypt: `X[rev] = 15 − X[rev]`; `X = X[key]` (output `j` takes input `key[j]`);
//!    `X[rev] = 15 − X[rev]`.
//! 5. Merge: `v[t] = (X[d + t] << 4) + X[t]`.
//!
//! Decryption is the same procedure with `argsort(key)` (the inverse permutation) in place of
//! `key` and the same `rev`.
//!
//! # Key derivation
//! `key = permutation(2d)` from `derive_rng("pixveil/v1/le/key", H ‖ W ‖ C ‖ b)` (big-endian
//! `u32`s; Fisher–Yates with unbiased `u32` draws, see `docs/schemes.md`).
//!
//! # Key space
//! `(2d)!` permutations (`log2(96!) ≈ 499.3` bits for `b = 4`, `C = 3`); paper A quotes
//! `96!·2^96` for Tanaka's scheme, but in the official code the reversal mask is a function of
//! the permutation, so it adds no key bits.
//!
//! # Implementation
//! Each output nibble is one input nibble XOR `0` or `15`
//! (`Y[j] = X[key[j]] ⊕ 15·(rev[key[j]] ⊕ rev[j])`), so a per-block table of `d` entries
//! (output byte offset, source byte offsets and nibble shifts, XOR constant, all relative to the
//! block's first byte) is precomputed for each direction and applied to every block. The tables
//! are block-local (`2·d` entries, 16 bytes each), so a key's memory does not grow with the
//! image: a whole-image table would be 22 bytes per image byte (352 MiB at the largest key
//! shape).

use pixveil_core::MasterSecret;
use pixveil_image::Shape;

use crate::{
    error::check_len,
    kernels::{self, has_avx2, simd_rows, NibblePlan},
    sample::{context, invert, Sampler},
    scratch::with_copy,
    Cipher, Error, Result,
};
use zeroize::Zeroizing;

/// Derivation label of the nibble permutation.
pub const LABEL_KEY: &str = "pixveil/v1/le/key";

/// One output byte of a block, offsets relative to the block's first byte:
/// `out[dst] = ((in[lo] >> lo_sh) & 15 | ((in[hi] >> hi_sh) & 15) << 4) ^ xor`.
///
/// All-zero by default: wiped as a [`zeroize::DefaultIsZeroes`] type (a fill, then an
/// optimization barrier).
#[derive(Clone, Copy, Default)]
pub(crate) struct Entry {
    dst: u32,
    lo: u32,
    hi: u32,
    lo_sh: u8,
    hi_sh: u8,
    xor: u8,
}

impl zeroize::DefaultIsZeroes for Entry {}

/// Tanaka's block-wise nibble scrambling for one shape and block size.
///
/// Invariants: `enc` and `dec` have `d = b·b·C` entries whose offsets lie inside one block
/// (`< (b−1)·(W·C) + b·C`); `b` divides `H` and `W`. The key and both tables are wiped when the
/// cipher is dropped. `simd`, present when the AVX2 nibble kernel runs (rows of `b·C` =
/// 8..=16 bytes on an AVX2 CPU), holds the same two keys as nibble plans (wiped on drop)
/// and the blocks' first bytes.
pub struct Le {
    shape: Shape,
    block: usize,
    key: Zeroizing<Vec<u32>>,
    enc: Zeroizing<Vec<Entry>>,
    dec: Zeroizing<Vec<Entry>>,
    simd: Option<Simd>,
}

/// The AVX2 form of an [`Le`] key: one [`NibblePlan`] per direction, and the block bases.
struct Simd {
    enc: NibblePlan,
    dec: NibblePlan,
    bases: Vec<u32>,
}

/// Checks that `block` is positive and divides the height and width of `shape`.
pub(crate) fn check_block(scheme: &'static str, shape: Shape, block: u32) -> Result<usize> {
    let b = block as usize;
    if b == 0 || !shape.height().is_multiple_of(b) || !shape.width().is_multiple_of(b) {
        return Err(Error::InvalidParameter {
            scheme,
            reason: format!(
                "block size {block} must be positive and divide the image sides ({shape})"
            ),
        });
    }
    Ok(b)
}

/// Byte offsets of a block's elements relative to its top-left byte, in (row, col, channel)
/// order.
pub(crate) fn block_offsets(shape: Shape, b: usize) -> Vec<u32> {
    let (w, c) = (shape.width(), shape.channels());
    let mut within = Vec::with_capacity(b * b * c);
    for r in 0..b {
        for col in 0..b {
            for ch in 0..c {
                within.push(((r * w + col) * c + ch) as u32);
            }
        }
    }
    within
}

/// [`block_offsets`], and the offsets of every block's top-left byte (blocks in row-major
/// order).
pub(crate) fn block_layout(shape: Shape, b: usize) -> (Vec<u32>, Vec<u32>) {
    let (w, c) = (shape.width(), shape.channels());
    let mut bases = Vec::with_capacity(shape.pixels() / (b * b));
    for br in 0..shape.height() / b {
        for bc in 0..w / b {
            bases.push(((br * b * w + bc * b) * c) as u32);
        }
    }
    (block_offsets(shape, b), bases)
}

/// The block table of the permutation `ord` (`2d` nibble indices) with reversal mask `rev`,
/// for a block whose byte `t` lies at offset `within[t]` from its first byte.
fn table(ord: &[u32], rev: &[bool], within: &[u32]) -> Zeroizing<Vec<Entry>> {
    let mut out = Zeroizing::new(Vec::with_capacity(within.len()));
    table_into(ord, rev, within, &mut out);
    out
}

/// [`table`] into `out` (cleared first; its allocation is reused).
pub(crate) fn table_into(ord: &[u32], rev: &[bool], within: &[u32], out: &mut Vec<Entry>) {
    let d = within.len();
    // `ord` is a permutation of 0..2d and `rev` has 2d entries, so every index is in range.
    let nib = |j: usize| -> (u32, u8, u8) {
        let q = ord[j] as usize;
        let flip = rev[q] != rev[j];
        (
            within[q % d],
            if q >= d { 4 } else { 0 },
            if flip { 15 } else { 0 },
        )
    };
    out.clear();
    out.extend((0..d).map(|t| {
        let (lo, lo_sh, lo_x) = nib(t);
        let (hi, hi_sh, hi_x) = nib(d + t);
        Entry {
            dst: within[t],
            lo,
            hi,
            lo_sh,
            hi_sh,
            xor: lo_x | (hi_x << 4),
        }
    }));
}

impl Le {
    /// Builds Tanaka's scheme for `shape` with `block×block` blocks.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `block` is 0 or does not divide the height and width.
    pub fn new(shape: Shape, secret: &MasterSecret, block: u32) -> Result<Self> {
        let b = check_block("le", shape, block)?;
        let d = b * b * shape.channels();
        let key = Sampler::new(secret, LABEL_KEY, &context(shape, &[block])).permutation(2 * d);
        let rev: Zeroizing<Vec<bool>> =
            Zeroizing::new(key.iter().map(|&k| k as usize > d).collect());
        let (within, bases) = block_layout(shape, b);
        let inv = Zeroizing::new(invert(&key));
        let enc = table(&key, &rev, &within);
        let dec = table(&inv, &rev, &within);
        let c = shape.channels();
        let simd = (has_avx2() && simd_rows(b, c)).then(|| {
            let mut plans = [NibblePlan::default(), NibblePlan::default()];
            plans[0].build(b, b * c, &key, &rev);
            plans[1].build(b, b * c, &inv, &rev);
            let [enc, dec] = plans;
            Simd { enc, dec, bases }
        });
        Ok(Self {
            shape,
            block: b,
            key,
            enc,
            dec,
            simd,
        })
    }

    /// The nibble permutation (`2·b·b·C` values; output nibble `j` takes input nibble `key[j]`).
    pub fn key(&self) -> &[u32] {
        &self.key
    }

    fn apply(&self, image: &mut [u8], encrypt: bool) -> Result<()> {
        check_len(self.shape, image)?;
        if let Some(simd) = &self.simd {
            let plan = if encrypt { &simd.enc } else { &simd.dec };
            let stride = self.shape.width() * self.shape.channels();
            let done = kernels::le_blocks_in_place(plan, image, stride, &simd.bases);
            assert!(done, "the plans are built only where the AVX2 kernels run");
        } else {
            let t = if encrypt { &self.enc } else { &self.dec };
            apply_table(self.shape, self.block, image, t);
        }
        Ok(())
    }
}

/// Applies the block table `t` (from [`table_into`] for `shape` and block side `b`) to every
/// block of `image` (`shape.len()` bytes, checked by the caller).
pub(crate) fn apply_table(shape: Shape, b: usize, image: &mut [u8], t: &[Entry]) {
    let (w, c) = (shape.width(), shape.channels());
    let row = w * c;
    with_copy(image, 0, |s, image| {
        // Block (br, bc) starts at byte (br·b·W + bc·b)·C; every entry offset stays inside
        // the block (the tables' invariant), so every index is below H·W·C = image.len().
        for base_row in (0..shape.height()).step_by(b) {
            for base_col in (0..w).step_by(b) {
                let base = base_row * row + base_col * c;
                for e in t {
                    let l = (s[base + e.lo as usize] >> e.lo_sh) & 15;
                    let h = (s[base + e.hi as usize] >> e.hi_sh) & 15;
                    image[base + e.dst as usize] = (l | (h << 4)) ^ e.xor;
                }
            }
        }
    });
}

impl Cipher for Le {
    fn shape(&self) -> Shape {
        self.shape
    }

    fn encrypt(&self, image: &mut [u8]) -> Result<()> {
        self.apply(image, true)
    }

    fn decrypt(&self, image: &mut [u8]) -> Result<()> {
        self.apply(image, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A direct transcription of `BlockScramble.doScramble` for one block.
    fn reference_block(v: &[u8], ord: &[u32], rev: &[bool]) -> Vec<u8> {
        let d = v.len();
        let mut x: Vec<u8> = v
            .iter()
            .map(|b| b & 0xF)
            .chain(v.iter().map(|b| b >> 4))
            .collect();
        for (j, r) in rev.iter().enumerate() {
            if *r {
                x[j] = 15 - x[j];
            }
        }
        let mut y: Vec<u8> = ord.iter().map(|&k| x[k as usize]).collect();
        for (j, r) in rev.iter().enumerate() {
            if *r {
                y[j] = 15 - y[j];
            }
        }
        (0..d).map(|t| (y[d + t] << 4) + y[t]).collect()
    }

    #[test]
    fn matches_official_algorithm() {
        let shape = Shape::new(8, 8, 3).unwrap();
        let le = Le::new(shape, &MasterSecret::from_bytes([1; 32]), 4).unwrap();
        let d = 48;
        let rev: Vec<bool> = le.key().iter().map(|&k| k as usize > d).collect();
        assert_eq!(rev.iter().filter(|&&r| r).count(), 47);
        let img: Vec<u8> = (0..shape.len()).map(|i| (i * 101 % 256) as u8).collect();
        let mut enc = img.clone();
        le.encrypt(&mut enc).unwrap();
        let (within, bases) = block_layout(shape, 4);
        for &base in &bases {
            let block: Vec<u8> = within.iter().map(|&o| img[(base + o) as usize]).collect();
            let want = reference_block(&block, le.key(), &rev);
            let got: Vec<u8> = within.iter().map(|&o| enc[(base + o) as usize]).collect();
            assert_eq!(got, want);
        }
        le.decrypt(&mut enc).unwrap();
        assert_eq!(enc, img);
    }

    #[test]
    fn block_must_divide() {
        let shape = Shape::new(28, 28, 1).unwrap();
        let s = MasterSecret::from_bytes([1; 32]);
        for b in [0, 3, 8, 29] {
            assert!(
                matches!(Le::new(shape, &s, b), Err(Error::InvalidParameter { .. })),
                "{b}"
            );
        }
        assert!(Le::new(shape, &s, 7).is_ok());
    }
}
