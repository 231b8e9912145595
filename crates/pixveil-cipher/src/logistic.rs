//! Paper B (Ahmad & Shin, KICS 2022): XOR with a logistic-map keystream whose positions are
//! shuffled by a second key.
//!
//! Paper B's parameters are not published (only its abstract could be read), so pixveil defines
//! them here; they are pixveil's choices, not the paper's.
//!
//! # Algorithm
//! With `ctx = H ‖ W ‖ C ‖ burn_in` (big-endian `u32`s; derivation [`KdfVersion::V2`], so two
//! burn-ins give unrelated keystreams rather than shifted copies of one orbit) or
//! `ctx = H ‖ W ‖ C` ([`KdfVersion::V1`] key files), and `L = H·W·C`:
//!
//! 1. **Map parameters** from `derive_rng("pixveil/v1/logistic/map", ctx)`, read as little-endian
//!    `u64`s (`next_u64`), in this order:
//!    * `x₀ = (⌊u₁ / 2^12⌋ + 0.5) / 2^52` — the top 52 bits of `u₁`; exactly `(2m+1)/2^53`, so
//!      `x₀ ∈ (0, 1)` and never a dyadic point of small order (0, ¼, ½, ¾ …), whose orbits fall
//!      onto the fixed point 0 in floating point;
//!    * `μ = 4 − (⌊u₂ / 2^20⌋ + 1)·2^−51` — the top 44 bits of `u₂`; every value is exactly
//!      representable, `μ ∈ [4 − 2^−7, 4 − 2^−51] ⊂ [3.9921875, 4)`. Why there: near `μ = 4` the
//!      map is fully chaotic on (0, 1) (Lyapunov exponent → ln 2), far from the periodic windows
//!      below (e.g. period 3 near 3.83); `μ = 4` itself is excluded because `4·½·½ = 1` maps to
//!      the fixed point 0, and with `μ < 4` the orbit stays below `μ/4 < 1`, so it never reaches 0.
//! 2. **Iterate** `x ← μ·x·(1 − x)` in IEEE-754 binary64, evaluated exactly as
//!    `(mu * x) * (1.0 - x)` with round-to-nearest and no fused multiply–add (Rust never fuses
//!    implicitly), so every machine computes the same orbit. The first `burn_in` iterates are
//!    discarded ([`DEFAULT_BURN_IN`] = 1000, at most [`MAX_BURN_IN`]).
//! 3. **Quantise**: the next `L` iterates `x` give `raw[i] = ⌊x·2^16⌋ mod 256` (bits 9–16 of the
//!    binary fraction of `x`; in code `((x * 65536.0) as u64 & 0xFF) as u8`). The leading bits
//!    follow the map's arcsine density and are strongly biased; bits 9–16 are close to uniform.
//! 4. **Shuffle** ("a second key shuffles the sequence"): a permutation `π` of `0..L` from
//!    `derive_rng("pixveil/v1/logistic/shuffle", ctx)` (Fisher–Yates, see `docs/schemes.md`);
//!    keystream `s[j] = raw[π[j]]`.
//! 5. **Encrypt / decrypt**: `c = p ⊕ s` (byte `j` of the `HWC` image with `s[j]`); decryption is
//!    the same XOR.
//!
//! # Security note
//! With a fixed key the keystream is the same for every image: the scheme is a fixed XOR pad, and
//! **one known plaintext–ciphertext pair reveals it** (`s = p ⊕ c`); one chosen all-zero image
//! returns `s` itself. The shuffle key does not change this. Nominal key space: 52 + 44 bits for
//! the map plus `log2(L!)` for the shuffle; the effective space against known plaintext is
//! irrelevant (zero work), and against brute force the map part is at most 96 bits.

use pixveil_core::MasterSecret;
use pixveil_image::Shape;

use zeroize::Zeroizing;

use crate::{
    error::check_len,
    sample::{context, xor_into, Sampler},
    spec::KdfVersion,
    Cipher, Error, Result,
};

/// Default number of discarded logistic-map iterations.
pub const DEFAULT_BURN_IN: u32 = 1000;

/// Largest burn-in accepted (100 × the default): the map runs this many iterations each time a
/// key is built — once per image in per-image mode — so a key file cannot ask for billions.
pub const MAX_BURN_IN: u32 = 100_000;

/// Checks `burn_in ≤ MAX_BURN_IN`.
///
/// # Errors
/// [`Error::InvalidParameter`] otherwise.
pub fn check_burn_in(burn_in: u32) -> Result<()> {
    if burn_in > MAX_BURN_IN {
        return Err(Error::InvalidParameter {
            scheme: "logistic",
            reason: format!("burn-in {burn_in} is above the limit of {MAX_BURN_IN}"),
        });
    }
    Ok(())
}

/// Derivation label of the map parameters `x₀` and `μ`.
pub const LABEL_MAP: &str = "pixveil/v1/logistic/map";
/// Derivation label of the keystream shuffle.
pub const LABEL_SHUFFLE: &str = "pixveil/v1/logistic/shuffle";

/// Paper B's cipher for one shape: a fixed (per key) XOR keystream of `H·W·C` bytes.
///
/// Invariant: the keystream is wiped when the cipher is dropped.
pub struct Logistic {
    shape: Shape,
    keystream: Zeroizing<Vec<u8>>,
}

/// The map parameters `(x₀, μ)` for two generator outputs (see the module docs).
pub fn map_parameters(u1: u64, u2: u64) -> (f64, f64) {
    let x0 = ((u1 >> 12) as f64 + 0.5) / 4_503_599_627_370_496.0; // 2^52
    let mu = 4.0 - ((u2 >> 20) as f64 + 1.0) * (1.0 / 2_251_799_813_685_248.0); // 2^-51
    (x0, mu)
}

/// The unshuffled logistic byte sequence: `len` quantised iterates after `burn_in` discarded ones.
pub fn raw_sequence(x0: f64, mu: f64, burn_in: u32, len: usize) -> Vec<u8> {
    let mut x = x0;
    for _ in 0..burn_in {
        x = mu * x * (1.0 - x);
    }
    (0..len)
        .map(|_| {
            x = mu * x * (1.0 - x);
            ((x * 65536.0) as u64 & 0xFF) as u8
        })
        .collect()
}

impl Logistic {
    /// Builds the cipher for `shape` with the current key derivation, discarding `burn_in`
    /// iterations of the map.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `burn_in` is above [`MAX_BURN_IN`].
    pub fn new(shape: Shape, secret: &MasterSecret, burn_in: u32) -> Result<Self> {
        Self::with_kdf(shape, secret, burn_in, KdfVersion::CURRENT)
    }

    /// As [`Logistic::new`], under derivation version `kdf`.
    ///
    /// # Errors
    /// As [`Logistic::new`].
    pub fn with_kdf(
        shape: Shape,
        secret: &MasterSecret,
        burn_in: u32,
        kdf: KdfVersion,
    ) -> Result<Self> {
        check_burn_in(burn_in)?;
        let ctx = match kdf {
            KdfVersion::V1 => context(shape, &[]),
            KdfVersion::V2 | KdfVersion::V3 => context(shape, &[burn_in]),
        };
        let mut rng = secret.derive_rng(LABEL_MAP, &ctx);
        let u1 = Zeroizing::new(rand_core::RngCore::next_u64(&mut rng));
        let u2 = Zeroizing::new(rand_core::RngCore::next_u64(&mut rng));
        let (x0, mu) = map_parameters(*u1, *u2);
        let raw = Zeroizing::new(raw_sequence(x0, mu, burn_in, shape.len()));
        let perm = Sampler::new(secret, LABEL_SHUFFLE, &ctx).permutation(shape.len());
        let mut keystream = Zeroizing::new(Vec::with_capacity(perm.len()));
        // `perm` is a permutation of 0..L and `raw` has L bytes: every index is in range.
        keystream.extend(perm.iter().map(|&p| raw[p as usize]));
        Ok(Self { shape, keystream })
    }

    /// The keystream: `H·W·C` bytes XORed onto the `HWC` image.
    pub fn keystream(&self) -> &[u8] {
        &self.keystream
    }

    /// Consumes the cipher, returning its keystream (for chains that merge XOR pads).
    pub(crate) fn into_keystream(mut self) -> Zeroizing<Vec<u8>> {
        std::mem::take(&mut self.keystream)
    }
}

impl Cipher for Logistic {
    fn shape(&self) -> Shape {
        self.shape
    }

    fn encrypt(&self, image: &mut [u8]) -> Result<()> {
        check_len(self.shape, image)?;
        xor_into(image, &self.keystream);
        Ok(())
    }

    fn decrypt(&self, image: &mut [u8]) -> Result<()> {
        self.encrypt(image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_in_range() {
        for (u1, u2) in [(0u64, 0u64), (u64::MAX, u64::MAX), (1 << 63, 1 << 63)] {
            let (x0, mu) = map_parameters(u1, u2);
            assert!(x0 > 0.0 && x0 < 1.0, "{x0}");
            assert!((3.992_187_5..4.0).contains(&mu), "{mu}");
        }
        let (x0, _) = map_parameters(1 << 63, 0);
        assert_ne!(x0, 0.5);
    }

    /// Known answers for the map parameters and the binary64 orbit, so that the keystream is the
    /// same on every machine and across pixveil versions. Source of truth: an independent Python
    /// reimplementation of `docs/schemes.md` §3, `scripts/reference/logistic_orbit.py`, whose
    /// printed values are pasted here (`python3 scripts/reference/logistic_orbit.py`).
    #[test]
    fn orbit_is_pinned() {
        let bits = |(x0, mu): (f64, f64)| (x0.to_bits(), mu.to_bits());
        assert_eq!(
            bits(map_parameters(0, 0)),
            (0x3ca0_0000_0000_0000, 0x400f_ffff_ffff_ffff)
        );
        assert_eq!(
            bits(map_parameters(u64::MAX, u64::MAX)),
            (0x3fef_ffff_ffff_ffff, 0x400f_f000_0000_0000)
        );
        let (x0, mu) = map_parameters(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);
        assert_eq!(
            bits((x0, mu)),
            (0x3f72_3456_789a_bc80, 0x400f_f012_3456_789a)
        );
        assert_eq!(
            raw_sequence(0.3, 3.99, 10, 16),
            [114, 168, 65, 153, 73, 217, 144, 226, 96, 44, 236, 86, 194, 50, 234, 198]
        );
        assert_eq!(
            raw_sequence(x0, mu, 1000, 32),
            [
                151, 9, 128, 251, 219, 103, 247, 154, 174, 171, 177, 38, 57, 227, 39, 109, 75, 21,
                108, 27, 252, 150, 89, 166, 237, 93, 119, 80, 154, 153, 142, 178
            ]
        );
    }

    /// Issue 15, item 4: under v1 burn-ins `b` and `b + k` give keystreams drawn from one orbit
    /// shifted by `k` (the same shuffle applied to shifted raw sequences); under v2 the burn-in
    /// is in the context and the two are unrelated.
    #[test]
    fn burn_in_is_in_the_context() {
        let shape = Shape::new(8, 8, 1).unwrap();
        let secret = MasterSecret::from_bytes([4; 32]);
        let raw = |burn_in, kdf| {
            let ctx = match kdf {
                KdfVersion::V1 => context(shape, &[]),
                KdfVersion::V2 | KdfVersion::V3 => context(shape, &[burn_in]),
            };
            let mut rng = secret.derive_rng(LABEL_MAP, &ctx);
            let u1 = rand_core::RngCore::next_u64(&mut rng);
            let u2 = rand_core::RngCore::next_u64(&mut rng);
            let (x0, mu) = map_parameters(u1, u2);
            raw_sequence(x0, mu, burn_in, 64)
        };
        // v1: the orbit after 100 + 5 is the orbit after 100 moved by 5.
        assert_eq!(
            raw(105, KdfVersion::V1)[..59],
            raw(100, KdfVersion::V1)[5..]
        );
        assert_ne!(
            raw(105, KdfVersion::V2)[..59],
            raw(100, KdfVersion::V2)[5..]
        );
        // And the built keystreams follow their version's contexts.
        let v1 = Logistic::with_kdf(shape, &secret, 100, KdfVersion::V1).unwrap();
        let v2 = Logistic::with_kdf(shape, &secret, 100, KdfVersion::V2).unwrap();
        assert_ne!(v1.keystream(), v2.keystream());
    }

    #[test]
    fn burn_in_is_bounded() {
        let shape = Shape::new(4, 4, 1).unwrap();
        let secret = MasterSecret::from_bytes([4; 32]);
        assert!(Logistic::new(shape, &secret, MAX_BURN_IN).is_ok());
        for kdf in [KdfVersion::V1, KdfVersion::V2] {
            assert!(matches!(
                Logistic::with_kdf(shape, &secret, MAX_BURN_IN + 1, kdf),
                Err(Error::InvalidParameter { .. })
            ));
        }
        assert!(matches!(
            Logistic::new(shape, &secret, u32::MAX),
            Err(Error::InvalidParameter { .. })
        ));
    }

    #[test]
    fn keystream_looks_balanced() {
        let shape = Shape::new(64, 64, 3).unwrap();
        let l = Logistic::new(shape, &MasterSecret::from_bytes([9; 32]), DEFAULT_BURN_IN).unwrap();
        let mut hist = [0usize; 256];
        for &b in l.keystream() {
            hist[usize::from(b)] += 1;
        }
        // 12 288 bytes, 48 expected per value: every value occurs.
        assert!(hist.iter().all(|&h| h > 10), "{hist:?}");
    }
}
