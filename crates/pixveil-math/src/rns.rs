//! Residue number system: CRT composition and fast basis conversion.
//!
//! A value `x ∈ [0, Q)` with `Q = q_0 ⋯ q_{L-1}` is stored as its residues `x_i = x mod q_i`.
//! [`RnsComposer`] reconstructs `x` exactly (as a centered `f64`, for decoding);
//! [`BasisConverter`] is the Bajard–Eynard–Hasan–Zucca fast base conversion
//! `x ↦ Σ_i [x_i·(Q/q_i)^{-1}]_{q_i}·(Q/q_i) mod p_j`, exact up to an additive `u·Q` with
//! `0 ≤ u < L`.

use crate::zq::Modulus;
use crate::{Error, Result};

fn check_basis(moduli: &[u64]) -> Result<Vec<Modulus>> {
    if moduli.is_empty() {
        return Err(Error::EmptyBasis);
    }
    let ms = moduli
        .iter()
        .map(|&q| Modulus::new(q))
        .collect::<Result<Vec<_>>>()?;
    for (i, a) in moduli.iter().enumerate() {
        if moduli[..i].contains(a) {
            return Err(Error::DuplicateModulus { modulus: *a });
        }
    }
    Ok(ms)
}

/// `(Q/q_i)^{-1} mod q_i` for every `i`.
fn punctured_inverses(ms: &[Modulus]) -> Result<Vec<u64>> {
    ms.iter()
        .enumerate()
        .map(|(i, mi)| {
            let prod = ms
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .fold(1u64, |acc, (_, mj)| mi.mul(acc, mi.reduce(mj.value())));
            mi.inv(prod).ok_or(Error::DuplicateModulus {
                modulus: mi.value(),
            })
        })
        .collect()
}

/// The limbs of the little-endian number `a`, then zeros forever: numbers of different
/// lengths are compared and combined as if zero-extended (that is their value, not a fallback).
fn zero_extended(a: &[u64]) -> impl Iterator<Item = u64> + '_ {
    a.iter().copied().chain(core::iter::repeat(0))
}

/// Little-endian multi-word multiply-accumulate: `acc += a * b` (`a` no longer than `acc`).
fn mac_limbs(acc: &mut [u64], a: &[u64], b: u64) {
    debug_assert!(a.len() <= acc.len(), "acc must hold every limb of a");
    let mut carry = 0u128;
    for (slot, x) in acc.iter_mut().zip(zero_extended(a)) {
        let prod = x as u128 * b as u128;
        let s = *slot as u128 + prod + carry;
        *slot = s as u64;
        carry = s >> 64;
    }
}

/// `a >= b` for little-endian numbers of any lengths (the shorter one zero-extended).
fn ge_limbs(a: &[u64], b: &[u64]) -> bool {
    let common = a.len().min(b.len());
    if a[common..].iter().any(|&x| x != 0) {
        return true;
    }
    if b[common..].iter().any(|&y| y != 0) {
        return false;
    }
    for (&x, &y) in a[..common].iter().zip(&b[..common]).rev() {
        if x != y {
            return x > y;
        }
    }
    true
}

/// `a -= b` (`b` no longer than `a`).
fn sub_limbs(a: &mut [u64], b: &[u64]) {
    debug_assert!(b.len() <= a.len(), "a must hold every limb of b");
    let mut borrow = 0u64;
    for (slot, y) in a.iter_mut().zip(zero_extended(b)) {
        let (d1, b1) = slot.overflowing_sub(y);
        let (d2, b2) = d1.overflowing_sub(borrow);
        *slot = d2;
        borrow = (b1 | b2) as u64;
    }
}

fn limbs_to_f64(a: &[u64]) -> f64 {
    a.iter().rev().fold(0.0f64, |acc, &w| {
        acc * 18_446_744_073_709_551_616.0 + w as f64
    })
}

/// Exact CRT reconstruction over a basis `q_0, …, q_{L-1}`.
#[derive(Debug, Clone)]
pub struct RnsComposer {
    ms: Vec<Modulus>,
    /// `Q` as little-endian 64-bit limbs (one spare limb).
    q: Vec<u64>,
    /// `⌊Q/2⌋`.
    half_q: Vec<u64>,
    /// `Q / q_i` as limbs.
    q_star: Vec<Vec<u64>>,
    /// `(Q / q_i)^{-1} mod q_i` and Shoup companion.
    q_tilde: Vec<(u64, u64)>,
}

impl RnsComposer {
    /// Precomputes the CRT constants for the pairwise distinct primes `moduli`.
    ///
    /// # Errors
    /// [`Error::EmptyBasis`], [`Error::InvalidModulus`] or [`Error::DuplicateModulus`].
    pub fn new(moduli: &[u64]) -> Result<Self> {
        let ms = check_basis(moduli)?;
        let limbs = ms.len() + 1;
        let product = |skip: Option<usize>| {
            let mut acc = vec![0u64; limbs];
            acc[0] = 1;
            for (j, m) in ms.iter().enumerate() {
                if Some(j) != skip {
                    let prev = core::mem::replace(&mut acc, vec![0u64; limbs]);
                    mac_limbs(&mut acc, &prev, m.value());
                }
            }
            acc
        };
        let mut q = product(None);
        // Keep the limbs Q needs plus one spare (sums of L < 2^6 terms below Q fit in it).
        let used = q.iter().rposition(|&x| x != 0).map_or(1, |p| p + 1) + 1;
        q.truncate(used);
        let mut half_q = q.clone();
        // Shift right by one bit: each limb takes the low bit of the next; the top one a zero.
        for k in 0..half_q.len() - 1 {
            half_q[k] = (half_q[k] >> 1) | (half_q[k + 1] << 63);
        }
        let top = half_q.len() - 1;
        half_q[top] >>= 1;
        let q_star = (0..ms.len())
            .map(|i| {
                let mut v = product(Some(i));
                v.truncate(used);
                v
            })
            .collect();
        let q_tilde = punctured_inverses(&ms)?
            .into_iter()
            .zip(&ms)
            .map(|(t, m)| (t, m.shoup(t)))
            .collect();
        Ok(Self {
            ms,
            q,
            half_q,
            q_star,
            q_tilde,
        })
    }

    /// Number of moduli `L`.
    pub fn len(&self) -> usize {
        self.ms.len()
    }

    /// Always false (bases are non-empty).
    pub fn is_empty(&self) -> bool {
        self.ms.is_empty()
    }

    /// `log2(Q)` as a float.
    pub fn log2_q(&self) -> f64 {
        self.ms.iter().map(|m| (m.value() as f64).log2()).sum()
    }

    /// Reconstructs `x mod Q` from its residues (`residues[i] < q_i`) and returns its centered
    /// representative in `(-Q/2, Q/2]` as the nearest `f64`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `residues.len() != L`.
    pub fn compose_centered(&self, residues: &[u64]) -> Result<f64> {
        if residues.len() != self.ms.len() {
            return Err(Error::LengthMismatch {
                expected: self.ms.len(),
                actual: residues.len(),
            });
        }
        let mut acc = vec![0u64; self.q.len() + 1];
        for (i, (&x, m)) in residues.iter().zip(&self.ms).enumerate() {
            let (t, ts) = self.q_tilde[i];
            let y = m.mul_shoup(m.reduce(x), t, ts);
            mac_limbs(&mut acc, &self.q_star[i], y);
        }
        // acc < L·Q: subtract Q at most L times.
        while ge_limbs(&acc, &self.q) {
            sub_limbs(&mut acc, &self.q);
        }
        if ge_limbs(&self.half_q, &acc) {
            Ok(limbs_to_f64(&acc))
        } else {
            let mut neg = self.q.clone();
            neg.push(0);
            sub_limbs(&mut neg, &acc);
            Ok(-limbs_to_f64(&neg))
        }
    }
}

/// `a -= b·k` (little-endian limbs); returns true on borrow out (result negative).
fn sub_mul_limbs(a: &mut [u64], b: &[u64], k: u64) -> bool {
    debug_assert!(b.len() <= a.len(), "a must hold every limb of b");
    let mut carry = 0u128; // pending amount to subtract at this limb
    let mut borrow = 0u64;
    for (slot, x) in a.iter_mut().zip(zero_extended(b)) {
        let prod = x as u128 * k as u128 + carry;
        let (d1, b1) = slot.overflowing_sub(prod as u64);
        let (d2, b2) = d1.overflowing_sub(borrow);
        *slot = d2;
        borrow = (b1 | b2) as u64;
        carry = prod >> 64;
    }
    borrow != 0 || carry != 0
}

impl RnsComposer {
    /// Batch version of [`RnsComposer::compose_centered`]: `rows[i][k]` is coefficient `k`
    /// modulo `q_i`; writes the centered values to `out[k]`. Reuses one scratch buffer and
    /// reduces modulo `Q` with a floating-point quotient estimate, so it is several times
    /// faster than calling `compose_centered` per coefficient.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if the row count is not `L` or the lengths differ.
    pub fn compose_centered_rows(&self, rows: &[&[u64]], out: &mut [f64]) -> Result<()> {
        if rows.len() != self.ms.len() {
            return Err(Error::LengthMismatch {
                expected: self.ms.len(),
                actual: rows.len(),
            });
        }
        if let Some(r) = rows.iter().find(|r| r.len() != out.len()) {
            return Err(Error::LengthMismatch {
                expected: out.len(),
                actual: r.len(),
            });
        }
        let limbs = self.q.len() + 1;
        let mut acc = vec![0u64; limbs];
        let mut neg = vec![0u64; limbs];
        let inv_q: Vec<f64> = self.ms.iter().map(|m| 1.0 / m.value() as f64).collect();
        for (k, o) in out.iter_mut().enumerate() {
            acc.fill(0);
            let mut v = 0.0f64;
            for (i, m) in self.ms.iter().enumerate() {
                let (t, ts) = self.q_tilde[i];
                let y = m.mul_shoup(m.reduce(rows[i][k]), t, ts);
                mac_limbs(&mut acc, &self.q_star[i], y);
                v += y as f64 * inv_q[i];
            }
            // acc = Q·Σ y_i/q_i; floor of the (slightly lowered) estimate never overshoots.
            let kq = (v - 1e-9).floor().max(0.0) as u64;
            if sub_mul_limbs(&mut acc, &self.q, kq) {
                // Cannot happen with a non-overshooting estimate; recompute exactly.
                acc.fill(0);
                for (i, m) in self.ms.iter().enumerate() {
                    let (t, ts) = self.q_tilde[i];
                    mac_limbs(
                        &mut acc,
                        &self.q_star[i],
                        m.mul_shoup(m.reduce(rows[i][k]), t, ts),
                    );
                }
            }
            while ge_limbs(&acc, &self.q) {
                sub_limbs(&mut acc, &self.q);
            }
            *o = if ge_limbs(&self.half_q, &acc) {
                limbs_to_f64(&acc)
            } else {
                neg.fill(0);
                neg[..self.q.len()].copy_from_slice(&self.q);
                sub_limbs(&mut neg, &acc);
                -limbs_to_f64(&neg)
            };
        }
        Ok(())
    }
}

/// Fast (approximate) basis conversion from basis `Q = {q_i}` to basis `P = {p_j}`.
#[derive(Debug, Clone)]
pub struct BasisConverter {
    from: Vec<Modulus>,
    to: Vec<Modulus>,
    /// `(Q/q_i)^{-1} mod q_i` with Shoup companion.
    q_tilde: Vec<(u64, u64)>,
    /// `(Q/q_i) mod p_j`, indexed `[j][i]`.
    q_star_mod_p: Vec<Vec<u64>>,
}

impl BasisConverter {
    /// Precomputes the conversion constants.
    ///
    /// # Errors
    /// If either basis is empty or invalid, or the union of the bases has a repeated prime.
    pub fn new(from: &[u64], to: &[u64]) -> Result<Self> {
        let all: Vec<u64> = from.iter().chain(to).copied().collect();
        check_basis(&all)?;
        let from_m = check_basis(from)?;
        let to_m = check_basis(to)?;
        let q_tilde = punctured_inverses(&from_m)?
            .into_iter()
            .zip(&from_m)
            .map(|(t, m)| (t, m.shoup(t)))
            .collect();
        let q_star_mod_p = to_m
            .iter()
            .map(|p| {
                (0..from_m.len())
                    .map(|i| {
                        from_m
                            .iter()
                            .enumerate()
                            .filter(|&(k, _)| k != i)
                            .fold(1u64, |acc, (_, qk)| p.mul(acc, p.reduce(qk.value())))
                    })
                    .collect()
            })
            .collect();
        Ok(Self {
            from: from_m,
            to: to_m,
            q_tilde,
            q_star_mod_p,
        })
    }

    /// Converts `rows_in` (one slice of `n` residues per source prime) into `rows_out` (one
    /// slice per target prime). Output `y_j ≡ x + u·Q (mod p_j)` with `0 ≤ u < L`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if the row counts or lengths disagree.
    pub fn convert(&self, rows_in: &[&[u64]], rows_out: &mut [&mut [u64]]) -> Result<()> {
        if rows_in.len() != self.from.len() || rows_out.len() != self.to.len() {
            return Err(Error::LengthMismatch {
                expected: self.from.len() + self.to.len(),
                actual: rows_in.len() + rows_out.len(),
            });
        }
        // `rows_in.len() == self.from.len()`, and a basis is never empty (`check_basis`).
        let n = rows_in[0].len();
        if rows_in.iter().any(|r| r.len() != n) || rows_out.iter().any(|r| r.len() != n) {
            return Err(Error::LengthMismatch {
                expected: n,
                actual: 0,
            });
        }
        let mut y = vec![0u64; self.from.len()];
        for k in 0..n {
            for (i, m) in self.from.iter().enumerate() {
                let (t, ts) = self.q_tilde[i];
                y[i] = m.mul_shoup(rows_in[i][k], t, ts);
            }
            for (j, p) in self.to.iter().enumerate() {
                let acc: u128 = y
                    .iter()
                    .zip(&self.q_star_mod_p[j])
                    .map(|(&a, &b)| a as u128 * b as u128)
                    .sum();
                rows_out[j][k] = p.reduce_u128(acc);
            }
        }
        Ok(())
    }
}

impl BasisConverter {
    /// Exact, centered basis conversion: like [`BasisConverter::convert`] but the overflow
    /// `u·Q` is removed with a floating-point estimate of `u` (Halevi–Polyakov–Shoup) and the
    /// result is the centered representative of `x` in `(−Q/2, Q/2]`, reduced modulo each
    /// target prime. Off by `±Q` only when `x` is within ≈ 2^-40·Q of `±Q/2`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if the row counts or lengths disagree.
    pub fn convert_centered(&self, rows_in: &[&[u64]], rows_out: &mut [&mut [u64]]) -> Result<()> {
        if rows_in.len() != self.from.len() || rows_out.len() != self.to.len() {
            return Err(Error::LengthMismatch {
                expected: self.from.len() + self.to.len(),
                actual: rows_in.len() + rows_out.len(),
            });
        }
        // `rows_in.len() == self.from.len()`, and a basis is never empty (`check_basis`).
        let n = rows_in[0].len();
        if rows_in.iter().any(|r| r.len() != n) || rows_out.iter().any(|r| r.len() != n) {
            return Err(Error::LengthMismatch {
                expected: n,
                actual: 0,
            });
        }
        let inv: Vec<f64> = self.from.iter().map(|m| 1.0 / m.value() as f64).collect();
        let l = self.from.len();
        // Pass 1: y_i = [x_i·q̃_i]_{q_i} for every coefficient, and the correction
        // round(Σ y_i/q_i) ∈ [0, L].
        let mut y = vec![0u64; l * n];
        let mut corr = vec![0u8; n];
        for (i, m) in self.from.iter().enumerate() {
            let (t, ts) = self.q_tilde[i];
            for (dst, &x) in y[i * n..(i + 1) * n].iter_mut().zip(rows_in[i]) {
                *dst = m.mul_shoup(x, t, ts);
            }
        }
        let mut v = vec![0f64; n];
        for (i, &w) in inv.iter().enumerate() {
            for (acc, &yi) in v.iter_mut().zip(&y[i * n..(i + 1) * n]) {
                *acc += yi as f64 * w;
            }
        }
        for (c, &vk) in corr.iter_mut().zip(&v) {
            *c = vk.round() as u8;
        }
        // Pass 2, per target prime: Σ_i y_i·(Q/q_i mod p_j) − corr·Q mod p_j.
        let small = self
            .from
            .iter()
            .chain(&self.to)
            .all(|m| m.value() < 1 << 31)
            && l <= 2;
        for (j, p) in self.to.iter().enumerate() {
            let q_mod_p = self
                .from
                .iter()
                .fold(1u64, |acc, q| p.mul(acc, p.reduce(q.value())));
            let table: Vec<u64> = (0..=l as u64).map(|c| p.mul(c, q_mod_p)).collect();
            let out = &mut *rows_out[j];
            let cs = &self.q_star_mod_p[j];
            if small {
                // Products < 2^62, at most two of them: the sum fits a u64.
                for (k, o) in out.iter_mut().enumerate() {
                    let mut acc = 0u64;
                    for (i, &c) in cs.iter().enumerate() {
                        acc += y[i * n + k] * c;
                    }
                    *o = p.sub(p.reduce(acc), table[corr[k] as usize]);
                }
            } else {
                for (k, o) in out.iter_mut().enumerate() {
                    let mut acc = 0u128;
                    for (i, &c) in cs.iter().enumerate() {
                        acc += y[i * n + k] as u128 * c as u128;
                    }
                    *o = p.sub(p.reduce_u128(acc), table[corr[k] as usize]);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primes::ntt_primes;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn compose_and_convert(x: i128, bits in 20u32..42) {
            let qs = ntt_primes(bits, 3, 16, &[]).unwrap();
            let ps = ntt_primes(61, 2, 16, &[]).unwrap();
            let qbig: i128 = qs.iter().map(|&q| q as i128).product::<i128>();
            let bound = qbig / 2;
            let x = x % bound;
            let res: Vec<u64> = qs.iter().map(|&q| x.rem_euclid(q as i128) as u64).collect();
            let c = RnsComposer::new(&qs).unwrap();
            let got = c.compose_centered(&res).unwrap();
            prop_assert!((got - x as f64).abs() <= (x as f64).abs() * 1e-15 + 0.5);
            let rows: Vec<Vec<u64>> = res.iter().map(|&r| vec![r, 0, r]).collect();
            let rr: Vec<&[u64]> = rows.iter().map(|v| v.as_slice()).collect();
            let mut out = [1.0f64; 3];
            c.compose_centered_rows(&rr, &mut out).unwrap();
            prop_assert_eq!(out[0], got);
            prop_assert_eq!(out[1], 0.0);
            prop_assert_eq!(out[2], got);

            let conv = BasisConverter::new(&qs, &ps).unwrap();
            let rows_in: Vec<Vec<u64>> = res.iter().map(|&r| vec![r]).collect();
            let rin: Vec<&[u64]> = rows_in.iter().map(|v| v.as_slice()).collect();
            let mut out = vec![vec![0u64]; 2];
            let mut rout: Vec<&mut [u64]> = out.iter_mut().map(|v| v.as_mut_slice()).collect();
            conv.convert(&rin, &mut rout).unwrap();
            let xu = x.rem_euclid(qbig);
            for (j, &p) in ps.iter().enumerate() {
                let ok = (0..3).any(|u| ((xu + u * qbig) % p as i128) as u64 == out[j][0]);
                prop_assert!(ok);
            }
            let mut rout: Vec<&mut [u64]> = out.iter_mut().map(|v| v.as_mut_slice()).collect();
            conv.convert_centered(&rin, &mut rout).unwrap();
            for (j, &p) in ps.iter().enumerate() {
                prop_assert_eq!(out[j][0], x.rem_euclid(p as i128) as u64);
            }
        }
    }

    #[test]
    fn bad_bases() {
        assert_eq!(RnsComposer::new(&[]).unwrap_err(), Error::EmptyBasis);
        assert!(RnsComposer::new(&[17, 17]).is_err());
        assert!(BasisConverter::new(&[17], &[17]).is_err());
    }
}
