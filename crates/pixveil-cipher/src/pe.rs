//! Paper A (Sirichotedumrong, Maekawa, Kinoshita, Kiya, ICIP 2019): pixel-based encryption.
//!
//! # Algorithm
//! For an `H×W×C` image (`HWC` bytes, byte index `k = (row·W + col)·C + c`):
//!
//! 1. **Negative–positive (NP)**: one independent fair bit `r[k]` per byte (per row, column and
//!    channel); `p' = p ⊕ 0xFF` (= `255 − p`) where `r[k] = 1`, `p' = p` otherwise. Not "exactly
//!    half": each bit is a fair coin, as in the paper (`P(r) = 0.5`).
//! 2. **Colour-component shuffle** (only if `shuffle` and `C = 3`): one code `s[i] ∈ 0..6` per
//!    pixel `i = row·W + col`; output channel `c` of pixel `i` takes input channel
//!    `TABLE1[s[i]][c]` ([`TABLE1`], paper A's Table 1, normative:
//!    `[[0,1,2],[0,2,1],[1,0,2],[1,2,0],[2,0,1],[2,1,0]]`, i.e. RGB, RBG, GRB, GBR, BRG, BGR).
//!    Every code is a true permutation of the three channels. For `C = 1` the shuffle is a
//!    no-op (there is nothing to permute) and no codes are drawn.
//!
//! Encryption is NP then shuffle; decryption undoes the shuffle with each code's inverse
//! permutation, then re-applies NP (an involution).
//!
//! # Key derivation
//! With `ctx = H ‖ W ‖ C ‖ shuffle` (big-endian `u32`s, `shuffle` 0 or 1: derivation
//! [`KdfVersion::V2`], so `pe` and `pe-np` never share an NP mask) or `ctx = H ‖ W ‖ C`
//! ([`KdfVersion::V1`] key files) and the byte-stream conventions of the sampler
//! (ChaCha20 keystream bytes in order, see `sample.rs` / `docs/schemes.md`):
//! * NP bits: generator `derive_rng("pixveil/v1/pe/np", ctx)`; `r[k]` is bit `k mod 8`
//!   (least significant first) of stream byte `⌊k/8⌋`, for `k = 0 .. H·W·C`.
//! * Shuffle codes (only if `shuffle` and `C = 3`): generator
//!   `derive_rng("pixveil/v1/pe/shuffle", ctx)`; for pixels `i = 0 .. H·W` in row-major order,
//!   draw stream bytes until one is `< 252`, and set `s[i] = byte mod 6`.
//!
//! # Key space
//! `2^{3n}·6^n` for `n = H·W` RGB pixels (`3n + n·log2 6 ≈ 5.585·n` bits; 5 719 bits for
//! 32×32); `2^n` for grey or NP-only on `C = 1`. With a fixed key one known plaintext–ciphertext
//! pair reveals every NP bit and, where a pixel's three values differ, its code.
//!
//! # Implementation
//! Everything is precomputed at construction: NP-only is one XOR with a `H·W·C`-byte mask;
//! NP + shuffle is a branch-free five-way byte stencil (each output byte takes a byte at most two
//! positions away, inside its pixel) followed by an XOR with the shuffled mask; on AVX2 CPUs it
//! is instead the XOR with the mask, then the per-pixel shuffle of the codes with `pshufb`
//! (ten pixels a step, the controls computed from the codes).

use pixveil_core::MasterSecret;
use pixveil_image::Shape;
use zeroize::Zeroizing;

use crate::{
    error::check_len,
    kernels::{has_avx2, shuffle3, SHUFFLE_DEC, SHUFFLE_ENC},
    sample::{context, xor_into, Sampler, TABLE1_INV},
    scratch::Stencil,
    spec::KdfVersion,
    Cipher, Result,
};

pub use crate::sample::TABLE1;

/// Derivation label of the NP bits.
pub const LABEL_NP: &str = "pixveil/v1/pe/np";
/// Derivation label of the colour-shuffle codes.
pub const LABEL_SHUFFLE: &str = "pixveil/v1/pe/shuffle";

/// Paper A's cipher for one shape: NP, plus (optionally) the per-pixel colour shuffle.
///
/// Invariant: the mask and the codes (key material) are wiped when the cipher is dropped.
pub struct Pe {
    shape: Shape,
    mask: Zeroizing<Vec<u8>>,
    codes: Option<Zeroizing<Vec<u8>>>,
    kernels: Option<(Stencil, Stencil)>,
}

/// The derivation context of `pe`'s generators under `kdf`.
fn pe_context(shape: Shape, shuffle: bool, kdf: KdfVersion) -> Vec<u8> {
    match kdf {
        KdfVersion::V1 => context(shape, &[]),
        KdfVersion::V2 | KdfVersion::V3 => context(shape, &[u32::from(shuffle)]),
    }
}

/// The NP mask of `shape` (`H·W·C` bytes, each `0x00` or `0xFF`) for `secret`.
fn np_mask(shape: Shape, secret: &MasterSecret, ctx: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut s = Sampler::new(secret, LABEL_NP, ctx);
    let bits = s.bits(shape.len());
    let mut mask = Zeroizing::new(Vec::with_capacity(bits.len()));
    mask.extend(bits.iter().map(|&b| if b { 0xFF } else { 0 }));
    mask
}

/// Applies per-pixel Table 1 codes to `data` (`3·codes.len()` bytes) using `table`.
fn permute_pixels(data: &[u8], codes: &[u8], table: &[[u8; 3]; 6]) -> Vec<u8> {
    let mut out = vec![0u8; data.len()];
    for ((o, px), &code) in out.chunks_exact_mut(3).zip(data.chunks_exact(3)).zip(codes) {
        let row = table[usize::from(code) % 6];
        for (c, slot) in o.iter_mut().enumerate() {
            *slot = px[usize::from(row[c])];
        }
    }
    out
}

/// Per-byte source offsets (`−2..=2`) of a per-pixel channel permutation.
fn offsets(codes: &[u8], table: &[[u8; 3]; 6]) -> Vec<i8> {
    let mut out = Vec::with_capacity(codes.len() * 3);
    for &code in codes {
        let row = table[usize::from(code) % 6];
        for (c, &src) in row.iter().enumerate() {
            out.push(src as i8 - c as i8);
        }
    }
    out
}

impl Pe {
    /// Builds paper A's cipher for `shape` with the current key derivation: NP, plus the colour
    /// shuffle if `shuffle` (ignored when `shape` has one channel).
    ///
    /// # Errors
    /// None at present (every shape is accepted); the `Result` keeps the constructor uniform.
    pub fn new(shape: Shape, secret: &MasterSecret, shuffle: bool) -> Result<Self> {
        Self::with_kdf(shape, secret, shuffle, KdfVersion::CURRENT)
    }

    /// As [`Pe::new`], under derivation version `kdf`.
    ///
    /// # Errors
    /// None at present; see [`Pe::new`].
    pub fn with_kdf(
        shape: Shape,
        secret: &MasterSecret,
        shuffle: bool,
        kdf: KdfVersion,
    ) -> Result<Self> {
        let ctx = pe_context(shape, shuffle, kdf);
        let mask = np_mask(shape, secret, &ctx);
        if !(shuffle && shape.channels() == 3) {
            return Ok(Self {
                shape,
                mask,
                codes: None,
                kernels: None,
            });
        }
        let mut s = Sampler::new(secret, LABEL_SHUFFLE, &ctx);
        let mut codes = Zeroizing::new(Vec::with_capacity(shape.pixels()));
        codes.extend((0..shape.pixels()).map(|_| s.below_small(6)));
        // Encryption: y = shuffle(x ⊕ m) = shuffle(x) ⊕ shuffle(m).
        let enc = Stencil::new(
            &Zeroizing::new(offsets(&codes, &TABLE1)),
            permute_pixels(&mask, &codes, &TABLE1),
        );
        // Decryption: x = unshuffle(y) ⊕ m.
        let dec = Stencil::new(&Zeroizing::new(offsets(&codes, &TABLE1_INV)), mask.to_vec());
        Ok(Self {
            shape,
            mask,
            codes: Some(codes),
            kernels: Some((enc, dec)),
        })
    }

    /// The NP mask: `H·W·C` bytes, `0xFF` where the NP bit is 1, `0x00` elsewhere (`HWC` order).
    pub fn np_mask(&self) -> &[u8] {
        &self.mask
    }

    /// The per-pixel colour-shuffle codes (`H·W` values in `0..6`, row-major), or `None` when
    /// the shuffle is off or the image has one channel.
    pub fn codes(&self) -> Option<&[u8]> {
        self.codes.as_ref().map(|c| c.as_slice())
    }

    /// True when this cipher is a pure XOR with [`Pe::np_mask`] (no colour shuffle).
    pub fn is_xor_only(&self) -> bool {
        self.kernels.is_none()
    }

    /// Consumes the cipher, returning its NP mask (for chains that merge XOR pads).
    pub(crate) fn into_mask(mut self) -> Zeroizing<Vec<u8>> {
        std::mem::take(&mut self.mask)
    }
}

impl Cipher for Pe {
    fn shape(&self) -> Shape {
        self.shape
    }

    fn encrypt(&self, image: &mut [u8]) -> Result<()> {
        check_len(self.shape, image)?;
        match (&self.kernels, &self.codes) {
            (None, _) => xor_into(image, &self.mask),
            // On AVX2 the XOR pass and the `pshufb` shuffle beat the five-way stencil.
            (Some(_), Some(codes)) if has_avx2() => {
                xor_into(image, &self.mask);
                shuffle3(image, codes, &SHUFFLE_ENC);
            }
            (Some((enc, _)), _) => enc.apply(image),
        }
        Ok(())
    }

    fn decrypt(&self, image: &mut [u8]) -> Result<()> {
        check_len(self.shape, image)?;
        match (&self.kernels, &self.codes) {
            (None, _) => xor_into(image, &self.mask),
            (Some(_), Some(codes)) if has_avx2() => {
                shuffle3(image, codes, &SHUFFLE_DEC);
                xor_into(image, &self.mask);
            }
            (Some((_, dec)), _) => dec.apply(image),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> MasterSecret {
        MasterSecret::from_bytes(std::array::from_fn(|i| i as u8))
    }

    #[test]
    fn table1_known_answers() {
        // Paper A, Table 1: code 2 = (G, R, B): "red replaced by green, green by red".
        let px = [10u8, 20, 30];
        let expect: [[u8; 3]; 6] = [
            [10, 20, 30],
            [10, 30, 20],
            [20, 10, 30],
            [20, 30, 10],
            [30, 10, 20],
            [30, 20, 10],
        ];
        for (code, want) in expect.iter().enumerate() {
            assert_eq!(
                permute_pixels(&px, &[code as u8], &TABLE1),
                want.to_vec(),
                "code {code}"
            );
            assert_eq!(
                permute_pixels(want, &[code as u8], &TABLE1_INV),
                px.to_vec(),
                "inverse of code {code}"
            );
        }
    }

    #[test]
    fn stencil_matches_reference() {
        let shape = Shape::new(5, 7, 3).unwrap();
        let pe = Pe::new(shape, &secret(), true).unwrap();
        let img: Vec<u8> = (0..shape.len()).map(|i| (i * 37 % 251) as u8).collect();
        let mut fast = img.clone();
        pe.encrypt(&mut fast).unwrap();
        let np: Vec<u8> = img.iter().zip(pe.np_mask()).map(|(a, b)| a ^ b).collect();
        let reference = permute_pixels(&np, pe.codes().unwrap(), &TABLE1);
        assert_eq!(fast, reference);
        pe.decrypt(&mut fast).unwrap();
        assert_eq!(fast, img);
    }

    #[test]
    fn np_bits_follow_the_documented_stream() {
        let shape = Shape::new(4, 4, 3).unwrap();
        let pe = Pe::new(shape, &secret(), false).unwrap();
        let mut rng = secret().derive_rng(LABEL_NP, &context(shape, &[0]));
        let mut bytes = [0u8; 6];
        rand_core::RngCore::fill_bytes(&mut rng, &mut bytes);
        for (k, &m) in pe.np_mask().iter().enumerate() {
            let bit = (bytes[k / 8] >> (k % 8)) & 1;
            assert_eq!(m, if bit == 1 { 0xFF } else { 0 });
        }
        assert!(pe.is_xor_only());
    }

    #[test]
    fn grey_shuffle_is_noop() {
        let shape = Shape::new(6, 6, 1).unwrap();
        let a = Pe::new(shape, &secret(), true).unwrap();
        let b = Pe::new(shape, &secret(), false).unwrap();
        assert!(a.codes().is_none());
        // Derivation v2 puts the flag in the context: the two are different keys even where the
        // shuffle does nothing. v1 key files keep their shared mask.
        assert_ne!(a.np_mask(), b.np_mask());
        let a1 = Pe::with_kdf(shape, &secret(), true, KdfVersion::V1).unwrap();
        let b1 = Pe::with_kdf(shape, &secret(), false, KdfVersion::V1).unwrap();
        assert_eq!(a1.np_mask(), b1.np_mask());
    }

    /// Issue 15, item 4: under v1 `pe` and `pe-np` share one NP mask (a `pe` ciphertext and a
    /// `pe-np` ciphertext of one secret XOR to a colour shuffle of known structure); under v2
    /// they do not.
    #[test]
    fn pe_and_pe_np_masks_are_independent() {
        let shape = Shape::new(8, 8, 3).unwrap();
        let mask = |shuffle, kdf| {
            Pe::with_kdf(shape, &secret(), shuffle, kdf)
                .unwrap()
                .np_mask()
                .to_vec()
        };
        assert_eq!(mask(true, KdfVersion::V1), mask(false, KdfVersion::V1));
        let (a, b) = (mask(true, KdfVersion::V2), mask(false, KdfVersion::V2));
        let agree = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        // Independent fair bits: about half agree (192 bytes; far from all of them).
        assert!((40..152).contains(&agree), "{agree} of {}", a.len());
        assert_ne!(mask(true, KdfVersion::V1), a);
    }

    #[test]
    fn all_codes_occur() {
        let shape = Shape::new(16, 16, 3).unwrap();
        let pe = Pe::new(shape, &secret(), true).unwrap();
        let mut seen = [false; 6];
        for &c in pe.codes().unwrap() {
            seen[usize::from(c)] = true;
        }
        assert_eq!(seen, [true; 6]);
    }
}
