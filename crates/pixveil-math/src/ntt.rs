//! The negacyclic NTT over `Z_q[X]/(X^N + 1)`.
//!
//! Forward: Cooley–Tukey butterflies with the powers of a primitive `2N`-th root `ψ` in
//! bit-reversed order (merging the `ψ^i` pre-twist into the transform); inverse:
//! Gentleman–Sande with `ψ^{-1}`. Butterflies are Harvey's lazy ones: values stay in
//! `[0, 4q)` (forward) or `[0, 2q)` (inverse) and twiddles use Shoup multiplication, so a
//! butterfly costs two multiplications and no division.
//!
//! Output order: `forward(a)[j] = a(ψ^(2·bitrev(j) + 1))`, i.e. evaluations at the odd
//! powers of `ψ` in bit-reversed order (the order SEAL uses). Galois automorphisms act on
//! this order as index permutations (see [`NttTable::galois_permutation`]).
//!
//! Backends, selected at run time with `is_x86_feature_detected!`: an AVX2 path (eight
//! 32-bit lanes, 32-bit Shoup multiplication with `vpmuludq`/`vpmulld`, see `avx2_32`) for
//! primes below 2^31 and degrees ≥ 16; an AVX2 + FMA path in double precision (four lanes,
//! exact FMA-based modular products, see `avx2_f64`) for primes from 2^31 to 2^50; and a
//! portable scalar path (radix-4 Harvey butterflies) for everything, up to 61-bit primes.

use crate::primes::primitive_root;
use crate::zq::Modulus;
use crate::{Error, Result};

#[cfg(target_arch = "x86_64")]
mod avx2_32;
#[cfg(target_arch = "x86_64")]
mod avx2_f64;

/// Smallest supported ring degree.
pub const MIN_DEGREE: usize = 8;
/// Largest supported ring degree.
pub const MAX_DEGREE: usize = 1 << 17;

/// Reverses the lowest `bits` bits of `x`.
#[inline]
pub fn bit_reverse(x: usize, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        x.reverse_bits() >> (usize::BITS - bits)
    }
}

/// Which implementation a [`NttTable`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// Portable scalar Harvey butterflies (any prime < 2^61).
    Scalar,
    /// AVX2 kernel on eight 32-bit lanes (primes < 2^31, degree ≥ 16, CPUs with AVX2).
    Avx2,
    /// AVX2 + FMA kernel in double precision (primes `2^31 ≤ q < 2^50`, degree ≥ 8).
    Avx2Fma,
}

/// Precomputed tables for the negacyclic NTT of degree `N` modulo one prime.
#[derive(Debug, Clone)]
pub struct NttTable {
    m: Modulus,
    n: usize,
    log_n: u32,
    /// `ψ^bitrev(i)` and Shoup companions (64-bit).
    psi: Vec<u64>,
    psi_shoup: Vec<u64>,
    /// `ψ^{-bitrev(i)}`... stored in the order the inverse transform reads them.
    ipsi: Vec<u64>,
    ipsi_shoup: Vec<u64>,
    n_inv: u64,
    n_inv_shoup: u64,
    backend: Backend,
    #[cfg(target_arch = "x86_64")]
    simd32: Option<avx2_32::Tables32>,
    #[cfg(target_arch = "x86_64")]
    simd64: Option<avx2_f64::TablesF64>,
}

impl NttTable {
    /// Builds the tables for degree `n` (a power of two in `8..=2^17`) modulo the prime `q`
    /// (`q ≡ 1 mod 2n`, at most 61 bits).
    ///
    /// # Errors
    /// [`Error::InvalidDegree`], [`Error::InvalidModulus`] or [`Error::NotNttFriendly`].
    pub fn new(q: u64, n: usize) -> Result<Self> {
        Self::with_backend(q, n, true)
    }

    /// Like [`NttTable::new`] but never uses SIMD (for tests and benchmarks).
    ///
    /// # Errors
    /// As [`NttTable::new`].
    pub fn new_scalar(q: u64, n: usize) -> Result<Self> {
        Self::with_backend(q, n, false)
    }

    fn with_backend(q: u64, n: usize, allow_simd: bool) -> Result<Self> {
        if !n.is_power_of_two() || !(MIN_DEGREE..=MAX_DEGREE).contains(&n) {
            return Err(Error::InvalidDegree {
                degree: n,
                min: MIN_DEGREE,
                max: MAX_DEGREE,
            });
        }
        let m = Modulus::new(q)?;
        let psi_root = primitive_root(q, 2 * n as u64).ok_or(Error::NotNttFriendly {
            modulus: q,
            degree: n,
        })?;
        let log_n = n.trailing_zeros();
        let ipsi_root = m.inv(psi_root).ok_or(Error::NotNttFriendly {
            modulus: q,
            degree: n,
        })?;
        let mut pow = vec![0u64; n];
        let mut ipow = vec![0u64; n];
        let (mut p, mut ip) = (1u64, 1u64);
        for i in 0..n {
            pow[i] = p;
            ipow[i] = ip;
            p = m.mul(p, psi_root);
            ip = m.mul(ip, ipsi_root);
        }
        let psi: Vec<u64> = (0..n).map(|i| pow[bit_reverse(i, log_n)]).collect();
        // The inverse (Gentleman–Sande) transform reads `ipsi[h + i]` at the stage with `h`
        // groups; entry `k` must be ψ^{-bitrev(k)}... shifted by one so that the same
        // index pattern as the forward transform applies.
        let ipsi: Vec<u64> = (0..n).map(|i| ipow[bit_reverse(i, log_n)]).collect();
        let psi_shoup = psi.iter().map(|&w| m.shoup(w)).collect();
        let ipsi_shoup = ipsi.iter().map(|&w| m.shoup(w)).collect();
        let n_inv = m.inv(n as u64).ok_or(Error::NotNttFriendly {
            modulus: q,
            degree: n,
        })?;
        #[cfg(target_arch = "x86_64")]
        // The constructors check the CPU and the modulus range themselves.
        let simd32 = allow_simd
            .then(|| avx2_32::Tables32::new(q, &psi, &ipsi, n_inv))
            .flatten();
        #[cfg(target_arch = "x86_64")]
        let simd64 = allow_simd
            .then(|| avx2_f64::TablesF64::new(q, &psi, &ipsi, n_inv))
            .flatten();
        #[cfg(target_arch = "x86_64")]
        let backend = if simd32.is_some() {
            Backend::Avx2
        } else if simd64.is_some() {
            Backend::Avx2Fma
        } else {
            Backend::Scalar
        };
        #[cfg(not(target_arch = "x86_64"))]
        let backend = {
            let _ = allow_simd;
            Backend::Scalar
        };
        Ok(Self {
            m,
            n,
            log_n,
            psi,
            psi_shoup,
            ipsi,
            ipsi_shoup,
            n_inv,
            n_inv_shoup: m.shoup(n_inv),
            backend,
            #[cfg(target_arch = "x86_64")]
            simd32,
            #[cfg(target_arch = "x86_64")]
            simd64,
        })
    }

    /// The modulus.
    #[inline]
    pub fn modulus(&self) -> &Modulus {
        &self.m
    }

    /// The degree `N`.
    #[inline]
    pub fn degree(&self) -> usize {
        self.n
    }

    /// The backend this table dispatches to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// In-place forward NTT. Input coefficients in `[0, q)`, output in `[0, q)`.
    ///
    /// # Panics
    /// If `a.len() != N` (a programming error inside the ring layer, which checks lengths).
    pub fn forward(&self, a: &mut [u64]) {
        assert_eq!(a.len(), self.n, "NTT length");
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = &self.simd32 {
            t.forward(a);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = &self.simd64 {
            t.forward(a);
            return;
        }
        self.forward_scalar(a);
    }

    /// In-place inverse NTT. Input in `[0, q)`, output in `[0, q)`.
    ///
    /// # Panics
    /// If `a.len() != N`.
    pub fn backward(&self, a: &mut [u64]) {
        assert_eq!(a.len(), self.n, "NTT length");
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = &self.simd32 {
            t.backward(a);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = &self.simd64 {
            t.backward(a);
            return;
        }
        self.backward_scalar(a);
    }

    /// Scalar forward transform (any backend).
    pub fn forward_scalar(&self, a: &mut [u64]) {
        let q = self.m.value();
        let two_q = 2 * q;
        let n = self.n;
        let md = &self.m;
        // Cooley–Tukey butterfly on [0, 4q) values; `min` with the wrapped difference is
        // cmp + cmov (no unpredictable branch).
        let ct = |x: u64, y: u64, w: u64, ws: u64| -> (u64, u64) {
            let u = x.min(x.wrapping_sub(two_q));
            let v = md.mul_shoup_lazy(y, w, ws);
            (u + v, u + two_q - v)
        };
        let mut t = n;
        let mut m = 1;
        // Two stages per pass (radix 4): half the loads and stores of radix 2.
        while t >= 4 {
            let h = t / 4; // distance of the second stage
            for i in 0..m {
                let (w1, ws1) = (self.psi[m + i], self.psi_shoup[m + i]);
                let (w2, ws2) = (self.psi[2 * m + 2 * i], self.psi_shoup[2 * m + 2 * i]);
                let (w3, ws3) = (
                    self.psi[2 * m + 2 * i + 1],
                    self.psi_shoup[2 * m + 2 * i + 1],
                );
                let blk = &mut a[i * t..(i + 1) * t];
                let (b01, b23) = blk.split_at_mut(2 * h);
                let (b0, b1) = b01.split_at_mut(h);
                let (b2, b3) = b23.split_at_mut(h);
                for (((x0, x1), x2), x3) in b0
                    .iter_mut()
                    .zip(b1.iter_mut())
                    .zip(b2.iter_mut())
                    .zip(b3.iter_mut())
                {
                    let (y0, y2) = ct(*x0, *x2, w1, ws1);
                    let (y1, y3) = ct(*x1, *x3, w1, ws1);
                    let (z0, z1) = ct(y0, y1, w2, ws2);
                    let (z2, z3) = ct(y2, y3, w3, ws3);
                    (*x0, *x1, *x2, *x3) = (z0, z1, z2, z3);
                }
            }
            m <<= 2;
            t >>= 2;
        }
        if t == 2 {
            // One radix-2 stage left (odd log N): distance 1, m = N/2 groups.
            for (i, pair) in a.chunks_exact_mut(2).enumerate() {
                let (x, y) = ct(pair[0], pair[1], self.psi[m + i], self.psi_shoup[m + i]);
                pair[0] = x;
                pair[1] = y;
            }
        }
        for x in a.iter_mut() {
            let v = (*x).min(x.wrapping_sub(two_q));
            *x = v.min(v.wrapping_sub(q));
        }
    }

    /// Scalar inverse transform (any backend).
    pub fn backward_scalar(&self, a: &mut [u64]) {
        let q = self.m.value();
        let two_q = 2 * q;
        let n = self.n;
        let md = &self.m;
        // Gentleman–Sande butterfly on [0, 2q) values.
        let gs = |x: u64, y: u64, w: u64, ws: u64| -> (u64, u64) {
            let s = x + y;
            (
                s.min(s.wrapping_sub(two_q)),
                md.mul_shoup_lazy(x + two_q - y, w, ws),
            )
        };
        let mut t = 1;
        let mut h = n / 2; // groups of the current stage
        if n.trailing_zeros() % 2 == 1 {
            // Odd log N: one radix-2 stage first (distance 1).
            for (i, pair) in a.chunks_exact_mut(2).enumerate() {
                let (x, y) = gs(pair[0], pair[1], self.ipsi[h + i], self.ipsi_shoup[h + i]);
                pair[0] = x;
                pair[1] = y;
            }
            t = 2;
            h /= 2;
        }
        while h >= 2 {
            // Stage (distance t, h groups) fused with stage (distance 2t, h/2 groups).
            for i in 0..h / 2 {
                let (w1, ws1) = (self.ipsi[h + 2 * i], self.ipsi_shoup[h + 2 * i]);
                let (w2, ws2) = (self.ipsi[h + 2 * i + 1], self.ipsi_shoup[h + 2 * i + 1]);
                let (w3, ws3) = (self.ipsi[h / 2 + i], self.ipsi_shoup[h / 2 + i]);
                let blk = &mut a[4 * i * t..4 * (i + 1) * t];
                let (b01, b23) = blk.split_at_mut(2 * t);
                let (b0, b1) = b01.split_at_mut(t);
                let (b2, b3) = b23.split_at_mut(t);
                for (((x0, x1), x2), x3) in b0
                    .iter_mut()
                    .zip(b1.iter_mut())
                    .zip(b2.iter_mut())
                    .zip(b3.iter_mut())
                {
                    let (y0, y1) = gs(*x0, *x1, w1, ws1);
                    let (y2, y3) = gs(*x2, *x3, w2, ws2);
                    let (z0, z2) = gs(y0, y2, w3, ws3);
                    let (z1, z3) = gs(y1, y3, w3, ws3);
                    (*x0, *x1, *x2, *x3) = (z0, z1, z2, z3);
                }
            }
            t <<= 2;
            h >>= 2;
        }
        for x in a.iter_mut() {
            *x = self.m.mul_shoup(*x, self.n_inv, self.n_inv_shoup);
        }
    }

    /// Index permutation implementing the Galois automorphism `X → X^g` (odd `g`) on
    /// NTT-form vectors: `out[j] = in[perm[j]]`.
    pub fn galois_permutation(&self, g: usize) -> Vec<usize> {
        galois_permutation(self.n, g)
    }

    /// `log2(N)`.
    pub fn log_degree(&self) -> u32 {
        self.log_n
    }
}

/// Index permutation of the Galois automorphism `X → X^g` (odd `g` modulo `2N`) on vectors in
/// this module's NTT order: `out[j] = in[perm[j]]`.
pub fn galois_permutation(n: usize, g: usize) -> Vec<usize> {
    let log_n = n.trailing_zeros();
    let mask = 2 * n - 1;
    (0..n)
        .map(|j| {
            // out[j] = (σ_g a)(ψ^e) = a(ψ^(g·e)) with e = 2·bitrev(j) + 1.
            let e = 2 * bit_reverse(j, log_n) + 1;
            let e2 = (e * g) & mask;
            bit_reverse((e2 - 1) >> 1, log_n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primes::ntt_primes;
    use proptest::prelude::*;

    fn negacyclic_mul(a: &[u64], b: &[u64], m: &Modulus) -> Vec<u64> {
        let n = a.len();
        let mut out = vec![0u64; n];
        for i in 0..n {
            for j in 0..n {
                let p = m.mul(a[i], b[j]);
                if i + j < n {
                    out[i + j] = m.add(out[i + j], p);
                } else {
                    out[i + j - n] = m.sub(out[i + j - n], p);
                }
            }
        }
        out
    }

    fn check_degree(n: usize, bits: u32, a: &[u64], b: &[u64]) {
        for q in ntt_primes(bits, 1, n, &[]).unwrap() {
            for t in [
                NttTable::new(q, n).unwrap(),
                NttTable::new_scalar(q, n).unwrap(),
            ] {
                let m = *t.modulus();
                let a: Vec<u64> = a.iter().map(|&x| m.reduce(x)).collect();
                let b: Vec<u64> = b.iter().map(|&x| m.reduce(x)).collect();
                let want = negacyclic_mul(&a, &b, &m);
                let (mut fa, mut fb) = (a.clone(), b.clone());
                t.forward(&mut fa);
                t.forward(&mut fb);
                assert!(fa.iter().all(|&x| x < q));
                let mut prod: Vec<u64> = fa.iter().zip(&fb).map(|(&x, &y)| m.mul(x, y)).collect();
                t.backward(&mut prod);
                assert_eq!(prod, want, "n={n} q={q} backend={:?}", t.backend());
                t.backward(&mut fa);
                assert_eq!(fa, a);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn ntt_matches_naive_convolution(
            a in proptest::collection::vec(any::<u64>(), 64),
            b in proptest::collection::vec(any::<u64>(), 64),
            bits in prop::sample::select(vec![20u32, 26, 30, 31, 40, 50, 60, 61]),
        ) {
            check_degree(64, bits, &a, &b);
            check_degree(32, bits, &a[..32], &b[..32]);
            check_degree(16, bits, &a[..16], &b[..16]);
            check_degree(8, bits, &a[..8], &b[..8]);
        }
    }

    #[test]
    fn evaluation_order_and_galois() {
        let n = 32;
        let q = ntt_primes(30, 1, n, &[]).unwrap()[0];
        let t = NttTable::new(q, n).unwrap();
        let m = *t.modulus();
        let psi = primitive_root(q, 2 * n as u64).unwrap();
        let a: Vec<u64> = (0..n as u64).map(|i| i * i + 3).collect();
        let mut fa = a.clone();
        t.forward(&mut fa);
        for (j, &v) in fa.iter().enumerate() {
            let x = m.pow(psi, (2 * bit_reverse(j, t.log_degree()) + 1) as u64);
            let mut acc = 0;
            for &c in a.iter().rev() {
                acc = m.add(m.mul(acc, x), c);
            }
            assert_eq!(v, acc);
        }
        for g in [3usize, 5, 25, 2 * n - 1] {
            // coefficient-form automorphism
            let mut sa = vec![0u64; n];
            for (i, &c) in a.iter().enumerate() {
                let k = i * g % (2 * n);
                if k < n {
                    sa[k] = c;
                } else {
                    sa[k - n] = m.neg(c);
                }
            }
            t.forward(&mut sa);
            let perm = t.galois_permutation(g);
            let via_perm: Vec<u64> = perm.iter().map(|&p| fa[p]).collect();
            assert_eq!(sa, via_perm, "g={g}");
        }
    }

    #[test]
    fn simd_matches_scalar_at_full_size() {
        let n = 8192;
        for bits in [26u32, 30, 31, 40, 48, 50, 55] {
            let q = ntt_primes(bits, 1, n, &[]).unwrap()[0];
            let fast = NttTable::new(q, n).unwrap();
            let slow = NttTable::new_scalar(q, n).unwrap();
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") && bits <= 31 {
                assert_eq!(fast.backend(), Backend::Avx2);
            }
            if std::arch::is_x86_feature_detected!("fma") && (32..=50).contains(&bits) {
                assert_eq!(fast.backend(), Backend::Avx2Fma);
            }
            let a: Vec<u64> = (0..n as u64).map(|i| (i * i * 7919 + 13) % q).collect();
            let (mut x, mut y) = (a.clone(), a.clone());
            fast.forward(&mut x);
            slow.forward(&mut y);
            assert_eq!(x, y, "forward {bits}");
            fast.backward(&mut x);
            assert_eq!(x, a, "backward {bits}");
        }
    }

    #[test]
    fn rejects_bad_inputs() {
        assert!(NttTable::new(17, 12).is_err());
        assert!(NttTable::new(97, 64).is_err()); // 97 ≢ 1 mod 128
        assert!(NttTable::new(15, 8).is_err());
    }
}
