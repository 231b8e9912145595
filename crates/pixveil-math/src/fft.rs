//! Complex numbers and the CKKS "special" FFT.
//!
//! CKKS packs `N/2` complex slots into a real polynomial of degree `< N` through the
//! canonical embedding restricted to the roots `ζ^{5^j}` (`ζ = e^{iπ/N}` a primitive `2N`-th
//! root of unity, `j = 0 … N/2 − 1`). [`SpecialFft::forward`] evaluates (coefficients → slots)
//! and [`SpecialFft::inverse`] interpolates (slots → coefficients), each in `O(N log N)`, with
//! slots in bit-reversed order internally (the HEAAN/SEAL layout). With this layout the
//! automorphism `X → X^{5^k}` rotates the slot vector left by `k`, and `X → X^{-1}` conjugates
//! every slot.

use core::ops::{Add, Mul, Neg, Sub};

/// A complex number in `f64`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Complex {
    /// Real part.
    pub re: f64,
    /// Imaginary part.
    pub im: f64,
}

impl Complex {
    /// `re + i·im`.
    pub const fn new(re: f64, im: f64) -> Self {
        Self { re, im }
    }
    /// Complex conjugate.
    pub fn conj(self) -> Self {
        Self::new(self.re, -self.im)
    }
    /// Modulus `|z|`.
    pub fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }
    /// `e^{iθ}`.
    pub fn from_angle(theta: f64) -> Self {
        Self::new(theta.cos(), theta.sin())
    }
    /// Multiplication by a real.
    pub fn scale(self, s: f64) -> Self {
        Self::new(self.re * s, self.im * s)
    }
}

impl From<f64> for Complex {
    fn from(re: f64) -> Self {
        Self::new(re, 0.0)
    }
}

impl Add for Complex {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self::new(self.re + o.re, self.im + o.im)
    }
}
impl Sub for Complex {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self::new(self.re - o.re, self.im - o.im)
    }
}
impl Mul for Complex {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        Self::new(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }
}
impl Neg for Complex {
    type Output = Self;
    fn neg(self) -> Self {
        Self::new(-self.re, -self.im)
    }
}

/// Precomputed roots and rotation group for the special FFT of a ring of degree `N`.
#[derive(Debug, Clone)]
pub struct SpecialFft {
    slots: usize,
    m: usize,
    rot_group: Vec<usize>,
    /// `ζ^k = e^{2πik/M}` for `k = 0 … M` (`M = 2N`).
    roots: Vec<Complex>,
}

fn bit_reverse_in_place<T>(v: &mut [T]) {
    let n = v.len();
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = crate::ntt::bit_reverse(i, bits);
        if i < j {
            v.swap(i, j);
        }
    }
}

impl SpecialFft {
    /// Tables for degree `n` (a power of two ≥ 4): `n/2` slots, `M = 2n`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidDegree`] if `n` is not a power of two in `4..=2^17`.
    pub fn new(n: usize) -> crate::Result<Self> {
        if !n.is_power_of_two() || !(4..=crate::ntt::MAX_DEGREE).contains(&n) {
            return Err(crate::Error::InvalidDegree {
                degree: n,
                min: 4,
                max: crate::ntt::MAX_DEGREE,
            });
        }
        let m = 2 * n;
        let slots = n / 2;
        let mut rot_group = Vec::with_capacity(slots);
        let mut g = 1usize;
        for _ in 0..slots {
            rot_group.push(g);
            g = g * 5 % m;
        }
        let roots = (0..=m)
            .map(|k| Complex::from_angle(2.0 * core::f64::consts::PI * k as f64 / m as f64))
            .collect();
        Ok(Self {
            slots,
            m,
            rot_group,
            roots,
        })
    }

    /// Number of complex slots `N/2`.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// The rotation group `5^j mod 2N`, `j = 0 … N/2 − 1`.
    pub fn rotation_group(&self) -> &[usize] {
        &self.rot_group
    }

    /// Evaluation (decoding direction): `vals` holds `v_j = c_j + i·c_{j+N/2}` built from the
    /// coefficients; on return it holds the slot values. `vals.len()` must be a power of two
    /// `≤ N/2` (sparse packing uses a shorter vector).
    ///
    /// # Panics
    /// If `vals.len() > N/2` (out-of-range root index).
    pub fn forward(&self, vals: &mut [Complex]) {
        let size = vals.len();
        debug_assert!(size.is_power_of_two() && size <= self.slots);
        bit_reverse_in_place(vals);
        let mut len = 2;
        while len <= size {
            let lenh = len >> 1;
            let lenq = len << 2;
            let gap = self.m / lenq;
            for i in (0..size).step_by(len) {
                for j in 0..lenh {
                    let idx = (self.rot_group[j] % lenq) * gap;
                    let u = vals[i + j];
                    let v = vals[i + j + lenh] * self.roots[idx];
                    vals[i + j] = u + v;
                    vals[i + j + lenh] = u - v;
                }
            }
            len <<= 1;
        }
    }

    /// Interpolation (encoding direction), the exact inverse of [`SpecialFft::forward`].
    ///
    /// # Panics
    /// If `vals.len() > N/2`.
    pub fn inverse(&self, vals: &mut [Complex]) {
        let size = vals.len();
        debug_assert!(size.is_power_of_two() && size <= self.slots);
        let mut len = size;
        while len >= 2 {
            let lenh = len >> 1;
            let lenq = len << 2;
            let gap = self.m / lenq;
            for i in (0..size).step_by(len) {
                for j in 0..lenh {
                    let idx = (lenq - (self.rot_group[j] % lenq)) * gap;
                    let u = vals[i + j] + vals[i + j + lenh];
                    let v = (vals[i + j] - vals[i + j + lenh]) * self.roots[idx];
                    vals[i + j] = u;
                    vals[i + j + lenh] = v;
                }
            }
            len >>= 1;
        }
        bit_reverse_in_place(vals);
        let inv = 1.0 / size as f64;
        for v in vals.iter_mut() {
            *v = v.scale(inv);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_embedding() {
        let n = 64;
        let f = SpecialFft::new(n).unwrap();
        let slots: Vec<Complex> = (0..n / 2)
            .map(|i| Complex::new(i as f64 * 0.25 - 3.0, (i as f64).sin()))
            .collect();
        let mut v = slots.clone();
        f.inverse(&mut v);
        // v encodes the real polynomial with coefficients c_j = re(v_j), c_{j+N/2} = im(v_j);
        // evaluating it at ζ^{5^k} must give slot k.
        let coeffs: Vec<f64> = v
            .iter()
            .map(|c| c.re)
            .chain(v.iter().map(|c| c.im))
            .collect();
        for (k, want) in slots.iter().enumerate() {
            let e = f.rotation_group()[k];
            let mut acc = Complex::default();
            for (j, &c) in coeffs.iter().enumerate() {
                let ang = core::f64::consts::PI * (e * j) as f64 / n as f64;
                acc = acc + Complex::from_angle(ang).scale(c);
            }
            assert!((acc - *want).abs() < 1e-9, "slot {k}: {acc:?} vs {want:?}");
        }
        f.forward(&mut v);
        for (a, b) in v.iter().zip(&slots) {
            assert!((*a - *b).abs() < 1e-12);
        }
    }
}
