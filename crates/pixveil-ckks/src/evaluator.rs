//! Homomorphic operations on ciphertexts.
//!
//! Every binary operation first checks that both operands carry this evaluator's parameter
//! fingerprint ([`Error::ParameterMismatch`]), sit at the same level ([`Error::LevelMismatch`])
//! and, for additions, have the same scale ([`Error::ScaleMismatch`], relative tolerance
//! 2^-30). Operations never mutate their inputs; results are fresh ciphertexts.
//!
//! Key switching (relinearization, rotation, conjugation) is split into
//! [`Evaluator::decompose`] (inverse NTT of `c_1`, one centered digit per ciphertext prime
//! extended to `q_0 … q_ℓ, P` and forward NTT: `ℓ+1` inverse and `(ℓ+1)²` forward NTTs) and a
//! cheap per-key inner product followed by division by `P` (`2` inverse and `2(ℓ+1)` forward
//! NTTs). Hoisted rotations ([`Evaluator::rotate_hoisted`]) decompose once; Galois keys are
//! stored pre-permuted (switching `s` to `σ^{-1}(s)`), so each rotation is an inner product with
//! the unpermuted digits, `P`-division, and one index permutation (NTT form) of the two
//! resulting polynomials.
//!
//! Threads: key switching runs its independent pieces (digits, RNS rows, the two output
//! polynomials) on the current rayon pool; call it inside a one-thread
//! `rayon::ThreadPool::install` for single-threaded execution (as [`mod@crate::bench`] does).

use crate::encoder::Plaintext;
use crate::encrypt::Ciphertext;
use crate::keys::{GaloisKeys, KeyRow, KeySwitchKey, RelinKey};
use crate::params::{Fingerprint, Parameters};
use crate::{Error, Result};
use pixveil_math::ntt::galois_permutation;
use pixveil_math::pool::{self as scratch, Held};
use pixveil_ring::{galois_element_conjugate, galois_element_for_step, Basis, Ntt, Poly};
use rayon::prelude::*;
use std::sync::Arc;

/// `c_1` of a ciphertext at level `ℓ`, decomposed into `ℓ + 1` digits, each in NTT form over
/// `q_0 … q_ℓ, P` (row-major, `(ℓ + 2)·N` words per digit).
#[derive(Debug, Clone)]
pub struct Decomposed {
    level: usize,
    digits: Vec<Vec<u64>>,
    fingerprint: Fingerprint,
}

impl Drop for Decomposed {
    fn drop(&mut self) {
        for d in self.digits.drain(..) {
            // Digits of a ciphertext polynomial: public.
            scratch::give(d, Held::Public);
        }
    }
}

impl Decomposed {
    /// Level of the decomposed polynomial.
    pub fn level(&self) -> usize {
        self.level
    }
}

/// Relative tolerance for scale equality.
const SCALE_TOLERANCE: f64 = 1.0 / (1u64 << 30) as f64;

/// Stateless evaluator for one parameter set.
#[derive(Debug, Clone)]
pub struct Evaluator {
    params: Arc<Parameters>,
}

impl Evaluator {
    /// An evaluator for `params`.
    pub fn new(params: &Arc<Parameters>) -> Self {
        Self {
            params: params.clone(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &Arc<Parameters> {
        &self.params
    }

    fn check(&self, f: &Fingerprint) -> Result<()> {
        self.params.check_fingerprint(f)
    }

    fn check_pair(&self, a: &Ciphertext, b: &Ciphertext, same_scale: bool) -> Result<()> {
        self.check(&a.fingerprint)?;
        self.check(&b.fingerprint)?;
        if a.level() != b.level() {
            return Err(Error::LevelMismatch {
                left: a.level(),
                right: b.level(),
            });
        }
        if same_scale {
            check_scales(a.scale, b.scale)?;
        }
        Ok(())
    }

    fn with_parts(&self, like: &Ciphertext, parts: Vec<Poly<Ntt>>, scale: f64) -> Ciphertext {
        Ciphertext {
            parts,
            scale,
            fingerprint: like.fingerprint,
            seed: None,
        }
    }

    /// A ciphertext over `like`'s basis with `size` parts whose RNS row `r` of part `part`
    /// is `row(part, r)` (NTT form, reduced), at `scale`.
    fn assemble_rows<'a>(
        &self,
        like: &Ciphertext,
        size: usize,
        scale: f64,
        row: impl Fn(usize, usize) -> &'a [u64],
    ) -> Result<Ciphertext> {
        let basis = like.parts[0].basis();
        let parts = (0..size)
            .map(|part| {
                let mut p = Poly::<Ntt>::zero(self.params.ring(), basis)?;
                for r in 0..basis.len() {
                    p.row_mut(r).copy_from_slice(row(part, r));
                }
                Ok(p)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.with_parts(like, parts, scale))
    }

    /// `a + b` (sizes may differ: the shorter is padded with zeros).
    ///
    /// # Errors
    /// Parameter, level or scale mismatch.
    pub fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.check_pair(a, b, true)?;
        let (long, short) = if a.size() >= b.size() { (a, b) } else { (b, a) };
        let mut parts = long.parts.clone();
        for (p, q) in parts.iter_mut().zip(&short.parts) {
            p.add_assign(q)?;
        }
        Ok(self.with_parts(a, parts, a.scale))
    }

    /// In place: `a += b` (same level and scale; `b` may be shorter than `a`).
    ///
    /// # Errors
    /// Parameter, level or scale mismatch; [`Error::CiphertextSize`] if `b` is longer.
    pub fn add_assign(&self, a: &mut Ciphertext, b: &Ciphertext) -> Result<()> {
        self.check_pair(a, b, true)?;
        if b.size() > a.size() {
            return Err(Error::CiphertextSize {
                op: "add_assign",
                expected: a.size(),
                actual: b.size(),
            });
        }
        for (p, q) in a.parts.iter_mut().zip(&b.parts) {
            p.add_assign(q)?;
        }
        a.seed = None;
        Ok(())
    }

    /// In place: `a *= pt` (the scale becomes the product of the scales).
    ///
    /// # Errors
    /// Parameter or level mismatch.
    pub fn mul_plain_assign(&self, a: &mut Ciphertext, pt: &Plaintext) -> Result<()> {
        self.check(&a.fingerprint)?;
        let p = self.plain_at(pt, a.level())?;
        for part in &mut a.parts {
            part.mul_assign(&p)?;
        }
        a.scale *= pt.scale;
        a.seed = None;
        Ok(())
    }

    /// `a − b`.
    ///
    /// # Errors
    /// Parameter, level or scale mismatch.
    pub fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        let nb = self.negate(b)?;
        self.add(a, &nb)
    }

    /// `−a`.
    ///
    /// # Errors
    /// [`Error::ParameterMismatch`].
    pub fn negate(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.check(&a.fingerprint)?;
        let mut parts = a.parts.clone();
        parts.iter_mut().for_each(|p| p.neg_assign());
        Ok(self.with_parts(a, parts, a.scale))
    }

    /// Restricts a plaintext at level `≥ level` to `q_0 … q_level`.
    fn plain_at(&self, pt: &Plaintext, level: usize) -> Result<Poly<Ntt>> {
        self.check(&pt.fingerprint)?;
        if pt.level() < level {
            return Err(Error::LevelMismatch {
                left: level,
                right: pt.level(),
            });
        }
        let mut p = pt.poly.clone();
        p.truncate_q(level + 1)?;
        Ok(p)
    }

    /// `a + pt` (the plaintext must have the same scale and a level `≥` the ciphertext's).
    ///
    /// # Errors
    /// Parameter, level or scale mismatch.
    pub fn add_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        self.check(&a.fingerprint)?;
        check_scales(a.scale, pt.scale)?;
        let p = self.plain_at(pt, a.level())?;
        let mut parts = a.parts.clone();
        parts[0].add_assign(&p)?;
        Ok(self.with_parts(a, parts, a.scale))
    }

    /// `a · pt`; the result's scale is the product of the scales.
    ///
    /// # Errors
    /// Parameter or level mismatch.
    pub fn mul_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        self.check(&a.fingerprint)?;
        let p = self.plain_at(pt, a.level())?;
        let mut parts = a.parts.clone();
        for part in &mut parts {
            part.mul_assign(&p)?;
        }
        Ok(self.with_parts(a, parts, a.scale * pt.scale))
    }

    /// Adds the real constant `x` to every slot (encoded at the ciphertext's scale).
    ///
    /// # Errors
    /// [`Error::EncodingOverflow`] if `|x·Δ| ≥ 2^62`.
    pub fn add_scalar(&self, a: &Ciphertext, x: f64) -> Result<Ciphertext> {
        self.check(&a.fingerprint)?;
        let c = round_i64(x * a.scale)?;
        let mut parts = a.parts.clone();
        let ctx = self.params.ring().clone();
        let p0 = &mut parts[0];
        for r in 0..p0.basis().len() {
            let m = *ctx.modulus(p0.prime_index(r));
            let cr = m.reduce_i64(c);
            // The constant polynomial evaluates to `c` at every root: add it to every slot.
            for v in p0.row_mut(r) {
                *v = m.add(*v, cr);
            }
        }
        Ok(self.with_parts(a, parts, a.scale))
    }

    /// Multiplies every slot by the real constant `x`, encoded as the integer `round(x·scale)`;
    /// the result's scale is `a.scale · scale`.
    ///
    /// # Errors
    /// [`Error::EncodingOverflow`] if `|x·scale| ≥ 2^62`, [`Error::InvalidScale`].
    pub fn mul_scalar(&self, a: &Ciphertext, x: f64, scale: f64) -> Result<Ciphertext> {
        self.check(&a.fingerprint)?;
        if !(scale.is_finite() && scale >= 1.0) {
            return Err(Error::InvalidScale { log2: scale.log2() });
        }
        let c = round_i64(x * scale)?;
        let mut parts = a.parts.clone();
        parts.iter_mut().for_each(|p| p.mul_i64(c));
        Ok(self.with_parts(a, parts, a.scale * scale))
    }

    /// `Σ_i a_i ⊙ pt_i` in one pass, without a temporary per product: the inner sums of
    /// diagonal (baby-step/giant-step) matrix–vector products. Every ciphertext must share
    /// one level and scale, every plaintext one scale (and a level ≥ the ciphertexts'); the
    /// result's scale is the product of the two.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for no terms or unequal counts; parameter, level or
    /// scale mismatch.
    pub fn dot_plain(&self, cts: &[&Ciphertext], pts: &[&Plaintext]) -> Result<Ciphertext> {
        let (Some(&first), Some(&pt0)) = (cts.first(), pts.first()) else {
            return Err(Error::InvalidParameter {
                field: "terms",
                reason: "a dot product needs at least one term".into(),
            });
        };
        if cts.len() != pts.len() {
            return Err(Error::InvalidParameter {
                field: "terms",
                reason: format!("{} ciphertexts and {} plaintexts", cts.len(), pts.len()),
            });
        }
        let level = first.level();
        for (ct, pt) in cts.iter().zip(pts) {
            self.check_pair(first, ct, true)?;
            self.check(&pt.fingerprint)?;
            check_scales(pt0.scale, pt.scale)?;
            if pt.level() < level {
                return Err(Error::LevelMismatch {
                    left: level,
                    right: pt.level(),
                });
            }
        }
        let size = cts
            .iter()
            .map(|c| c.size())
            .max()
            .expect("checked: at least one term");
        let ctx = self.params.ring().clone();
        let n = ctx.degree();
        let basis = first.parts[0].basis();
        let nrows = basis.len();
        let rows: Vec<Vec<u64>> = (0..size * nrows)
            .into_par_iter()
            .map(|u| {
                let (part, r) = (u / nrows, u % nrows);
                let m = *ctx.modulus(first.parts[0].prime_index(r));
                let mut out = scratch::take::<u64>(n);
                if m.value() < pixveil_math::kernels::LAZY_MAX_MODULUS {
                    let c = pixveil_math::kernels::fold_constant(m.value());
                    for (ct, pt) in cts.iter().zip(pts) {
                        let Some(p) = ct.parts.get(part) else {
                            continue;
                        };
                        // Plaintext rows: its prime index equals the ciphertext's (both over
                        // q_0 … q_ℓ'), so row r is the same prime.
                        for ((a, &x), &y) in out.iter_mut().zip(p.row(r)).zip(pt.poly.row(r)) {
                            // Both factors below 2^32: one 32×32→64 multiply per lane.
                            let s = *a + (x & 0xFFFF_FFFF) * (y & 0xFFFF_FFFF);
                            *a = s - (c & (s >> 63).wrapping_neg());
                        }
                    }
                    out.iter_mut().for_each(|a| *a = m.reduce(*a));
                } else {
                    for (ct, pt) in cts.iter().zip(pts) {
                        let Some(p) = ct.parts.get(part) else {
                            continue;
                        };
                        for ((a, &x), &y) in out.iter_mut().zip(p.row(r)).zip(pt.poly.row(r)) {
                            *a = m.add(*a, m.mul(x, y));
                        }
                    }
                }
                out
            })
            .collect();
        let out = self.assemble_rows(first, size, first.scale * pt0.scale, |part, r| {
            &rows[part * nrows + r]
        });
        rows.into_iter()
            .for_each(|r| scratch::give(r, Held::Public));
        out
    }

    /// A plaintext real matrix times a vector of ciphertexts: `y_i = Σ_j W[i][j]·x_j`, every
    /// weight encoded as the integer `round(W[i][j]·scale)` (`weights` is `rows × inputs.len()`,
    /// row-major). This is the dense layer of batched, one-image-per-slot inference, fused:
    /// each input coefficient is read once for all outputs, accumulators stay in cache. The
    /// results' scale is `x.scale · scale`; their size is the largest input size. Zero
    /// weights cost nothing.
    ///
    /// Rows of primes below 2^31 accumulate exact products lazily in `u64` (folded below
    /// 2^63); larger primes reduce every product (Shoup). Work is split over the RNS rows of
    /// every part on the current rayon pool.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for no inputs or a weight count that is not a positive
    /// multiple of the input count; parameter, level or scale mismatch between the inputs;
    /// [`Error::InvalidScale`]; [`Error::EncodingOverflow`] if `|w·scale| ≥ 2^62`.
    pub fn linear_transform(
        &self,
        inputs: &[&Ciphertext],
        weights: &[f64],
        scale: f64,
    ) -> Result<Vec<Ciphertext>> {
        let Some(&first) = inputs.first() else {
            return Err(Error::InvalidParameter {
                field: "inputs",
                reason: "a linear transform needs at least one input".into(),
            });
        };
        let cols = inputs.len();
        if weights.is_empty() || !weights.len().is_multiple_of(cols) {
            return Err(Error::InvalidParameter {
                field: "weights",
                reason: format!("{} weights for {cols} inputs", weights.len()),
            });
        }
        if !(scale.is_finite() && scale >= 1.0) {
            return Err(Error::InvalidScale { log2: scale.log2() });
        }
        for ct in inputs {
            self.check_pair(first, ct, true)?;
        }
        let rows = weights.len() / cols;
        let ints = weights
            .iter()
            .map(|&w| round_i64(w * scale))
            .collect::<Result<Vec<_>>>()?;
        let size = inputs
            .iter()
            .map(|c| c.size())
            .max()
            .expect("checked: at least one input");
        let ctx = self.params.ring().clone();
        let n = ctx.degree();
        let basis = first.parts[0].basis();
        let nrows = basis.len();
        // One unit per (part, RNS row): all outputs' row, `rows × n` words.
        let units: Vec<Vec<u64>> = (0..size * nrows)
            .into_par_iter()
            .map(|u| {
                let (part, r) = (u / nrows, u % nrows);
                let m = *ctx.modulus(first.parts[0].prime_index(r));
                let w: Vec<u64> = ints.iter().map(|&c| m.reduce_i64(c)).collect();
                let xs: Vec<Option<&[u64]>> = inputs
                    .iter()
                    .map(|c| c.parts.get(part).map(|p| p.row(r)))
                    .collect();
                let mut out = vec![0u64; rows * n];
                if m.value() < pixveil_math::kernels::LAZY_MAX_MODULUS {
                    lazy_matrix_rows(&m, &xs, &w, rows, &mut out);
                } else {
                    for (j, x) in xs.iter().enumerate() {
                        let Some(x) = x else { continue };
                        for i in 0..rows {
                            let wij = w[i * cols + j];
                            if wij == 0 {
                                continue;
                            }
                            let ws = m.shoup(wij);
                            for (d, &v) in out[i * n..(i + 1) * n].iter_mut().zip(x.iter()) {
                                *d = m.add(*d, m.mul_shoup(v, wij, ws));
                            }
                        }
                    }
                }
                out
            })
            .collect();
        (0..rows)
            .map(|i| {
                self.assemble_rows(first, size, first.scale * scale, |part, r| {
                    &units[part * nrows + r][i * n..(i + 1) * n]
                })
            })
            .collect()
    }

    /// Multiplies every slot by the integer `k` (scale unchanged).
    ///
    /// # Errors
    /// [`Error::ParameterMismatch`].
    pub fn mul_integer(&self, a: &Ciphertext, k: i64) -> Result<Ciphertext> {
        self.check(&a.fingerprint)?;
        let mut parts = a.parts.clone();
        parts.iter_mut().for_each(|p| p.mul_i64(k));
        Ok(self.with_parts(a, parts, a.scale))
    }

    /// Tensor product `a ⊗ b` (size 3, scale `a.scale·b.scale`), to be relinearized.
    ///
    /// # Errors
    /// Parameter or level mismatch; [`Error::CiphertextSize`] unless both have size 2.
    pub fn mul(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.check_pair(a, b, false)?;
        for c in [a, b] {
            if c.size() != 2 {
                return Err(Error::CiphertextSize {
                    op: "mul",
                    expected: 2,
                    actual: c.size(),
                });
            }
        }
        let (a0, a1, b0, b1) = (&a.parts[0], &a.parts[1], &b.parts[0], &b.parts[1]);
        let mut d0 = a0.clone();
        d0.mul_assign(b0)?;
        let mut d1 = a0.clone();
        d1.mul_assign(b1)?;
        d1.fma(a1, b0)?;
        let mut d2 = a1.clone();
        d2.mul_assign(b1)?;
        Ok(self.with_parts(a, vec![d0, d1, d2], a.scale * b.scale))
    }

    /// `a²` (size 3).
    ///
    /// # Errors
    /// As [`Evaluator::mul`].
    pub fn square(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.mul(a, a)
    }

    /// Relinearizes a size-3 ciphertext back to size 2.
    ///
    /// # Errors
    /// Parameter mismatch (ciphertext or key), [`Error::CiphertextSize`].
    pub fn relinearize(&self, a: &Ciphertext, rlk: &RelinKey) -> Result<Ciphertext> {
        self.check(&a.fingerprint)?;
        self.check(&rlk.fingerprint)?;
        if a.size() != 3 {
            return Err(Error::CiphertextSize {
                op: "relinearize",
                expected: 3,
                actual: a.size(),
            });
        }
        let d = self.decompose_poly(&a.parts[2])?;
        let (u0, u1) = self.key_switch(&d, &rlk.key)?;
        let mut c0 = a.parts[0].clone();
        let mut c1 = a.parts[1].clone();
        add_raw(&mut c0, u0);
        add_raw(&mut c1, u1);
        Ok(self.with_parts(a, vec![c0, c1], a.scale))
    }

    /// `relinearize(mul(a, b))`.
    ///
    /// # Errors
    /// As [`Evaluator::mul`] and [`Evaluator::relinearize`].
    pub fn mul_relin(&self, a: &Ciphertext, b: &Ciphertext, rlk: &RelinKey) -> Result<Ciphertext> {
        let t = self.mul(a, b)?;
        self.relinearize(&t, rlk)
    }

    /// Divides by the last prime `q_ℓ` (rounding), dropping one level: the scale becomes
    /// `scale / q_ℓ`.
    ///
    /// # Errors
    /// [`Error::InvalidLevel`] at level 0.
    pub fn rescale(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.check(&a.fingerprint)?;
        let level = a.level();
        if level == 0 {
            return Err(Error::InvalidLevel {
                level,
                max: 0,
                op: "rescale (needs level ≥ 1)",
            });
        }
        let ql = self.params.q()[level] as f64;
        let inv = &self.params.levels[level].inv_last;
        let parts = a
            .parts
            .iter()
            .map(|p| divide_by_last(p.clone(), level, inv))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.with_parts(a, parts, a.scale / ql))
    }

    /// Drops primes without scaling, down to `level` (`≤` the current level).
    ///
    /// # Errors
    /// [`Error::InvalidLevel`] if `level` is above the ciphertext's.
    pub fn drop_to_level(&self, a: &Ciphertext, level: usize) -> Result<Ciphertext> {
        self.check(&a.fingerprint)?;
        if level > a.level() {
            return Err(Error::InvalidLevel {
                level,
                max: a.level(),
                op: "drop_to_level",
            });
        }
        let mut parts = a.parts.clone();
        for p in &mut parts {
            p.truncate_q(level + 1)?;
        }
        Ok(self.with_parts(a, parts, a.scale))
    }

    /// Rotates the slots left by `step` (negative: right).
    ///
    /// # Errors
    /// [`Error::MissingGaloisKey`] if no key was generated for this step.
    pub fn rotate(&self, a: &Ciphertext, step: i64, gk: &GaloisKeys) -> Result<Ciphertext> {
        let mut v = self.rotate_hoisted(a, &[step], gk)?;
        v.pop().ok_or(Error::Corrupt {
            reason: "empty rotation result",
        })
    }

    /// Complex-conjugates every slot.
    ///
    /// # Errors
    /// [`Error::MissingGaloisKey`] (step 0) if the conjugation key was not generated.
    pub fn conjugate(&self, a: &Ciphertext, gk: &GaloisKeys) -> Result<Ciphertext> {
        self.check(&a.fingerprint)?;
        let d = self.decompose(a)?;
        self.apply_galois(a, &d, galois_element_conjugate(self.params.degree()), 0, gk)
    }

    /// Decomposes `c_1` of a size-2 ciphertext once, for any number of hoisted rotations.
    ///
    /// # Errors
    /// [`Error::CiphertextSize`] unless the ciphertext has size 2.
    pub fn decompose(&self, a: &Ciphertext) -> Result<Decomposed> {
        self.check(&a.fingerprint)?;
        if a.size() != 2 {
            return Err(Error::CiphertextSize {
                op: "decompose",
                expected: 2,
                actual: a.size(),
            });
        }
        self.decompose_poly(&a.parts[1])
    }

    /// Hoisted rotations: decomposes `c_1` once and returns one rotated ciphertext per step.
    ///
    /// # Errors
    /// [`Error::MissingGaloisKey`] for a step without key.
    pub fn rotate_hoisted(
        &self,
        a: &Ciphertext,
        steps: &[i64],
        gk: &GaloisKeys,
    ) -> Result<Vec<Ciphertext>> {
        self.check(&a.fingerprint)?;
        self.check(&gk.fingerprint)?;
        let n = self.params.degree();
        // Check all keys before the expensive decomposition.
        for &s in steps {
            let g = galois_element_for_step(s, n);
            if g != 1 && !gk.contains(g) {
                return Err(Error::MissingGaloisKey {
                    step: s,
                    element: g,
                });
            }
        }
        let d = self.decompose(a)?;
        steps
            .iter()
            .map(|&s| {
                let g = galois_element_for_step(s, n);
                if g == 1 {
                    Ok(a.clone())
                } else {
                    self.apply_galois(a, &d, g, s, gk)
                }
            })
            .collect()
    }

    /// Applies the Galois element `g` to `a`, using `d = decompose(a)`.
    ///
    /// # Errors
    /// [`Error::MissingGaloisKey`], or [`Error::LevelMismatch`] if `d` is not from `a`.
    pub fn apply_galois(
        &self,
        a: &Ciphertext,
        d: &Decomposed,
        g: usize,
        step: i64,
        gk: &GaloisKeys,
    ) -> Result<Ciphertext> {
        self.check(&gk.fingerprint)?;
        self.check(&a.fingerprint)?;
        self.check(&d.fingerprint)?;
        if d.level != a.level() {
            return Err(Error::LevelMismatch {
                left: a.level(),
                right: d.level,
            });
        }
        let key = gk
            .get(g)
            .ok_or(Error::MissingGaloisKey { step, element: g })?;
        // The key switches `c_1` from `s` to `σ^{-1}(s)` (see `KeyGenerator::galois_keys`):
        // (c_0 + u_0, u_1) decrypts to m under σ^{-1}(s), so applying σ to both parts gives a
        // ciphertext of σ(m) under s. Only two polynomials are permuted, not the ℓ+1 digits.
        let (u0, u1) = self.key_switch(d, key)?;
        let mut c0 = a.parts[0].clone();
        add_raw(&mut c0, u0);
        let mut c1 = Poly::zero(self.params.ring(), c0.basis())?;
        add_raw(&mut c1, u1);
        let perm = galois_permutation(self.params.degree(), g);
        let parts = vec![c0.permute(&perm)?, c1.permute(&perm)?];
        Ok(self.with_parts(a, parts, a.scale))
    }

    fn decompose_poly(&self, c: &Poly<Ntt>) -> Result<Decomposed> {
        let ctx = self.params.ring();
        let n = ctx.degree();
        let level = c.basis().q - 1;
        let rows = level + 1 + ctx.num_p();
        let mut coeff = scratch::take_dirty::<u64>((level + 1) * n);
        coeff.copy_from_slice(c.data());
        for (i, row) in coeff.chunks_exact_mut(n).enumerate() {
            ctx.ntt(i).backward(row);
        }
        // Buffers come from this thread's pool; the digits are then filled in parallel.
        let mut digits: Vec<Vec<u64>> = (0..=level)
            .map(|_| scratch::take_dirty::<u64>(rows * n))
            .collect();
        digits.par_iter_mut().enumerate().for_each(|(i, d)| {
            let src = &coeff[i * n..(i + 1) * n];
            let mi = *ctx.modulus(i);
            for r in 0..rows {
                let idx = row_prime(ctx, level, r);
                let dst = &mut d[r * n..(r + 1) * n];
                if r == i {
                    dst.copy_from_slice(c.row(i));
                    continue;
                }
                // Centered digits (|d| ≤ q_i/2) keep the key-switching noise small and
                // unstructured; `[0, q_i)` digits would add a large multiple of Σ X^j.
                lift_centered(&mi, ctx.modulus(idx), src, dst);
                ctx.ntt(idx).forward(dst);
            }
        });
        scratch::give(coeff, Held::Public);
        Ok(Decomposed {
            level,
            digits,
            fingerprint: *self.params.fingerprint(),
        })
    }

    /// Inner product of the (optionally permuted) digits with a key, then division by `P`.
    /// Inner products with the key and division by `P`: returns `(u_0, u_1)` over
    /// `q_0 … q_ℓ` as raw NTT rows in scratch buffers (give them back after use).
    fn key_switch(&self, d: &Decomposed, key: &KeySwitchKey) -> Result<(Vec<u64>, Vec<u64>)> {
        let ctx = self.params.ring();
        let n = ctx.degree();
        let level = d.level;
        let rows = level + 1 + ctx.num_p();
        if key.digits() <= level {
            return Err(Error::InvalidLevel {
                level,
                max: key.digits().saturating_sub(1),
                op: "key switching",
            });
        }
        let mut out0 = scratch::take_dirty::<u64>(rows * n);
        let mut out1 = scratch::take_dirty::<u64>(rows * n);
        out0.par_chunks_exact_mut(n)
            .zip(out1.par_chunks_exact_mut(n))
            .enumerate()
            .for_each(|(r, (o0, o1))| {
                let idx = row_prime(ctx, level, r);
                let m = *ctx.modulus(idx);
                let drows: Vec<&[u64]> = d.digits.iter().map(|x| &x[r * n..(r + 1) * n]).collect();
                let brows: Vec<KeyRow<'_>> = (0..=level).map(|i| key.b_row(i, idx)).collect();
                let arows: Vec<KeyRow<'_>> = (0..=level).map(|i| key.a_row(i, idx)).collect();
                inner_product(&m, &drows, &brows, &arows, o0, o1);
            });
        let (u0, u1) = rayon::join(
            || mod_down(&self.params, out0, level, Held::Public),
            || mod_down(&self.params, out1, level, Held::Public),
        );
        Ok((u0?, u1?))
    }
}

/// `out[i] = Σ_j w[i·cols + j]·x_j mod m` for one RNS row of a prime `m < 2^31`, every
/// output in `out[i·N..(i+1)·N]`. Products of two residues are below 2^62; accumulators are
/// folded below 2^63 (see [`pixveil_math::kernels::fold_constant`]) and reduced once. The
/// coefficients are processed in blocks so that all accumulators of a block stay in cache
/// while every input block is read once.
fn lazy_matrix_rows(
    m: &pixveil_math::Modulus,
    xs: &[Option<&[u64]>],
    w: &[u64],
    rows: usize,
    out: &mut [u64],
) {
    const BLOCK: usize = 256;
    const LOW: u64 = 0xFFFF_FFFF;
    let cols = xs.len();
    let n = out.len() / rows;
    let c = pixveil_math::kernels::fold_constant(m.value());
    let mut acc = vec![0u64; rows * BLOCK];
    let mut start = 0;
    while start < n {
        let end = (start + BLOCK).min(n);
        let len = end - start;
        acc.iter_mut().for_each(|a| *a = 0);
        for (j, x) in xs.iter().enumerate() {
            let Some(x) = x else { continue };
            let x = &x[start..end];
            for i in 0..rows {
                let wij = w[i * cols + j] & LOW;
                if wij == 0 {
                    continue;
                }
                for (a, &v) in acc[i * BLOCK..i * BLOCK + len].iter_mut().zip(x) {
                    // Both factors below 2^32: one 32×32→64 multiply per lane.
                    let s = *a + (v & LOW) * wij;
                    *a = s - (c & (s >> 63).wrapping_neg());
                }
            }
        }
        for i in 0..rows {
            for (o, &a) in out[i * n + start..i * n + end]
                .iter_mut()
                .zip(&acc[i * BLOCK..i * BLOCK + len])
            {
                *o = m.reduce(a);
            }
        }
        start = end;
    }
}

/// `p += u` where `u` holds raw NTT rows over `p`'s basis; gives `u` back to the pool.
fn add_raw(p: &mut Poly<Ntt>, u: Vec<u64>) {
    let ctx = p.context().clone();
    let n = ctx.degree();
    for r in 0..p.basis().len() {
        let m = *ctx.modulus(p.prime_index(r));
        for (x, &y) in p.row_mut(r).iter_mut().zip(&u[r * n..(r + 1) * n]) {
            *x = m.add(*x, y);
        }
    }
    scratch::give(u, Held::Public);
}

/// `o0[k] = Σ_i d_i[k]·b_i[k]`, `o1[k] = Σ_i d_i[k]·a_i[k]` modulo `m`: lazily in `u64`
/// (AVX2) for primes below 2^31, exactly in `u128` (at most 64 digits of 61-bit products)
/// otherwise; one reduction at the end.
fn inner_product(
    m: &pixveil_math::Modulus,
    d: &[&[u64]],
    b: &[KeyRow<'_>],
    a: &[KeyRow<'_>],
    o0: &mut [u64],
    o1: &mut [u64],
) {
    use pixveil_math::kernels::{mul_acc2_lazy, mul_acc2_lazy_u32};
    let n = o0.len();
    if m.value() < pixveil_math::kernels::LAZY_MAX_MODULUS {
        let c = pixveil_math::kernels::fold_constant(m.value());
        let mut acc0 = scratch::take::<u64>(n);
        let mut acc1 = scratch::take::<u64>(n);
        // Blocks of 512 coefficients keep both accumulators in L1 across all digits.
        const BLOCK: usize = 512;
        let mut start = 0;
        while start < n {
            let end = (start + BLOCK).min(n);
            for ((di, bi), ai) in d.iter().zip(b).zip(a) {
                let (a0, a1, x) = (
                    &mut acc0[start..end],
                    &mut acc1[start..end],
                    &di[start..end],
                );
                match (bi, ai) {
                    (KeyRow::U32(bk), KeyRow::U32(ak)) => {
                        mul_acc2_lazy_u32(a0, a1, x, &bk[start..end], &ak[start..end], c)
                    }
                    (KeyRow::U64(bk), KeyRow::U64(ak)) => {
                        mul_acc2_lazy(a0, a1, x, &bk[start..end], &ak[start..end], c)
                    }
                    (bk, ak) => {
                        // Mixed storage does not occur (one width per key); stay correct anyway.
                        for k in start..end {
                            let (u, v) = (row_value(bk, k), row_value(ak, k));
                            let s0 = a0[k - start] + x[k - start] * u;
                            let s1 = a1[k - start] + x[k - start] * v;
                            a0[k - start] = s0 - (c & (s0 >> 63).wrapping_neg());
                            a1[k - start] = s1 - (c & (s1 >> 63).wrapping_neg());
                        }
                    }
                }
            }
            start = end;
        }
        for (o, &v) in o0.iter_mut().zip(&acc0) {
            *o = m.reduce(v);
        }
        for (o, &v) in o1.iter_mut().zip(&acc1) {
            *o = m.reduce(v);
        }
        scratch::give(acc0, Held::Public);
        scratch::give(acc1, Held::Public);
        return;
    }
    let mut acc = scratch::take::<u128>(2 * n);
    for ((di, bi), ai) in d.iter().zip(b).zip(a) {
        for (k, (acc, &x)) in acc.chunks_exact_mut(2).zip(di.iter()).enumerate() {
            acc[0] += x as u128 * row_value(bi, k) as u128;
            acc[1] += x as u128 * row_value(ai, k) as u128;
        }
    }
    for ((acc, r0), r1) in acc.chunks_exact(2).zip(o0.iter_mut()).zip(o1.iter_mut()) {
        *r0 = m.reduce_u128(acc[0]);
        *r1 = m.reduce_u128(acc[1]);
    }
    scratch::give(acc, Held::Public);
}

/// Coefficient `k` of a key row. Rows are sliced to exactly `n` coefficients
/// (`StoredRows::row`), so `k < n` is in range; indexing panics on a broken key.
#[inline(always)]
fn row_value(r: &KeyRow<'_>, k: usize) -> u64 {
    match r {
        KeyRow::U32(v) => u64::from(v[k]),
        KeyRow::U64(v) => v[k],
    }
}

/// Writes `c mod m` for centered `c = center_{q}(y)`, `y ∈ [0, q)`, for every `y` in `src`.
fn lift_centered(
    q: &pixveil_math::Modulus,
    m: &pixveil_math::Modulus,
    src: &[u64],
    dst: &mut [u64],
) {
    pixveil_math::kernels::lift_centered(q.value(), m, src, dst);
}

/// Context prime index of row `r` of a polynomial over `q_0 … q_ℓ, p_0 … p_{K-1}`.
fn row_prime(ctx: &pixveil_ring::RingContext, level: usize, r: usize) -> usize {
    if r <= level {
        r
    } else {
        ctx.num_q() + (r - level - 1)
    }
}

/// Divides `x` (rows `q_0 … q_ℓ, p_0 … p_{K-1}`, NTT form) by `P = Π p_k`, returning rows
/// `q_0 … q_ℓ`. The remainder `[x]_P` is lifted centered (exact rounding): directly with one
/// special prime, by a float-corrected basis conversion with several. `held` says whether `x`
/// is secret-derived (a public-key encryption) or public (key switching): the scratch
/// remainders are returned to the pool as such.
pub(crate) fn mod_down(
    params: &Parameters,
    mut x: Vec<u64>,
    level: usize,
    held: Held,
) -> Result<Vec<u64>> {
    let ctx = params.ring();
    let n = ctx.degree();
    let k = ctx.num_p();
    let mut rem = scratch::take_dirty::<u64>(k * n);
    rem.copy_from_slice(&x[(level + 1) * n..(level + 1 + k) * n]);
    x.truncate((level + 1) * n);
    for (i, row) in rem.chunks_exact_mut(n).enumerate() {
        ctx.ntt(ctx.num_q() + i).backward(row);
    }
    let mut t = scratch::take_dirty::<u64>((level + 1) * n);
    if k == 1 {
        let pm = *ctx.modulus(ctx.num_q());
        for (j, tj) in t.chunks_exact_mut(n).enumerate() {
            lift_centered(&pm, ctx.modulus(j), &rem, tj);
        }
    } else {
        let conv = params.p_to_q.get(level).ok_or(Error::InvalidLevel {
            level,
            max: params.max_level(),
            op: "mod_down",
        })?;
        let rows_in: Vec<&[u64]> = rem.chunks_exact(n).collect();
        let mut rows_out: Vec<&mut [u64]> = t.chunks_exact_mut(n).collect();
        conv.convert_centered(&rows_in, &mut rows_out)?;
    }
    for (j, tj) in t.chunks_exact_mut(n).enumerate() {
        let m = *ctx.modulus(j);
        ctx.ntt(j).forward(tj);
        let (inv, invs) = params.p_inv_mod_q[j];
        pixveil_math::kernels::sub_mul_const(&m, &mut x[j * n..(j + 1) * n], tj, inv, invs);
    }
    scratch::give(rem, held);
    scratch::give(t, held);
    Ok(x)
}

/// Divides a polynomial over `q_0 … q_ℓ` by `q_ℓ` with rounding (NTT form in and out).
fn divide_by_last(p: Poly<Ntt>, level: usize, inv: &[(u64, u64)]) -> Result<Poly<Ntt>> {
    let ctx = p.context().clone();
    let n = ctx.degree();
    let mut data = p.into_data();
    let mut last = data.split_off(level * n);
    ctx.ntt(level).backward(&mut last);
    let ql = *ctx.modulus(level);
    let mut t = vec![0u64; n];
    for (j, &(w, ws)) in inv.iter().enumerate() {
        let m = *ctx.modulus(j);
        lift_centered(&ql, &m, &last, &mut t);
        ctx.ntt(j).forward(&mut t);
        pixveil_math::kernels::sub_mul_const(&m, &mut data[j * n..(j + 1) * n], &t, w, ws);
    }
    Ok(Poly::from_raw(&ctx, Basis { q: level, p: 0 }, data)?)
}

fn check_scales(a: f64, b: f64) -> Result<()> {
    if ((a - b) / a.max(b)).abs() > SCALE_TOLERANCE {
        return Err(Error::ScaleMismatch {
            left_log2: a.log2(),
            right_log2: b.log2(),
        });
    }
    Ok(())
}

fn round_i64(x: f64) -> Result<i64> {
    let r = x.round();
    if r.is_nan() || r.abs() >= 4_611_686_018_427_387_904.0 {
        return Err(Error::EncodingOverflow {
            log2: r.abs().log2(),
        });
    }
    Ok(r as i64)
}
