//! Encryption-then-compression (EtC) block scrambling (Kurihara, Chuman, Kiya), following the
//! step list of MDPI *Information* 14(6):311 §2.2.
//!
//! # Algorithm
//! The image is cut into `n = (H/b)·(W/b)` square blocks of `b×b` pixels (`b` must divide `H`
//! and `W`), numbered in row-major order. Every per-block key belongs to an **output** block
//! position `i` and is fixed across images. Encryption, in the paper's order:
//!
//! 1. **Block permutation**: output block `i` takes input block `P[i]`.
//! 2. **Rotation and flip**: orientation `o[i] ∈ 0..8` (the dihedral group D₄), encoded as
//!    `rot = o & 3` (clockwise quarter turns) and `flip = o >> 2` (mirror left–right, applied
//!    after the rotation). Output pixel `(r, c)` of the oriented block takes pixel `(r', c')` of
//!    the moved block, where `c₁ = b−1−c` if `flip` else `c`, and `(r', c')` is
//!    `(r, c₁)`, `(b−1−c₁, r)`, `(b−1−r, b−1−c₁)`, `(c₁, b−1−r)` for `rot` = 0, 1, 2, 3.
//! 3. **Negative–positive**: if the block's bit `np[i]` is 1, every byte of the block is
//!    XORed with `0xFF`. Independent fair bit per block (not exactly half).
//! 4. **Colour shuffle** (`C = 3` only): output channel `ch` takes channel
//!    `TABLE1[s[i]][ch]` (paper A's Table 1 codes, see [`crate::pe::TABLE1`]) for every pixel
//!    of the block.
//!
//! Decryption undoes the steps in reverse order. (NP and the colour shuffle commute, and the
//! whole map is compiled into one table `out[j] = in[src[j]] ⊕ mask[j]`.)
//!
//! # Key derivation
//! With `ctx = H ‖ W ‖ C ‖ b` (big-endian `u32`s), see `docs/schemes.md` for the sampler:
//! * `P = permutation(n)` from `derive_rng("pixveil/v1/etc/perm", ctx)`;
//! * `o[i] = below_small(8)` for `i = 0..n` from `derive_rng("pixveil/v1/etc/orient", ctx)`
//!   (one byte each, `byte mod 8`);
//! * `np[i]` = bit `i` (LSB first) of `derive_rng("pixveil/v1/etc/np", ctx)`;
//! * `s[i] = below_small(6)` for `i = 0..n` from `derive_rng("pixveil/v1/etc/shuffle", ctx)`,
//!   only if `C = 3`.
//!
//! # Key space
//! `n!·8ⁿ·2ⁿ·6ⁿ` for RGB (`log2(n!) + n·(3 + 1 + log2 6)` bits; ≈ 717 bits for 32×32 with
//! `b = 4`), `n!·8ⁿ·2ⁿ` for grey. These count key values; for `b = 1` the eight orientations
//! act identically on a 1×1 block, so the effective count drops to `n!·2ⁿ·6ⁿ` (`n!·2ⁿ` grey).

use pixveil_core::MasterSecret;
use pixveil_image::Shape;

use crate::{
    error::check_len,
    kernels::{etc_blocks, BlockTables, EtcBlockKey, ROW_PAD},
    le::{block_layout, check_block},
    sample::{context, Sampler, TABLE1},
    scratch::{with_copy, Gather},
    Cipher, Result,
};

/// Derivation label of the block permutation.
pub const LABEL_PERM: &str = "pixveil/v1/etc/perm";
/// Derivation label of the block orientations.
pub const LABEL_ORIENT: &str = "pixveil/v1/etc/orient";
/// Derivation label of the block NP bits.
pub const LABEL_NP: &str = "pixveil/v1/etc/np";
/// Derivation label of the block colour-shuffle codes.
pub const LABEL_SHUFFLE: &str = "pixveil/v1/etc/shuffle";

/// The per-block key of EtC block scrambling (all vectors indexed by output block position).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcKey {
    /// Block permutation: output block `i` takes input block `perm[i]`.
    pub perm: Vec<u32>,
    /// Orientation codes `0..8` (`rot = o & 3`, `flip = o >> 2`).
    pub orient: Vec<u8>,
    /// Negative–positive bits.
    pub np: Vec<bool>,
    /// Table 1 colour codes `0..6` (empty for grey images).
    pub shuffle: Vec<u8>,
}

/// EtC block scrambling for one shape and block size.
///
/// Invariant: the per-block key and both gather tables are wiped when the cipher is dropped.
/// `blocks`, present when a block's rows (`b·C` bytes) fit the row-gather kernel
/// (the crate's `etc_blocks`: 8..=16 bytes), applies the same key block by block instead of through the
/// gather tables.
pub struct Etc {
    shape: Shape,
    key: EtcKey,
    enc: Gather,
    dec: Gather,
    blocks: Option<Blocks>,
}

/// The block-kernel form of an [`Etc`] key: the (public) row-gather tables, the blocks' first
/// bytes and the NP bits packed least significant first (key material, wiped on drop).
struct Blocks {
    tables: BlockTables,
    bases: Vec<u32>,
    np: Vec<u8>,
}

/// Source pixel `(r', c')` inside a `b×b` block for output pixel `(r, c)` under orientation `o`.
pub fn orient_source(o: u8, b: usize, r: usize, c: usize) -> (usize, usize) {
    let c1 = if o >> 2 & 1 == 1 { b - 1 - c } else { c };
    match o & 3 {
        0 => (r, c1),
        1 => (b - 1 - c1, r),
        2 => (b - 1 - r, b - 1 - c1),
        _ => (c1, b - 1 - r),
    }
}

impl Etc {
    /// Builds EtC block scrambling for `shape` with `block×block` blocks.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] if `block` is 0 or does not divide the height and width.
    pub fn new(shape: Shape, secret: &MasterSecret, block: u32) -> Result<Self> {
        let b = check_block("etc", shape, block)?;
        let ctx = context(shape, &[block]);
        let (_, bases) = block_layout(shape, b);
        let n = bases.len();
        let perm = std::mem::take(&mut *Sampler::new(secret, LABEL_PERM, &ctx).permutation(n));
        let mut s = Sampler::new(secret, LABEL_ORIENT, &ctx);
        let orient: Vec<u8> = (0..n).map(|_| s.below_small(8)).collect();
        let np = std::mem::take(&mut *Sampler::new(secret, LABEL_NP, &ctx).bits(n));
        let c = shape.channels();
        let shuffle: Vec<u8> = if c == 3 {
            let mut s = Sampler::new(secret, LABEL_SHUFFLE, &ctx);
            (0..n).map(|_| s.below_small(6)).collect()
        } else {
            Vec::new()
        };
        let key = EtcKey {
            perm,
            orient,
            np,
            shuffle,
        };
        // From here on `key` is owned by the cipher, whose `Drop` wipes it.
        let w = shape.width();
        let mut src = vec![0u32; shape.len()];
        let mut mask = vec![0u8; shape.len()];
        // Every key vector has one entry per block (`n`; `shuffle` only for 3 channels), `perm`
        // is a permutation of `0..n`, codes are `< 8` / `< 6`, and block `i`'s pixels lie
        // inside the image: direct indexing below cannot fail unless the sampler is broken.
        for (i, &out_base) in bases.iter().enumerate() {
            let in_base = bases[key.perm[i] as usize] as usize;
            let o = key.orient[i];
            let m = if key.np[i] { 0xFF } else { 0 };
            let row = (c == 3).then(|| TABLE1[usize::from(key.shuffle[i])]);
            for r in 0..b {
                for col in 0..b {
                    let (r2, c2) = orient_source(o, b, r, col);
                    for ch in 0..c {
                        let src_ch = row.map_or(ch, |row| usize::from(row[ch]));
                        let j = out_base as usize + (r * w + col) * c + ch;
                        let from = in_base + (r2 * w + c2) * c + src_ch;
                        src[j] = from as u32;
                        mask[j] = m;
                    }
                }
            }
        }
        let enc = Gather::new(src, mask);
        let dec = enc.inverse();
        let blocks = BlockTables::new(b, c).map(|tables| {
            let mut np = vec![0u8; n.div_ceil(8)];
            for (i, &bit) in key.np.iter().enumerate() {
                np[i / 8] |= u8::from(bit) << (i % 8);
            }
            Blocks { tables, bases, np }
        });
        Ok(Self {
            shape,
            key,
            enc,
            dec,
            blocks,
        })
    }

    /// Applies the key block by block with [`etc_blocks`] (`image` has the cipher's shape).
    fn apply_blocks(&self, blocks: &Blocks, image: &mut [u8], encrypt: bool) {
        let key = EtcBlockKey {
            perm: &self.key.perm,
            orient: &self.key.orient,
            np: &blocks.np,
            codes: &self.key.shuffle,
        };
        let stride = self.shape.width() * self.shape.channels();
        with_copy(image, ROW_PAD, |src, out| {
            etc_blocks(
                &blocks.tables,
                src,
                out,
                stride,
                &blocks.bases,
                &key,
                encrypt,
            );
        });
    }

    /// The per-block key.
    pub fn key(&self) -> &EtcKey {
        &self.key
    }
}

impl Drop for Etc {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.key.perm.zeroize();
        self.key.orient.zeroize();
        self.key.np.zeroize();
        self.key.shuffle.zeroize();
        if let Some(b) = &mut self.blocks {
            b.np.zeroize();
        }
    }
}

impl Cipher for Etc {
    fn shape(&self) -> Shape {
        self.shape
    }

    fn encrypt(&self, image: &mut [u8]) -> Result<()> {
        check_len(self.shape, image)?;
        match &self.blocks {
            Some(b) => self.apply_blocks(b, image, true),
            None => self.enc.apply(image),
        }
        Ok(())
    }

    fn decrypt(&self, image: &mut [u8]) -> Result<()> {
        check_len(self.shape, image)?;
        match &self.blocks {
            Some(b) => self.apply_blocks(b, image, false),
            None => self.dec.apply(image),
        }
        Ok(())
    }
}

/// Test shapes `(H, W, C, b)` covering every block row length (`b·C` bytes, 8..=16) the
/// row-gather kernel handles: the fixed and the per-image tests share them.
#[cfg(test)]
pub(crate) const KERNEL_SHAPES: [(u32, u32, u32, u32); 6] = [
    (8, 12, 3, 4),
    (9, 15, 3, 3),
    (10, 20, 3, 5),
    (16, 24, 1, 8),
    (22, 33, 1, 11),
    (32, 16, 1, 16),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientations_are_the_eight_elements_of_d4() {
        // On a 3×3 block with distinct entries, the eight orientations give eight distinct images.
        let b = 3;
        let mut seen = std::collections::HashSet::new();
        for o in 0..8u8 {
            let img: Vec<(usize, usize)> = (0..b * b)
                .map(|k| orient_source(o, b, k / b, k % b))
                .collect();
            let mut sorted = img.clone();
            sorted.sort_unstable();
            assert_eq!(sorted.len(), 9);
            sorted.dedup();
            assert_eq!(sorted.len(), 9, "orientation {o} is not a bijection");
            seen.insert(img);
        }
        assert_eq!(seen.len(), 8);
        // Rotation 1 is a clockwise quarter turn: the top row becomes the right column.
        assert_eq!(orient_source(1, 3, 0, 2), (0, 0));
        assert_eq!(orient_source(1, 3, 2, 2), (0, 2));
    }

    /// The block path (`BlockTables` and `etc_blocks`, what `encrypt`/`decrypt` run for these
    /// shapes) equals the general gather tables (the construction of the module docs), both
    /// directions, on inputs that are not each other's ciphertexts.
    #[test]
    fn block_kernels_match_the_gather_tables() {
        for (h, w, c, b) in KERNEL_SHAPES {
            let shape = Shape::new(h, w, c).expect("valid shape");
            let etc = Etc::new(shape, &MasterSecret::from_bytes([7; 32]), b).expect("etc builds");
            assert!(etc.blocks.is_some(), "{shape} b={b}: the block path runs");
            let img: Vec<u8> = (0..shape.len()).map(|i| (i * 131 % 251) as u8).collect();
            let (mut fast, mut slow) = (img.clone(), img.clone());
            etc.encrypt(&mut fast).expect("encrypt");
            etc.enc.apply(&mut slow);
            assert_eq!(fast, slow, "{shape} b={b}: encryption");
            let (mut fast, mut slow) = (img.clone(), img.clone());
            etc.decrypt(&mut fast).expect("decrypt");
            etc.dec.apply(&mut slow);
            assert_eq!(fast, slow, "{shape} b={b}: decryption");
        }
    }

    #[test]
    fn block_contents_move_together() {
        let shape = Shape::new(8, 8, 3).unwrap();
        let etc = Etc::new(shape, &MasterSecret::from_bytes([2; 32]), 4).unwrap();
        // Each input block holds one constant colour (k, 2k, 3k); its output block must hold
        // the same multiset of values up to NP, and whole blocks move.
        let (_, bases) = block_layout(shape, 4);
        let (within, _) = block_layout(shape, 4);
        let mut img = vec![0u8; shape.len()];
        for (k, &base) in bases.iter().enumerate() {
            for (t, &o) in within.iter().enumerate() {
                img[(base + o) as usize] = (10 * (k + 1) * (t % 3 + 1)) as u8;
            }
        }
        let mut enc = img.clone();
        etc.encrypt(&mut enc).unwrap();
        let key = etc.key();
        for (i, &base) in bases.iter().enumerate() {
            let k = key.perm[i] as usize;
            let m = if key.np[i] { 0xFF } else { 0 };
            let want: Vec<u8> = TABLE1[usize::from(key.shuffle[i])]
                .iter()
                .map(|&ch| (10 * (k + 1) * (usize::from(ch) + 1)) as u8 ^ m)
                .collect();
            for px in 0..16 {
                let o = within[px * 3] as usize + base as usize;
                assert_eq!(&enc[o..o + 3], want.as_slice());
            }
        }
        etc.decrypt(&mut enc).unwrap();
        assert_eq!(enc, img);
    }
}
