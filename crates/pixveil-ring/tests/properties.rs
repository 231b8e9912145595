//! Property tests of `pixveil-ring`: Galois automorphisms, NTT round trips at every prime size
//! the crate accepts, and χ² goodness-of-fit tests of the ternary and Gaussian samplers.
//!
//! Sources of truth (none of them is the code under test):
//! * automorphisms: the group laws of `σ_g : X ↦ X^g` on `Z_q[X]/(X^N + 1)` — `σ_g ∘ σ_h =
//!   σ_{gh mod 2N}`, `σ_{g⁻¹} ∘ σ_g = id` and `σ_g(a·b) = σ_g(a)·σ_g(b)`, `σ_g(a+b) = σ_g(a)+σ_g(b)`,
//!   with products checked against a schoolbook negacyclic convolution in `u128` arithmetic;
//! * NTT: `into_coeff(into_ntt(a)) = a`, and a pointwise product of transforms equals the
//!   schoolbook negacyclic product (so an identity "transform" cannot pass);
//! * samplers: the uniform distribution on `{−1, 0, 1}` and the ideal discrete Gaussian
//!   `P(x) ∝ exp(−x²/2σ²)`, `σ = 3.2`, computed here from the formula.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use pixveil_math::primes::ntt_primes;
use pixveil_math::zq::MAX_MODULUS_BITS;
use pixveil_ring::{
    galois_element_conjugate, galois_element_for_step, sample, Basis, Coeff, Poly, RingContext,
};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// Uniform coefficients of a polynomial over every prime of `basis`, row by row.
fn random_poly(ctx: &Arc<RingContext>, basis: Basis, seed: u64) -> Poly<Coeff> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n = ctx.degree();
    let mut data = Vec::with_capacity(n * basis.len());
    for r in 0..basis.len() {
        let q = ctx.modulus(ctx.prime_index(basis, r)).value();
        data.extend((0..n).map(|_| rng.next_u64() % q));
    }
    Poly::from_raw(ctx, basis, data).unwrap()
}

/// Schoolbook product in `Z_q[X]/(X^N + 1)` of every row, in `u128` (independent of the NTT).
fn schoolbook(ctx: &Arc<RingContext>, basis: Basis, a: &[u64], b: &[u64]) -> Vec<u64> {
    let n = ctx.degree();
    let mut out = vec![0u64; a.len()];
    for r in 0..basis.len() {
        let q = u128::from(ctx.modulus(ctx.prime_index(basis, r)).value());
        let (ra, rb) = (&a[r * n..(r + 1) * n], &b[r * n..(r + 1) * n]);
        let mut acc = vec![0u128; n];
        for (i, &x) in ra.iter().enumerate() {
            for (j, &y) in rb.iter().enumerate() {
                let v = u128::from(x) * u128::from(y) % q;
                let k = (i + j) % n;
                // X^(i+j) = −X^(i+j−N) when i + j ≥ N.
                acc[k] = if i + j < n {
                    (acc[k] + v) % q
                } else {
                    (acc[k] + q - v) % q
                };
            }
        }
        out[r * n..(r + 1) * n]
            .iter_mut()
            .zip(acc)
            .for_each(|(o, v)| *o = v as u64);
    }
    out
}

fn ntt_mul(a: &Poly<Coeff>, b: &Poly<Coeff>) -> Poly<Coeff> {
    let mut p = a.clone().into_ntt();
    p.mul_assign(&b.clone().into_ntt()).unwrap();
    p.into_coeff()
}

/// The inverse of odd `g` modulo `2N`, by search (independent of any formula).
fn inverse_mod_2n(g: usize, n: usize) -> usize {
    (1..2 * n)
        .step_by(2)
        .find(|h| g * h % (2 * n) == 1)
        .unwrap()
}

/// A context with two ciphertext primes and one special prime of different sizes.
fn rns_ctx(n: usize) -> Arc<RingContext> {
    let q = [
        ntt_primes(30, 1, n, &[]).unwrap()[0],
        ntt_primes(45, 1, n, &[]).unwrap()[0],
    ];
    let p = ntt_primes(60, 1, n, &[]).unwrap();
    RingContext::new(n, &q, &p).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// σ_g ∘ σ_h = σ_{gh mod 2N}, σ_{g⁻¹} ∘ σ_g = id, σ_g is additive and multiplicative, and the
    /// coefficient- and NTT-form automorphisms agree.
    #[test]
    fn automorphism_group_laws(
        log_n in 3u32..=8,
        gi in any::<u32>(),
        hi in any::<u32>(),
        seed in any::<u64>(),
    ) {
        let n = 1usize << log_n;
        let ctx = rns_ctx(n);
        let basis = ctx.full_basis();
        let (g, h) = (2 * (gi as usize % n) + 1, 2 * (hi as usize % n) + 1);
        let a = random_poly(&ctx, basis, seed);
        let b = random_poly(&ctx, basis, seed ^ 0x5555);

        let composed = a.automorphism(h).unwrap().automorphism(g).unwrap();
        prop_assert_eq!(&composed, &a.automorphism(g * h % (2 * n)).unwrap());

        let back = a.automorphism(g).unwrap().automorphism(inverse_mod_2n(g, n)).unwrap();
        prop_assert_eq!(&back, &a);
        prop_assert_eq!(&a.automorphism(1).unwrap(), &a);

        let mut sum = a.clone();
        sum.add_assign(&b).unwrap();
        let mut sum_of_images = a.automorphism(g).unwrap();
        sum_of_images.add_assign(&b.automorphism(g).unwrap()).unwrap();
        prop_assert_eq!(&sum.automorphism(g).unwrap(), &sum_of_images);

        let image_of_product = ntt_mul(&a, &b).automorphism(g).unwrap();
        let product_of_images = ntt_mul(&a.automorphism(g).unwrap(), &b.automorphism(g).unwrap());
        prop_assert_eq!(&image_of_product, &product_of_images);
        // The same with the schoolbook product, so the NTT is not trusted here.
        let school = schoolbook(
            &ctx,
            basis,
            a.automorphism(g).unwrap().data(),
            b.automorphism(g).unwrap().data(),
        );
        prop_assert_eq!(image_of_product.data(), &school[..]);

        let in_ntt = a.clone().into_ntt().automorphism(g).unwrap();
        prop_assert_eq!(&in_ntt.into_coeff(), &a.automorphism(g).unwrap());
        prop_assert!(a.automorphism(g + 1).is_err());
    }

    /// Rotation elements compose like rotations: 5^s · 5^t = 5^(s+t) (mod 2N, steps mod N/2),
    /// and conjugation is an involution distinct from every rotation.
    #[test]
    fn galois_elements_compose(log_n in 3u32..=12, s in -5000i64..5000, t in -5000i64..5000) {
        let n = 1usize << log_n;
        let (gs, gt) = (galois_element_for_step(s, n), galois_element_for_step(t, n));
        prop_assert_eq!(gs * gt % (2 * n), galois_element_for_step(s + t, n));
        prop_assert_eq!(gs * galois_element_for_step(-s, n) % (2 * n), 1);
        let c = galois_element_conjugate(n);
        prop_assert_eq!(c * c % (2 * n), 1);
        prop_assert_ne!(c, gs);
    }

    /// NTT round trip and NTT product = schoolbook product, for a prime of every bit size from
    /// 6 to 61 (`MAX_MODULUS_BITS`) and degrees 8 … 128: this crosses every backend of
    /// `pixveil-math`'s NTT (32-bit AVX2 below 2^31, f64 AVX2 from 2^31 to 2^50, scalar above,
    /// and scalar for degree 8).
    #[test]
    fn ntt_round_trip_and_product(
        bits in 6u32..=MAX_MODULUS_BITS,
        log_n in 3u32..=7,
        seed in any::<u64>(),
    ) {
        let n = 1usize << log_n;
        // The smallest sizes have no prime ≡ 1 mod 2N for large N.
        prop_assume!((1u64 << (bits - 1)) > 2 * n as u64);
        let Ok(q) = ntt_primes(bits, 1, n, &[]) else {
            return Err(TestCaseError::reject("no prime of this size"));
        };
        let ctx = RingContext::new(n, &q, &[]).unwrap();
        let basis = ctx.full_basis();
        let a = random_poly(&ctx, basis, seed);
        let b = random_poly(&ctx, basis, !seed);
        prop_assert_eq!(&a.clone().into_ntt().into_coeff(), &a);
        let product = ntt_mul(&a, &b);
        let want = schoolbook(&ctx, basis, a.data(), b.data());
        prop_assert_eq!(product.data(), &want[..]);
    }
}

/// Every bit size is covered deterministically as well (the property test above samples them):
/// round trip at degree 1024 and round trip and product at degree 16, for every size from the
/// smallest that has an NTT prime for the degree up to `MAX_MODULUS_BITS` = 61.
#[test]
fn ntt_every_prime_size() {
    let mut tested = 0;
    for bits in 6..=MAX_MODULUS_BITS {
        for n in [16usize, 1024] {
            if (1u64 << (bits - 1)) <= 2 * n as u64 {
                continue;
            }
            // Small sizes hold few primes ≡ 1 mod 2N (none of 13 bits for N = 1024); from 16
            // bits up every size has one.
            let Ok(q) = ntt_primes(bits, 1, n, &[]) else {
                assert!(bits < 16, "no {bits}-bit NTT prime for N = {n}");
                continue;
            };
            tested += 1;
            assert_eq!(64 - q[0].leading_zeros(), bits);
            let ctx = RingContext::new(n, &q, &[]).unwrap();
            let basis = ctx.full_basis();
            let a = random_poly(&ctx, basis, u64::from(bits));
            assert_eq!(a.clone().into_ntt().into_coeff(), a, "{bits} bits, N = {n}");
            if n == 16 {
                let b = random_poly(&ctx, basis, u64::from(bits) + 1000);
                let want = schoolbook(&ctx, basis, a.data(), b.data());
                assert_eq!(ntt_mul(&a, &b).data(), &want[..], "{bits} bits");
            }
        }
    }
    // 7 … 61 bits at N = 16 (a prime ≡ 1 mod 32 needs 2^(bits−1) > 32), 14 … 61 bits at
    // N = 1024 (there is no 13-bit prime ≡ 1 mod 2048).
    assert_eq!(tested, 55 + 48, "prime sizes covered");
}

/// Upper tail `P(χ²_k ≥ x)` of the chi-square distribution with an **even** number `k` of
/// degrees of freedom, in closed form: `Q(x; 2m) = e^{−x/2} Σ_{j<m} (x/2)^j / j!` (the Poisson
/// identity; e.g. Abramowitz & Stegun 26.4.21). For k = 2 it is `e^{−x/2}`, so the critical value
/// at p = 0.001 is `−2 ln 0.001 ≈ 13.82`; for k = 20 it is ≈ 45.31 (the tabulated χ²_{20, 0.999}).
fn chi2_upper_tail_even(x: f64, k: usize) -> f64 {
    assert!(k.is_multiple_of(2) && k > 0);
    let half = x / 2.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for j in 1..k / 2 {
        term *= half / j as f64;
        sum += term;
    }
    (-half).exp() * sum
}

/// Pearson's statistic `Σ (O − E)² / E`.
fn chi2(observed: &[u64], expected_p: &[f64], n: usize) -> f64 {
    observed
        .iter()
        .zip(expected_p)
        .map(|(&o, &p)| {
            let e = p * n as f64;
            (o as f64 - e).powi(2) / e
        })
        .sum()
}

/// Significance level of the goodness-of-fit tests. The seeds are fixed, so each test is
/// deterministic; a correct sampler fails a given seed with probability 0.001.
const ALPHA: f64 = 0.001;

#[test]
fn chi2_tail_matches_tables() {
    // Tabulated critical values (NIST/SEMATECH e-Handbook, table 1.3.6.7.4, upper 0.1 %).
    assert!((chi2_upper_tail_even(13.816, 2) - 0.001).abs() < 1e-6);
    assert!((chi2_upper_tail_even(45.315, 20) - 0.001).abs() < 1e-5);
    assert!((chi2_upper_tail_even(18.467, 4) - 0.001).abs() < 1e-5);
}

fn ternary_counts(n: usize, seed: u8) -> [u64; 3] {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let mut counts = [0u64; 3];
    for &v in sample::ternary(n, &mut rng).iter() {
        counts[usize::try_from(v + 1).unwrap()] += 1;
    }
    counts
}

/// Ternary sampler: three cells, 2 degrees of freedom; reject at p < 0.001 (statistic above
/// 13.82). The same counts against a slightly skewed law (0.34, 0.32, 0.34) are rejected: with
/// 60 000 draws the test sees a 1 % bias.
#[test]
fn ternary_is_uniform_chi2() {
    let n = 60_000;
    for seed in [1u8, 2, 3] {
        let counts = ternary_counts(n, seed);
        let stat = chi2(&counts, &[1.0 / 3.0; 3], n);
        let p = chi2_upper_tail_even(stat, 2);
        eprintln!("ternary seed {seed}: {counts:?}, χ² = {stat:.2} (2 df), p = {p:.3}");
        assert!(
            p > ALPHA,
            "seed {seed}: {counts:?}, χ² = {stat:.2}, p = {p:.2e}"
        );
        let skewed = chi2(&counts, &[0.34, 0.32, 0.34], n);
        assert!(
            chi2_upper_tail_even(skewed, 2) < ALPHA,
            "the test has no power: χ² = {skewed:.2}"
        );
    }
}

/// Ideal discrete Gaussian probabilities of the 21 cells `x ≤ −10`, `−9 … 9`, `x ≥ 10` for
/// standard deviation `sigma`, from `ρ(x) = exp(−x²/2σ²)` summed over |x| ≤ 60.
fn gaussian_cells(sigma: f64) -> Vec<f64> {
    let rho = |x: i64| (-((x * x) as f64) / (2.0 * sigma * sigma)).exp();
    let total: f64 = (-60..=60).map(rho).sum();
    let tail: f64 = (10..=60).map(rho).sum::<f64>() / total;
    let mut cells = vec![tail];
    cells.extend((-9..=9).map(|x| rho(x) / total));
    cells.push(tail);
    cells
}

fn gaussian_counts(n: usize, seed: u8) -> Vec<u64> {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let mut counts = vec![0u64; 21];
    for &v in sample::gaussian(n, &mut rng).iter() {
        counts[usize::try_from(v.clamp(-10, 10) + 10).unwrap()] += 1;
    }
    counts
}

/// Gaussian sampler (σ = 3.2): 21 cells (each expected count ≥ 140), 20 degrees of freedom;
/// reject at p < 0.001 (statistic above 45.31). The same counts against σ = 3.1 are rejected
/// (power check: its expected statistic is ≈ 214), and so is a sampler that lost its sign bit
/// (all mass on x ≥ 0).
#[test]
fn gaussian_fits_the_ideal_discrete_gaussian_chi2() {
    let n = 100_000;
    let ideal = gaussian_cells(sample::SIGMA);
    for seed in [1u8, 2] {
        let counts = gaussian_counts(n, seed);
        let stat = chi2(&counts, &ideal, n);
        let p = chi2_upper_tail_even(stat, 20);
        eprintln!("gaussian seed {seed}: χ² = {stat:.2} (20 df), p = {p:.3}");
        assert!(
            p > ALPHA,
            "seed {seed}: {counts:?}, χ² = {stat:.2}, p = {p:.2e}"
        );
        let narrower = chi2(&counts, &gaussian_cells(3.1), n);
        assert!(
            chi2_upper_tail_even(narrower, 20) < ALPHA,
            "no power: χ² = {narrower:.2}"
        );
        let mut folded = vec![0u64; 21];
        for (k, &c) in counts.iter().enumerate() {
            folded[k.max(20 - k)] += c;
        }
        let unsigned = chi2(&folded, &ideal, n);
        assert!(chi2_upper_tail_even(unsigned, 20) < ALPHA);
    }
}
