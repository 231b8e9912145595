//! RNS polynomials with a representation typestate.

use crate::{Basis, Error, Result, RingContext};
use core::marker::PhantomData;
use pixveil_math::ntt::galois_permutation;
use pixveil_math::pool::{self, Held};
use std::sync::Arc;
use zeroize::Zeroize;

mod sealed {
    pub trait Sealed {}
}

/// Marker for a polynomial representation.
pub trait Representation:
    sealed::Sealed + Clone + core::fmt::Debug + Send + Sync + 'static
{
}

/// Coefficient representation: row `i` holds `a_0 … a_{N-1} mod p_i`.
#[derive(Debug, Clone, Copy)]
pub struct Coeff;
/// NTT (evaluation) representation: row `i` holds the NTT of the coefficients mod `p_i`.
#[derive(Debug, Clone, Copy)]
pub struct Ntt;
impl sealed::Sealed for Coeff {}
impl sealed::Sealed for Ntt {}
impl Representation for Coeff {}
impl Representation for Ntt {}

/// A polynomial over the RNS basis `basis` of `ctx`, stored row-major: `N` words per prime,
/// every word reduced modulo its prime.
#[derive(Debug)]
pub struct Poly<R: Representation> {
    ctx: Arc<RingContext>,
    basis: Basis,
    data: Vec<u64>,
    _r: PhantomData<R>,
}

impl<R: Representation> Clone for Poly<R> {
    fn clone(&self) -> Self {
        let mut data = pool::take::<u64>(self.data.len());
        data.copy_from_slice(&self.data);
        Self {
            ctx: self.ctx.clone(),
            basis: self.basis,
            data,
            _r: PhantomData,
        }
    }
}

impl<R: Representation> Drop for Poly<R> {
    fn drop(&mut self) {
        // Polynomials may hold secrets (`s`, errors, encryption randomness): wiped.
        pool::give(core::mem::take(&mut self.data), Held::Secret);
    }
}

impl<R: Representation> Zeroize for Poly<R> {
    fn zeroize(&mut self) {
        self.data.zeroize();
    }
}

impl<R: Representation> PartialEq for Poly<R> {
    fn eq(&self, other: &Self) -> bool {
        self.basis == other.basis && self.data == other.data
    }
}

impl<R: Representation> Poly<R> {
    /// The zero polynomial over `basis`.
    ///
    /// # Errors
    /// [`Error::InvalidBasis`] if the basis does not exist in `ctx`.
    pub fn zero(ctx: &Arc<RingContext>, basis: Basis) -> Result<Self> {
        ctx.check_basis(basis)?;
        Ok(Self {
            ctx: ctx.clone(),
            basis,
            data: pool::take::<u64>(basis.len() * ctx.degree()),
            _r: PhantomData,
        })
    }

    /// Builds a polynomial from raw rows (`basis.len() · N` words, row-major), checking that
    /// every word is reduced.
    ///
    /// # Errors
    /// [`Error::InvalidBasis`], [`Error::LengthMismatch`] or [`Error::Unreduced`].
    pub fn from_raw(ctx: &Arc<RingContext>, basis: Basis, data: Vec<u64>) -> Result<Self> {
        ctx.check_basis(basis)?;
        let n = ctx.degree();
        if data.len() != basis.len() * n {
            return Err(Error::LengthMismatch {
                expected: basis.len() * n,
                actual: data.len(),
            });
        }
        for (r, row) in data.chunks_exact(n).enumerate() {
            let q = ctx.modulus(ctx.prime_index(basis, r)).value();
            if let Some(&v) = row.iter().find(|&&v| v >= q) {
                return Err(Error::Unreduced {
                    value: v,
                    modulus: q,
                });
            }
        }
        Ok(Self {
            ctx: ctx.clone(),
            basis,
            data,
            _r: PhantomData,
        })
    }

    /// The ring context.
    pub fn context(&self) -> &Arc<RingContext> {
        &self.ctx
    }

    /// The RNS basis.
    pub fn basis(&self) -> Basis {
        self.basis
    }

    /// Ring degree `N`.
    pub fn degree(&self) -> usize {
        self.ctx.degree()
    }

    /// All rows, row-major.
    pub fn data(&self) -> &[u64] {
        &self.data
    }

    /// Row `r` (`N` words).
    pub fn row(&self, r: usize) -> &[u64] {
        let n = self.ctx.degree();
        &self.data[r * n..(r + 1) * n]
    }

    /// Mutable row `r`. Callers must keep every word reduced modulo the row's prime.
    pub fn row_mut(&mut self, r: usize) -> &mut [u64] {
        let n = self.ctx.degree();
        &mut self.data[r * n..(r + 1) * n]
    }

    /// Context prime index of row `r`.
    pub fn prime_index(&self, r: usize) -> usize {
        self.ctx.prime_index(self.basis, r)
    }

    fn check_compatible(&self, other: &Self) -> Result<()> {
        if !self.ctx.same_ring(&other.ctx) {
            return Err(Error::ContextMismatch);
        }
        if self.basis != other.basis {
            return Err(Error::BasisMismatch {
                left: self.basis,
                right: other.basis,
            });
        }
        Ok(())
    }

    fn zip_rows(
        &mut self,
        other: &Self,
        f: impl Fn(&pixveil_math::Modulus, u64, u64) -> u64,
    ) -> Result<()> {
        self.check_compatible(other)?;
        let n = self.ctx.degree();
        for r in 0..self.basis.len() {
            let m = *self.ctx.modulus(self.prime_index(r));
            let a = &mut self.data[r * n..(r + 1) * n];
            let b = &other.data[r * n..(r + 1) * n];
            for (x, &y) in a.iter_mut().zip(b) {
                *x = f(&m, *x, y);
            }
        }
        Ok(())
    }

    /// `self += other`.
    ///
    /// # Errors
    /// [`Error::ContextMismatch`] or [`Error::BasisMismatch`].
    pub fn add_assign(&mut self, other: &Self) -> Result<()> {
        self.check_compatible(other)?;
        let n = self.ctx.degree();
        for r in 0..self.basis.len() {
            let m = *self.ctx.modulus(self.prime_index(r));
            let rows = r * n..(r + 1) * n;
            pixveil_math::kernels::add_mod_assign(
                &m,
                &mut self.data[rows.clone()],
                &other.data[rows],
            );
        }
        Ok(())
    }

    /// `self -= other`.
    ///
    /// # Errors
    /// As [`Poly::add_assign`].
    pub fn sub_assign(&mut self, other: &Self) -> Result<()> {
        self.zip_rows(other, |m, a, b| m.sub(a, b))
    }

    /// `self = -self`.
    pub fn neg_assign(&mut self) {
        let n = self.ctx.degree();
        for r in 0..self.basis.len() {
            let m = *self.ctx.modulus(self.prime_index(r));
            for x in &mut self.data[r * n..(r + 1) * n] {
                *x = m.neg(*x);
            }
        }
    }

    /// Multiplies row `r` by the constant `c[r]` (`c[r]` reduced or not), i.e. by the integer
    /// whose residues are `c`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `c.len()` differs from the number of rows.
    pub fn mul_rns_constant(&mut self, c: &[u64]) -> Result<()> {
        if c.len() != self.basis.len() {
            return Err(Error::LengthMismatch {
                expected: self.basis.len(),
                actual: c.len(),
            });
        }
        let n = self.ctx.degree();
        for (r, &cr) in c.iter().enumerate() {
            let m = *self.ctx.modulus(self.prime_index(r));
            let w = m.reduce(cr);
            let ws = m.shoup(w);
            for x in &mut self.data[r * n..(r + 1) * n] {
                *x = m.mul_shoup(*x, w, ws);
            }
        }
        Ok(())
    }

    /// Multiplies by a signed integer constant.
    pub fn mul_i64(&mut self, c: i64) {
        let consts: Vec<u64> = (0..self.basis.len())
            .map(|r| self.ctx.modulus(self.prime_index(r)).reduce_i64(c))
            .collect();
        // Length is correct by construction.
        let _ = self.mul_rns_constant(&consts);
    }

    /// Drops ciphertext primes so that `new_q` remain (special rows, if any, are kept).
    ///
    /// # Errors
    /// [`Error::InvalidBasis`] if `new_q` is 0 or larger than the current count.
    pub fn truncate_q(&mut self, new_q: usize) -> Result<()> {
        let nb = Basis {
            q: new_q,
            p: self.basis.p,
        };
        if new_q == 0 || new_q > self.basis.q {
            return Err(Error::InvalidBasis {
                basis: nb,
                num_q: self.basis.q,
                num_p: self.basis.p,
            });
        }
        let n = self.ctx.degree();
        self.data.drain(new_q * n..self.basis.q * n);
        self.basis = nb;
        Ok(())
    }

    /// Drops the special rows.
    pub fn drop_special(&mut self) {
        let n = self.ctx.degree();
        self.data.truncate(self.basis.q * n);
        self.basis.p = 0;
    }

    /// Raw data, consuming the polynomial. The caller owns the words (possibly secret):
    /// hand them to a `Poly` again or to [`pool::give`] as [`Held::Secret`], which wipes
    /// them.
    pub fn into_data(mut self) -> Vec<u64> {
        core::mem::take(&mut self.data)
    }

    fn with_data<S: Representation>(&self, data: Vec<u64>) -> Poly<S> {
        Poly {
            ctx: self.ctx.clone(),
            basis: self.basis,
            data,
            _r: PhantomData,
        }
    }
}

impl Poly<Coeff> {
    /// Lifts small signed coefficients (`coeffs.len() == N`) into every row of `basis`.
    ///
    /// # Errors
    /// [`Error::InvalidBasis`] or [`Error::LengthMismatch`].
    pub fn from_i64(ctx: &Arc<RingContext>, basis: Basis, coeffs: &[i64]) -> Result<Self> {
        let mut p = Self::zero(ctx, basis)?;
        let n = ctx.degree();
        if coeffs.len() != n {
            return Err(Error::LengthMismatch {
                expected: n,
                actual: coeffs.len(),
            });
        }
        // Small coefficients (secrets, errors): one branch-free conditional addition.
        let max_abs = coeffs
            .iter()
            .map(|c| c.unsigned_abs())
            .max()
            .expect("N ≥ 1 coefficients (checked above)");
        for r in 0..basis.len() {
            let m = *ctx.modulus(ctx.prime_index(basis, r));
            let q = m.value();
            let row = &mut p.data[r * n..(r + 1) * n];
            if max_abs < q {
                for (x, &c) in row.iter_mut().zip(coeffs) {
                    *x = (c as u64).wrapping_add(q & ((c >> 63) as u64));
                }
            } else {
                for (x, &c) in row.iter_mut().zip(coeffs) {
                    *x = m.reduce_i64(c);
                }
            }
        }
        Ok(p)
    }

    /// Forward NTT of every row.
    pub fn into_ntt(mut self) -> Poly<Ntt> {
        let n = self.ctx.degree();
        for r in 0..self.basis.len() {
            let idx = self.prime_index(r);
            self.ctx
                .clone()
                .ntt(idx)
                .forward(&mut self.data[r * n..(r + 1) * n]);
        }
        let data = core::mem::take(&mut self.data);
        self.with_data(data)
    }

    /// The automorphism `X → X^g` (`g` odd modulo `2N`) in coefficient form.
    ///
    /// # Errors
    /// [`Error::InvalidGaloisElement`] if `g` is even.
    pub fn automorphism(&self, g: usize) -> Result<Self> {
        let n = self.ctx.degree();
        if g.is_multiple_of(2) {
            return Err(Error::InvalidGaloisElement {
                element: g,
                degree: n,
            });
        }
        let mask = 2 * n - 1;
        let mut out = pool::take::<u64>(self.data.len());
        for r in 0..self.basis.len() {
            let m = *self.ctx.modulus(self.prime_index(r));
            let src = &self.data[r * n..(r + 1) * n];
            let dst = &mut out[r * n..(r + 1) * n];
            for (i, &c) in src.iter().enumerate() {
                let k = (i * g) & mask;
                if k < n {
                    dst[k] = c;
                } else {
                    dst[k - n] = m.neg(c);
                }
            }
        }
        Ok(Poly {
            ctx: self.ctx.clone(),
            basis: self.basis,
            data: out,
            _r: PhantomData,
        })
    }
}

impl Poly<Ntt> {
    /// Inverse NTT of every row.
    pub fn into_coeff(mut self) -> Poly<Coeff> {
        let n = self.ctx.degree();
        for r in 0..self.basis.len() {
            let idx = self.prime_index(r);
            self.ctx
                .clone()
                .ntt(idx)
                .backward(&mut self.data[r * n..(r + 1) * n]);
        }
        let data = core::mem::take(&mut self.data);
        self.with_data(data)
    }

    /// Pointwise product `self *= other` (negacyclic convolution of the coefficients).
    ///
    /// # Errors
    /// [`Error::ContextMismatch`] or [`Error::BasisMismatch`].
    pub fn mul_assign(&mut self, other: &Self) -> Result<()> {
        self.check_compatible(other)?;
        let n = self.ctx.degree();
        for r in 0..self.basis.len() {
            let m = *self.ctx.modulus(self.prime_index(r));
            let rows = r * n..(r + 1) * n;
            pixveil_math::kernels::mul_mod_assign(
                &m,
                &mut self.data[rows.clone()],
                &other.data[rows],
            );
        }
        Ok(())
    }

    /// `self += a * b` pointwise.
    ///
    /// # Errors
    /// [`Error::ContextMismatch`] or [`Error::BasisMismatch`].
    pub fn fma(&mut self, a: &Self, b: &Self) -> Result<()> {
        self.check_compatible(a)?;
        self.check_compatible(b)?;
        let n = self.ctx.degree();
        for r in 0..self.basis.len() {
            let m = *self.ctx.modulus(self.prime_index(r));
            let rng = r * n..(r + 1) * n;
            let mut t = a.data[rng.clone()].to_vec();
            pixveil_math::kernels::mul_mod_assign(&m, &mut t, &b.data[rng.clone()]);
            pixveil_math::kernels::add_mod_assign(&m, &mut self.data[rng], &t);
        }
        Ok(())
    }

    /// Applies an index permutation to every row: `out[j] = self[perm[j]]` (see
    /// [`pixveil_math::ntt::galois_permutation`]).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `perm.len() != N`.
    pub fn permute(&self, perm: &[usize]) -> Result<Self> {
        let n = self.ctx.degree();
        if perm.len() != n || perm.iter().any(|&p| p >= n) {
            return Err(Error::LengthMismatch {
                expected: n,
                actual: perm.len(),
            });
        }
        let mut out = pool::take::<u64>(self.data.len());
        for (dst, src) in out.chunks_exact_mut(n).zip(self.data.chunks_exact(n)) {
            for (d, &p) in dst.iter_mut().zip(perm) {
                *d = src[p];
            }
        }
        Ok(Poly {
            ctx: self.ctx.clone(),
            basis: self.basis,
            data: out,
            _r: PhantomData,
        })
    }

    /// The automorphism `X → X^g` (`g` odd) in NTT form.
    ///
    /// # Errors
    /// [`Error::InvalidGaloisElement`] if `g` is even.
    pub fn automorphism(&self, g: usize) -> Result<Self> {
        let n = self.ctx.degree();
        if g.is_multiple_of(2) {
            return Err(Error::InvalidGaloisElement {
                element: g,
                degree: n,
            });
        }
        self.permute(&galois_permutation(n, g % (2 * n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use pixveil_math::primes::ntt_primes;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn ctx() -> Arc<RingContext> {
        let q = ntt_primes(30, 3, 64, &[]).unwrap();
        let p = ntt_primes(50, 1, 64, &[]).unwrap();
        RingContext::new(64, &q, &p).unwrap()
    }

    #[test]
    fn ntt_roundtrip_mul_and_automorphisms() {
        let c = ctx();
        let b = c.full_basis();
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        let a = sample::ternary(64, &mut rng);
        let e = sample::gaussian(64, &mut rng);
        let pa = Poly::from_i64(&c, b, &a).unwrap();
        let pe = Poly::from_i64(&c, b, &e).unwrap();
        // Integer negacyclic product as reference.
        let mut want = vec![0i64; 64];
        for i in 0..64 {
            for j in 0..64 {
                let v = a[i] * e[j];
                if i + j < 64 {
                    want[i + j] += v;
                } else {
                    want[i + j - 64] -= v;
                }
            }
        }
        let mut prod = pa.clone().into_ntt();
        prod.mul_assign(&pe.clone().into_ntt()).unwrap();
        assert_eq!(prod.into_coeff(), Poly::from_i64(&c, b, &want).unwrap());
        assert_eq!(pa.clone().into_ntt().into_coeff(), pa);
        for g in [5usize, 25, 127, 3] {
            let x = pa.automorphism(g).unwrap().into_ntt();
            let y = pa.clone().into_ntt().automorphism(g).unwrap();
            assert_eq!(x, y);
        }
        assert!(pa.automorphism(4).is_err());
        let mut t = pa.clone();
        t.truncate_q(2).unwrap();
        assert_eq!(t.basis(), Basis { q: 2, p: 1 });
        assert!(t.add_assign(&pa).is_err());
        t.drop_special();
        assert_eq!(t.data().len(), 128);
    }

    #[test]
    fn from_raw_rejects_unreduced() {
        let c = ctx();
        let b = Basis { q: 1, p: 0 };
        assert!(Poly::<Ntt>::from_raw(&c, b, vec![u64::MAX; 64]).is_err());
        assert!(Poly::<Ntt>::from_raw(&c, b, vec![0; 63]).is_err());
        assert!(Poly::<Ntt>::zero(&c, Basis { q: 4, p: 0 }).is_err());
    }
}
