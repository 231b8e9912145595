//! Arithmetic modulo a single prime `q` of at most [`MAX_MODULUS_BITS`] bits.
//!
//! Two precomputed-multiplication techniques are provided:
//! - **Barrett** reduction of 64- and 128-bit values ([`Modulus::reduce`],
//!   [`Modulus::reduce_u128`], [`Modulus::mul`]) for products of two variable operands;
//! - **Shoup** multiplication ([`Modulus::shoup`], [`Modulus::mul_shoup`]) when one operand
//!   is fixed (NTT twiddles, key material): one high multiplication and one low
//!   multiplication, with a lazy result in `[0, 2q)`.
//!
//! All routines run in constant time with respect to their operand values (no data-dependent
//! branches other than conditional subtractions compiled to selects).

use crate::{Error, Result};

/// Largest supported modulus size in bits. 61 bits leaves room for the lazy `[0, 4q)` range
/// of the Harvey NTT and for summing 32 products in a `u128` before reducing.
pub const MAX_MODULUS_BITS: u32 = 61;

/// A prime modulus with its precomputed Barrett constants.
///
/// Invariant: `q` is an odd prime with `2 < q < 2^61`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Modulus {
    q: u64,
    /// `floor(2^64 / q)`, for single-word Barrett reduction.
    ratio64: u64,
    /// `floor(2^128 / q)`, low and high words, for double-word Barrett reduction.
    ratio128: (u64, u64),
    bits: u32,
}

/// `-(b) ` as a mask: all ones if `b`, zero otherwise.
#[inline(always)]
fn mask(b: bool) -> u64 {
    (b as u64).wrapping_neg()
}

impl Modulus {
    /// Creates a modulus after checking that `q` is an odd prime of at most
    /// [`MAX_MODULUS_BITS`] bits.
    ///
    /// # Errors
    /// [`Error::InvalidModulus`] if `q` is not such a prime.
    pub fn new(q: u64) -> Result<Self> {
        let bits = 64 - q.leading_zeros();
        if q < 3 || bits > MAX_MODULUS_BITS || !crate::primes::is_prime(q) {
            return Err(Error::InvalidModulus {
                modulus: q,
                max_bits: MAX_MODULUS_BITS,
            });
        }
        let r128 = u128::MAX / q as u128;
        Ok(Self {
            q,
            ratio64: u64::MAX / q,
            ratio128: (r128 as u64, (r128 >> 64) as u64),
            bits,
        })
    }

    /// The modulus value `q`.
    #[inline(always)]
    pub const fn value(&self) -> u64 {
        self.q
    }

    /// Bit length of `q` (`ceil(log2(q + 1))`).
    #[inline(always)]
    pub const fn bits(&self) -> u32 {
        self.bits
    }

    /// `(a + b) mod q` for `a, b < q`.
    #[inline(always)]
    pub fn add(&self, a: u64, b: u64) -> u64 {
        let s = a + b;
        // `min` with the wrapped difference compiles to cmp + cmov (no data-dependent branch).
        s.min(s.wrapping_sub(self.q))
    }

    /// `(a - b) mod q` for `a, b < q`.
    #[inline(always)]
    pub fn sub(&self, a: u64, b: u64) -> u64 {
        let d = a.wrapping_sub(b);
        d.min(d.wrapping_add(self.q))
    }

    /// `-a mod q` for `a < q`.
    #[inline(always)]
    pub fn neg(&self, a: u64) -> u64 {
        let t = self.q - a;
        t.min(t.wrapping_sub(self.q))
    }

    /// Reduces any 64-bit word modulo `q` (single-word Barrett).
    #[inline(always)]
    pub fn reduce(&self, x: u64) -> u64 {
        let qhat = ((x as u128 * self.ratio64 as u128) >> 64) as u64;
        let r = x.wrapping_sub(qhat.wrapping_mul(self.q));
        r.min(r.wrapping_sub(self.q))
    }

    /// Reduces a 128-bit value `x < 2^122` modulo `q` (double-word Barrett).
    #[inline(always)]
    pub fn reduce_u128(&self, x: u128) -> u64 {
        let (x0, x1) = (x as u64, (x >> 64) as u64);
        let (r0, r1) = self.ratio128;
        let p00 = (x0 as u128 * r0 as u128) >> 64;
        let p01 = x0 as u128 * r1 as u128;
        let p10 = x1 as u128 * r0 as u128;
        // The carries out of bit 128 only affect bits >= 64 of the quotient estimate, which
        // cancel modulo 2^64 below.
        let mid = p01.wrapping_add(p10).wrapping_add(p00);
        let qhat = x1.wrapping_mul(r1).wrapping_add((mid >> 64) as u64);
        let r = x0.wrapping_sub(qhat.wrapping_mul(self.q));
        let r = r.min(r.wrapping_sub(self.q));
        r.min(r.wrapping_sub(self.q))
    }

    /// `(a * b) mod q` for `a, b < q`.
    #[inline(always)]
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        self.reduce_u128(a as u128 * b as u128)
    }

    /// Shoup precomputation for a fixed multiplicand `w < q`: `floor(w * 2^64 / q)`.
    #[inline]
    pub fn shoup(&self, w: u64) -> u64 {
        (((w as u128) << 64) / self.q as u128) as u64
    }

    /// Lazy Shoup multiplication: returns `x * w mod q` in `[0, 2q)` for any `x < 2^64`,
    /// where `w_shoup = self.shoup(w)`.
    #[inline(always)]
    pub fn mul_shoup_lazy(&self, x: u64, w: u64, w_shoup: u64) -> u64 {
        let qhat = ((x as u128 * w_shoup as u128) >> 64) as u64;
        x.wrapping_mul(w).wrapping_sub(qhat.wrapping_mul(self.q))
    }

    /// Shoup multiplication: `x * w mod q` in `[0, q)`, with `w_shoup = self.shoup(w)`.
    #[inline(always)]
    pub fn mul_shoup(&self, x: u64, w: u64, w_shoup: u64) -> u64 {
        let r = self.mul_shoup_lazy(x, w, w_shoup);
        r.min(r.wrapping_sub(self.q))
    }

    /// `a^e mod q` by square-and-multiply (variable time in `e`, which is public).
    pub fn pow(&self, a: u64, mut e: u64) -> u64 {
        let mut base = self.reduce(a);
        let mut acc = 1u64;
        while e > 0 {
            if e & 1 == 1 {
                acc = self.mul(acc, base);
            }
            base = self.mul(base, base);
            e >>= 1;
        }
        acc
    }

    /// Multiplicative inverse of `a` modulo the prime `q`; `None` if `a ≡ 0`.
    pub fn inv(&self, a: u64) -> Option<u64> {
        let a = self.reduce(a);
        (a != 0).then(|| self.pow(a, self.q - 2))
    }

    /// Reduces a signed integer modulo `q` into `[0, q)`.
    #[inline(always)]
    pub fn reduce_i64(&self, x: i64) -> u64 {
        let r = self.reduce(x.unsigned_abs());
        let n = self.neg(r);
        (r & !mask(x < 0)) | (n & mask(x < 0))
    }

    /// Maps `x ∈ [0, q)` to its centered representative in `(-q/2, q/2]`.
    #[inline(always)]
    pub fn center(&self, x: u64) -> i64 {
        // Branch-free: the comparison is data dependent and unpredictable.
        x as i64 - (self.q & mask(x > self.q / 2)) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PRIMES: [u64; 5] = [
        17,
        2_013_265_921,
        67_043_329,
        1_152_921_504_606_830_593,
        2_305_843_009_213_554_689,
    ];

    #[test]
    fn rejects_bad_moduli() {
        for q in [0, 1, 2, 4, 15, 1 << 61, u64::MAX] {
            assert!(Modulus::new(q).is_err(), "{q}");
        }
    }

    proptest! {
        #[test]
        fn laws(idx in 0usize..5, a: u64, b: u64, x: u128) {
            let m = Modulus::new(PRIMES[idx]).unwrap();
            let q = m.value();
            let (a, b) = (a % q, b % q);
            prop_assert_eq!(m.add(a, b) as u128, (a as u128 + b as u128) % q as u128);
            prop_assert_eq!(m.sub(a, b) as u128, (a as u128 + q as u128 - b as u128) % q as u128);
            prop_assert_eq!(m.mul(a, b) as u128, (a as u128 * b as u128) % q as u128);
            prop_assert_eq!(m.reduce(a.wrapping_mul(b)), a.wrapping_mul(b) % q);
            let x = x >> 6;
            prop_assert_eq!(m.reduce_u128(x) as u128, x % q as u128);
            let ws = m.shoup(b);
            prop_assert_eq!(m.mul_shoup(a, b, ws), m.mul(a, b));
            prop_assert!(m.mul_shoup_lazy(a.wrapping_mul(3), b, ws) < 2 * q);
            prop_assert_eq!(m.add(m.neg(a), a), 0);
            prop_assert_eq!(m.reduce_i64(-(a as i64 >> 1)), m.neg(a >> 1));
            if a != 0 {
                prop_assert_eq!(m.mul(a, m.inv(a).unwrap()), 1);
            }
        }
    }
}
