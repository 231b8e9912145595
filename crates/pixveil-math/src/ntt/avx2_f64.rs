//! AVX2 + FMA kernels in double precision for primes `2^31 ≤ q < 2^50`.
//!
//! Residues below `q < 2^50` are exact in `f64`. A modular product `y·w mod q` uses a
//! precomputed `w/q`: the quotient estimate `round(y·(w/q))` is within 0.75 of the exact
//! quotient (relative error ≤ 2^-52 on a value below 2^50), the product is split exactly as
//! `y·w = h + l` with one FMA, and `h − quo·q` is exact with a second FMA (its magnitude is
//! below 2^51), so the remainder `(h − quo·q) + l ∈ (−q, q)` is exact and one conditional
//! addition brings it to `[0, q)`. All butterflies keep values in `[0, q)`. Data is converted
//! in place between `u64` and `f64` (magic-number trick, exact below 2^52). The two last
//! forward stages (first inverse stages) shuffle lanes as in the 32-bit kernel.
#![allow(unsafe_code)]

use core::arch::x86_64::*;

/// Whether the CPU supports the kernels.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Twiddles (`w`, `w/q`) in the order each stage reads them.
#[derive(Debug, Clone)]
pub(super) struct TablesF64 {
    q: f64,
    n: usize,
    fw: (Vec<f64>, Vec<f64>),
    f2: (Vec<f64>, Vec<f64>),
    f1: (Vec<f64>, Vec<f64>),
    iw: (Vec<f64>, Vec<f64>),
    i2: (Vec<f64>, Vec<f64>),
    i1: (Vec<f64>, Vec<f64>),
    n_inv: (f64, f64),
}

/// Lane order of the distance-2 stage (`m = n/4` groups, two per vector).
fn order2(n: usize) -> Vec<usize> {
    let m = n / 4;
    (0..n / 8)
        .flat_map(|k| {
            let g = m + 2 * k;
            [g, g, g + 1, g + 1]
        })
        .collect()
}

/// Lane order of the distance-1 stage (`m = n/2` groups), as split by `unpacklo/hi_pd`.
fn order1(n: usize) -> Vec<usize> {
    let m = n / 2;
    (0..n / 8)
        .flat_map(|k| {
            let g = m + 4 * k;
            [g, g + 2, g + 1, g + 3]
        })
        .collect()
}

impl TablesF64 {
    /// The tables for `q` (twiddles `psi`, `ipsi` in bit-reversed order, `n_inv = N⁻¹ mod
    /// q`), or `None` unless this CPU has AVX2 and FMA ([`available`]), `2^31 ≤ q < 2^50`
    /// and `N ≥ 8`: the only way to get a `TablesF64`, so the safe [`TablesF64::forward`]
    /// is unreachable on a CPU without the instructions its kernels use.
    pub(super) fn new(q: u64, psi: &[u64], ipsi: &[u64], n_inv: u64) -> Option<Self> {
        let n = psi.len();
        if !(available() && (1 << 31..1 << 50).contains(&q) && n >= 8) {
            return None;
        }
        let qf = q as f64;
        let pair = |w: &[u64], ord: Option<&[usize]>| -> (Vec<f64>, Vec<f64>) {
            let idx: Vec<usize> = match ord {
                Some(o) => o.to_vec(),
                None => (0..w.len()).collect(),
            };
            (
                idx.iter().map(|&i| w[i] as f64).collect(),
                idx.iter().map(|&i| w[i] as f64 / qf).collect(),
            )
        };
        let (o2, o1) = (order2(n), order1(n));
        Some(Self {
            q: qf,
            n,
            fw: pair(psi, None),
            f2: pair(psi, Some(&o2)),
            f1: pair(psi, Some(&o1)),
            iw: pair(ipsi, None),
            i2: pair(ipsi, Some(&o2)),
            i1: pair(ipsi, Some(&o1)),
            n_inv: (n_inv as f64, n_inv as f64 / qf),
        })
    }

    /// Forward transform, values `< q` in and out.
    pub(super) fn forward(&self, a: &mut [u64]) {
        assert!(a.len() == self.n && self.n >= 8);
        // SAFETY: `TablesF64::new`, the only constructor, checked `available()`; the length
        // check bounds every access; `u64` and `f64` have the same size and alignment, and
        // every word is converted back before returning.
        unsafe { forward(self, a) }
    }

    /// Inverse transform, values `< q` in and out.
    pub(super) fn backward(&self, a: &mut [u64]) {
        assert!(a.len() == self.n && self.n >= 8);
        // SAFETY: as in `forward`.
        unsafe { backward(self, a) }
    }
}

const MAGIC: f64 = 4_503_599_627_370_496.0; // 2^52

#[inline(always)]
unsafe fn to_f64(p: *mut u64, n: usize) {
    let magic_i = _mm256_set1_epi64x(MAGIC.to_bits() as i64);
    let magic = _mm256_set1_pd(MAGIC);
    let mut k = 0;
    while k < n {
        // SAFETY: k + 4 <= n (n is a multiple of 8); same-size reinterpretation.
        unsafe {
            let x = _mm256_loadu_si256(p.add(k) as *const __m256i);
            let f = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(x, magic_i)), magic);
            _mm256_storeu_pd(p.add(k) as *mut f64, f);
        }
        k += 4;
    }
}

#[inline(always)]
unsafe fn to_u64(p: *mut u64, n: usize) {
    let magic_i = _mm256_set1_epi64x(MAGIC.to_bits() as i64);
    let magic = _mm256_set1_pd(MAGIC);
    let mut k = 0;
    while k < n {
        // SAFETY: as in `to_f64`.
        unsafe {
            let f = _mm256_loadu_pd(p.add(k) as *const f64);
            let x = _mm256_castpd_si256(_mm256_add_pd(f, magic));
            _mm256_storeu_si256(p.add(k) as *mut __m256i, _mm256_xor_si256(x, magic_i));
        }
        k += 4;
    }
}

/// `y·w mod q ∈ [0, q)` for `y, w ∈ [0, q)`, `wq = w/q`.
#[inline(always)]
unsafe fn mulmod(y: __m256d, w: __m256d, wq: __m256d, q: __m256d) -> __m256d {
    let h = _mm256_mul_pd(y, w);
    let l = _mm256_fmsub_pd(y, w, h);
    let quo =
        _mm256_round_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_pd(y, wq));
    let r = _mm256_add_pd(_mm256_fnmadd_pd(quo, q, h), l);
    let neg = _mm256_cmp_pd::<_CMP_LT_OQ>(r, _mm256_setzero_pd());
    _mm256_add_pd(r, _mm256_and_pd(neg, q))
}

/// `x mod q` for `x ∈ [0, 2q)`.
#[inline(always)]
unsafe fn csub(x: __m256d, q: __m256d) -> __m256d {
    let ge = _mm256_cmp_pd::<_CMP_GE_OQ>(x, q);
    _mm256_sub_pd(x, _mm256_and_pd(ge, q))
}

/// `x mod q` for `x ∈ (−q, q)`.
#[inline(always)]
unsafe fn cadd(x: __m256d, q: __m256d) -> __m256d {
    let neg = _mm256_cmp_pd::<_CMP_LT_OQ>(x, _mm256_setzero_pd());
    _mm256_add_pd(x, _mm256_and_pd(neg, q))
}

#[inline(always)]
unsafe fn ct(x: __m256d, y: __m256d, w: __m256d, wq: __m256d, q: __m256d) -> (__m256d, __m256d) {
    let t = mulmod(y, w, wq, q);
    (csub(_mm256_add_pd(x, t), q), cadd(_mm256_sub_pd(x, t), q))
}

#[inline(always)]
unsafe fn gs(x: __m256d, y: __m256d, w: __m256d, wq: __m256d, q: __m256d) -> (__m256d, __m256d) {
    let s = csub(_mm256_add_pd(x, y), q);
    let d = cadd(_mm256_sub_pd(x, y), q);
    (s, mulmod(d, w, wq, q))
}

#[inline(always)]
unsafe fn ld(p: *const f64, i: usize) -> __m256d {
    // SAFETY: callers keep i + 4 within the buffer.
    unsafe { _mm256_loadu_pd(p.add(i)) }
}

#[inline(always)]
unsafe fn st(p: *mut f64, i: usize, v: __m256d) {
    // SAFETY: callers keep i + 4 within the buffer.
    unsafe { _mm256_storeu_pd(p.add(i), v) }
}

/// # Safety
/// AVX2 and FMA; `a.len() == t.n ≥ 8`, a power of two; values `< q`.
#[target_feature(enable = "avx2,fma")]
unsafe fn forward(t: &TablesF64, a: &mut [u64]) {
    let n = t.n;
    let q = _mm256_set1_pd(t.q);
    let raw = a.as_mut_ptr();
    let p = raw as *mut f64;
    // SAFETY (whole body): indices stay below n by construction of the loops; twiddle tables
    // have n (fw) or n/2 (f2, f1) entries and are read below those bounds.
    unsafe {
        to_f64(raw, n);
        let mut gap = n;
        let mut m = 1;
        while gap > 4 {
            gap >>= 1;
            for i in 0..m {
                let w = _mm256_set1_pd(t.fw.0[m + i]);
                let wq = _mm256_set1_pd(t.fw.1[m + i]);
                let base = 2 * i * gap;
                let mut j = base;
                while j < base + gap {
                    let (x, y) = ct(ld(p, j), ld(p, j + gap), w, wq, q);
                    st(p, j, x);
                    st(p, j + gap, y);
                    j += 4;
                }
            }
            m <<= 1;
        }
        for k in 0..n / 8 {
            let (b, v) = (8 * k, 4 * k);
            let (v0, v1) = (ld(p, b), ld(p, b + 4));
            let x = _mm256_permute2f128_pd::<0x20>(v0, v1);
            let y = _mm256_permute2f128_pd::<0x31>(v0, v1);
            let (x, y) = ct(x, y, ld(t.f2.0.as_ptr(), v), ld(t.f2.1.as_ptr(), v), q);
            let v0 = _mm256_permute2f128_pd::<0x20>(x, y);
            let v1 = _mm256_permute2f128_pd::<0x31>(x, y);
            let x = _mm256_unpacklo_pd(v0, v1);
            let y = _mm256_unpackhi_pd(v0, v1);
            let (x, y) = ct(x, y, ld(t.f1.0.as_ptr(), v), ld(t.f1.1.as_ptr(), v), q);
            st(p, b, _mm256_unpacklo_pd(x, y));
            st(p, b + 4, _mm256_unpackhi_pd(x, y));
        }
        to_u64(raw, n);
    }
}

/// # Safety
/// AVX2 and FMA; `a.len() == t.n ≥ 8`, a power of two; values `< q`.
#[target_feature(enable = "avx2,fma")]
unsafe fn backward(t: &TablesF64, a: &mut [u64]) {
    let n = t.n;
    let q = _mm256_set1_pd(t.q);
    let raw = a.as_mut_ptr();
    let p = raw as *mut f64;
    // SAFETY (whole body): as in `forward`.
    unsafe {
        to_f64(raw, n);
        for k in 0..n / 8 {
            let (b, v) = (8 * k, 4 * k);
            let (v0, v1) = (ld(p, b), ld(p, b + 4));
            let x = _mm256_unpacklo_pd(v0, v1);
            let y = _mm256_unpackhi_pd(v0, v1);
            let (x, y) = gs(x, y, ld(t.i1.0.as_ptr(), v), ld(t.i1.1.as_ptr(), v), q);
            let v0 = _mm256_unpacklo_pd(x, y);
            let v1 = _mm256_unpackhi_pd(x, y);
            let x = _mm256_permute2f128_pd::<0x20>(v0, v1);
            let y = _mm256_permute2f128_pd::<0x31>(v0, v1);
            let (x, y) = gs(x, y, ld(t.i2.0.as_ptr(), v), ld(t.i2.1.as_ptr(), v), q);
            st(p, b, _mm256_permute2f128_pd::<0x20>(x, y));
            st(p, b + 4, _mm256_permute2f128_pd::<0x31>(x, y));
        }
        let mut gap = 4;
        let mut h = n / 8;
        while h >= 1 {
            for i in 0..h {
                let w = _mm256_set1_pd(t.iw.0[h + i]);
                let wq = _mm256_set1_pd(t.iw.1[h + i]);
                let base = 2 * i * gap;
                let mut j = base;
                while j < base + gap {
                    let (x, y) = gs(ld(p, j), ld(p, j + gap), w, wq, q);
                    st(p, j, x);
                    st(p, j + gap, y);
                    j += 4;
                }
            }
            gap <<= 1;
            h >>= 1;
        }
        let (w, wq) = (_mm256_set1_pd(t.n_inv.0), _mm256_set1_pd(t.n_inv.1));
        let mut j = 0;
        while j < n {
            st(p, j, mulmod(ld(p, j), w, wq, q));
            j += 4;
        }
        to_u64(raw, n);
    }
}
