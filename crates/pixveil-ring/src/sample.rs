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
use zeroize::Zeroizing;

/// Standard deviation of the error distribution (HomomorphicEncryption.org standard: 3.2).
pub const SIGMA: f64 = 3.2;
/// Largest error magnitude produced: the Gaussian is truncated to `|x| ≤ 28` (`⌊8.75σ⌋`).
/// The ideal discrete Gaussian puts mass `P(|X| > 28) ≈ 2^-61.2` beyond it (beyond 19, the
/// usual `⌊6σ⌋`, the mass is `≈ 2^-30`, too coarse for a sampler meant to be `2^-50`-close).
pub const MAX_ERROR: i64 = 28;

/// Uniform ternary coefficients in `{-1, 0, 1}`, each with probability 1/3 (up to 2^-32).
/// Secrets and encryption randomness: the vector is zeroized when dropped.
pub fn ternary<R: RngCore + CryptoRng>(n: usize, rng: &mut R) -> Zeroizing<Vec<i64>> {
    Zeroizing::new(
        (0..n)
            .map(|_| ((rng.next_u32() as u64 * 3) >> 32) as i64 - 1)
            .collect(),
    )
}

/// `2^64` as a float.
const TWO_64: f64 = 18_446_744_073_709_551_616.0;

/// Unnormalized probability of `|X| = k` under the ideal discrete Gaussian:
/// `ρ(0)` for `k = 0`, `2ρ(k)` otherwise, with `ρ(x) = exp(−x²/2σ²)`.
fn folded_weight(k: i64) -> f64 {
    let rho = |x: f64| (-x * x / (2.0 * SIGMA * SIGMA)).exp();
    if k == 0 {
        rho(0.0)
    } else {
        2.0 * rho(k as f64)
    }
}

/// Cumulative table: `cdt[k] = 2^64 · P(|X| ≤ k)` for the discrete Gaussian folded on `|X|`
/// and truncated to `|X| ≤ MAX_ERROR` (the sampler returns `MAX_ERROR` when
/// `r ≥ cdt[MAX_ERROR − 1]`).
///
/// Each entry is computed from the smaller side, `P(|X| ≤ k)` below one half and
/// `1 − P(|X| > k)` above, each as a sum of small terms first: an entry is then off by a
/// relative `≈ 2^-52` of the smaller side instead of `2^-53` absolute (which, near 1, is
/// more than the whole tail).
fn cdt() -> &'static [u64; MAX_ERROR as usize] {
    static T: OnceLock<[u64; MAX_ERROR as usize]> = OnceLock::new();
    T.get_or_init(|| {
        let total: f64 = (0..=MAX_ERROR).rev().map(folded_weight).sum();
        let mut t = [0u64; MAX_ERROR as usize];
        for (k, slot) in (0..MAX_ERROR).zip(t.iter_mut()) {
            let below = (0..=k).rev().map(folded_weight).sum::<f64>() / total;
            *slot = if below <= 0.5 {
                (below * TWO_64).round() as u64
            } else {
                let above = ((k + 1)..=MAX_ERROR).rev().map(folded_weight).sum::<f64>() / total;
                let a = (above * TWO_64).round() as u64;
                // 2^64 − a, with a ≥ 2^64·P(|X| = MAX_ERROR) ≈ 2^3 > 0.
                u64::MAX
                    - a.checked_sub(1)
                        .expect("the truncated tail beyond k < MAX_ERROR is at least 2^-61")
            };
        }
        t
    })
}

/// Discrete Gaussian coefficients with `σ = 3.2`, truncated to `|x| ≤ MAX_ERROR = 28`,
/// sampled by a full scan of a 64-bit cumulative table. Statistical distance to the ideal
/// (untruncated) discrete Gaussian: ≈ 2^-54.7 per coefficient (the table's distribution
/// against the ideal in 60-digit arithmetic: the tail beyond 28, 2^-61.2, plus the f64
/// rounding of the entries); the `gaussian_is_close_to_ideal` test checks it is below 2^-48.
/// Truncating at 19 instead (`⌊6σ⌋`, SEAL's bound) is 2^-30 away. Errors are secret: the
/// vector is zeroized when dropped.
pub fn gaussian<R: RngCore + CryptoRng>(n: usize, rng: &mut R) -> Zeroizing<Vec<i64>> {
    let t = cdt();
    Zeroizing::new(
        (0..n)
            .map(|_| {
                let r = rng.next_u64();
                let mag: i64 = t.iter().map(|&c| (r >= c) as i64).sum();
                let sign = (rng.next_u32() & 1) as i64;
                // sign ? -mag : mag, without a branch.
                mag - 2 * sign * mag
            })
            .collect(),
    )
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

    /// The sampler's distribution (read off its table) is within 2^-48 of the ideal
    /// untruncated discrete Gaussian in statistical distance, and the truncation bound cuts
    /// off less than 2^-60 of ideal mass. Truncating at 19 (the old bound) is ≈ 2^-30 away.
    #[test]
    fn gaussian_is_close_to_ideal() {
        // Ideal folded probabilities P(|X| = k), k = 0 … 80 (the rest is below 2^-900).
        let ideal_total: f64 = (0..=80).rev().map(folded_weight).sum();
        let ideal = |k: i64| folded_weight(k) / ideal_total;
        let tail = |b: i64| ((b + 1)..=80).rev().map(ideal).sum::<f64>();
        assert!(
            tail(MAX_ERROR) < (-60f64).exp2(),
            "{}",
            tail(MAX_ERROR).log2()
        );
        assert!(tail(19) > (-31f64).exp2(), "{}", tail(19).log2());

        // 2^64 · P(|X| ≤ k) for k = 0 … MAX_ERROR (the last bound is 2^64: always).
        let bounds = cdt().iter().map(|&c| u128::from(c)).chain([1u128 << 64]);
        let mut prev = 0u128;
        let mut distance = 0.0;
        for (k, upto) in (0..=MAX_ERROR).zip(bounds) {
            let p = (upto - prev) as f64 / TWO_64;
            distance += (p - ideal(k)).abs();
            prev = upto;
        }
        distance = 0.5 * (distance + tail(MAX_ERROR));
        assert!(
            distance < (-48f64).exp2(),
            "statistical distance 2^{:.1}",
            distance.log2()
        );
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
