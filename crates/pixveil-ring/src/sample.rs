//! Samplers for RLWE: uniform polynomials, ternary secrets and discrete-Gaussian errors.
//!
//! All samplers take any `R: RngCore + CryptoRng`; pixveil uses `rand_chacha::ChaCha20Rng`,
//! seeded from the OS or from a 32-byte seed. Uniform polynomials can be expanded from a
//! seed ([`uniform_from_seed`]), which lets fresh symmetric ciphertexts and keys store 32
//! bytes instead of the polynomial `a`.
//!
//! Timing: the ternary and Gaussian samplers run in time independent of the sampled values
//! (table scans without early exit); uniform sampling uses rejection, whose timing only
//! depends on public randomness.

use crate::{Basis, Ntt, Poly, Result, RingContext};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};
use std::sync::{Arc, OnceLock};

/// Standard deviation of the error distribution (HomomorphicEncryption.org standard: 3.2).
pub const SIGMA: f64 = 3.2;
/// Largest error magnitude produced, `⌈6σ⌉`.
pub const MAX_ERROR: i64 = 19;

/// Uniform ternary coefficients in `{-1, 0, 1}`, each with probability 1/3 (up to 2^-32).
pub fn ternary<R: RngCore + CryptoRng>(n: usize, rng: &mut R) -> Vec<i64> {
    (0..n)
        .map(|_| ((rng.next_u32() as u64 * 3) >> 32) as i64 - 1)
        .collect()
}

/// Cumulative table: `cdt[k] = 2^64 · P(|X| ≤ k)` for the discrete Gaussian folded on `|X|`.
fn cdt() -> &'static [u64; MAX_ERROR as usize] {
    static T: OnceLock<[u64; MAX_ERROR as usize]> = OnceLock::new();
    T.get_or_init(|| {
        let rho = |x: f64| (-x * x / (2.0 * SIGMA * SIGMA)).exp();
        let total: f64 = rho(0.0) + 2.0 * (1..=MAX_ERROR).map(|x| rho(x as f64)).sum::<f64>();
        let mut acc = rho(0.0) / total;
        let mut t = [0u64; MAX_ERROR as usize];
        for (k, slot) in t.iter_mut().enumerate() {
            *slot = (acc * 18_446_744_073_709_551_616.0).min(u64::MAX as f64) as u64;
            acc += 2.0 * rho((k + 1) as f64) / total;
        }
        t
    })
}

/// Discrete Gaussian coefficients with `σ = 3.2`, truncated to `|x| ≤ 19`, sampled by a
/// full scan of a cumulative table (statistical distance to the ideal ≈ 2^-50).
pub fn gaussian<R: RngCore + CryptoRng>(n: usize, rng: &mut R) -> Vec<i64> {
    let t = cdt();
    (0..n)
        .map(|_| {
            let r = rng.next_u64();
            let mag: i64 = t.iter().map(|&c| (r >= c) as i64).sum();
            let sign = (rng.next_u32() & 1) as i64;
            // sign ? -mag : mag, without a branch.
            mag - 2 * sign * mag
        })
        .collect()
}

/// A uniformly random polynomial over `basis`, sampled directly in NTT form (the NTT is a
/// bijection, so this is uniform in `R_Q`). Rows are drawn in order, so the rows of a smaller
/// basis are a prefix of those of a larger one drawn from the same stream.
///
/// # Errors
/// [`crate::Error::InvalidBasis`].
pub fn uniform<R: RngCore + CryptoRng>(
    ctx: &Arc<RingContext>,
    basis: Basis,
    rng: &mut R,
) -> Result<Poly<Ntt>> {
    let mut p = Poly::<Ntt>::zero(ctx, basis)?;
    for r in 0..basis.len() {
        let q = ctx.modulus(ctx.prime_index(basis, r)).value();
        let mask = u64::MAX >> q.leading_zeros();
        for x in p.row_mut(r) {
            *x = loop {
                let v = rng.next_u64() & mask;
                if v < q {
                    break v;
                }
            };
        }
    }
    Ok(p)
}

/// [`uniform`] driven by `ChaCha20Rng::from_seed(seed)`: deterministic expansion of a
/// public 32-byte seed.
///
/// # Errors
/// [`crate::Error::InvalidBasis`].
pub fn uniform_from_seed(
    ctx: &Arc<RingContext>,
    basis: Basis,
    seed: &[u8; 32],
) -> Result<Poly<Ntt>> {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    uniform(ctx, basis, &mut rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixveil_math::primes::ntt_primes;

    #[test]
    fn distributions() {
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        let n = 1 << 16;
        let t = ternary(n, &mut rng);
        for v in -1..=1 {
            let c = t.iter().filter(|&&x| x == v).count() as f64 / n as f64;
            assert!((c - 1.0 / 3.0).abs() < 0.01, "{v}: {c}");
        }
        let g = gaussian(n, &mut rng);
        let mean = g.iter().sum::<i64>() as f64 / n as f64;
        let var = g.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.05, "{mean}");
        assert!((var.sqrt() - SIGMA).abs() < 0.05, "{}", var.sqrt());
        assert!(g.iter().all(|x| x.abs() <= MAX_ERROR));
    }

    #[test]
    fn seeded_uniform_is_deterministic_and_prefix_stable() {
        let q = ntt_primes(40, 3, 64, &[]).unwrap();
        let ctx = RingContext::new(64, &q, &[]).unwrap();
        let a = uniform_from_seed(&ctx, Basis { q: 3, p: 0 }, &[9; 32]).unwrap();
        let b = uniform_from_seed(&ctx, Basis { q: 2, p: 0 }, &[9; 32]).unwrap();
        assert_eq!(&a.data()[..128], b.data());
        assert!(a
            .data()
            .iter()
            .zip(q.iter().flat_map(|&q| [q; 64]))
            .all(|(&x, q)| x < q));
    }
}
