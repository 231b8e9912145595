//! AVX2 kernels on eight 32-bit lanes for primes `q < 2^31`: lazy butterflies (range
//! `[0, 4q)`) when `q < 2^30`, strict ones (range `[0, q)`, one more conditional subtraction
//! per output) when `2^30 ≤ q < 2^31`.
//!
//! Shoup multiplication with `β = 2^32` on eight lanes: the quotient `hi32(y·w')` comes from
//! two `vpmuludq` (even and odd lanes) and a blend; the remainder `y·w − Q·q ∈ [0, 2q)` is
//! computed modulo 2^32 with `vpmulld`. Conditional subtractions are `min(x, x − c)` with
//! `vpminud`. The three last forward stages (distances 4, 2, 1) and the three first inverse
//! stages shuffle lanes (128-bit halves, 64-bit pairs, even/odd words) so that every
//! butterfly is eight-wide; their twiddles are stored pre-expanded in lane order.
#![allow(unsafe_code)]

use core::arch::x86_64::*;

/// Per-prime twiddle tables in 32-bit lane order.
#[derive(Debug, Clone)]
pub(super) struct Tables32 {
    q: u32,
    n: usize,
    fw: Vec<u32>,
    fw_s: Vec<u32>,
    f4: (Vec<u32>, Vec<u32>),
    f2: (Vec<u32>, Vec<u32>),
    f1: (Vec<u32>, Vec<u32>),
    iw: Vec<u32>,
    iw_s: Vec<u32>,
    i4: (Vec<u32>, Vec<u32>),
    i2: (Vec<u32>, Vec<u32>),
    i1: (Vec<u32>, Vec<u32>),
    n_inv: u32,
    n_inv_s: u32,
}

fn shoup32(w: u64, q: u64) -> u32 {
    ((w << 32) / q) as u32
}

/// Lane order of the distance-4 stage (`m = n/8` groups, two per vector).
fn order4(n: usize) -> Vec<usize> {
    let m = n / 8;
    (0..n / 16)
        .flat_map(|k| {
            let g = m + 2 * k;
            [g, g, g, g, g + 1, g + 1, g + 1, g + 1]
        })
        .collect()
}

/// Lane order of the distance-2 stage (`m = n/4` groups, four per vector pair, split by
/// `unpacklo/hi_epi64`).
fn order2(n: usize) -> Vec<usize> {
    let m = n / 4;
    (0..n / 16)
        .flat_map(|k| {
            let g = m + 4 * k;
            [g, g, g + 2, g + 2, g + 1, g + 1, g + 3, g + 3]
        })
        .collect()
}

/// Lane order of the distance-1 stage (`m = n/2` groups, eight per vector pair, split by
/// `shuffle_ps` even/odd selection).
fn order1(n: usize) -> Vec<usize> {
    let m = n / 2;
    (0..n / 16)
        .flat_map(|k| {
            let g = m + 8 * k;
            [g, g + 1, g + 4, g + 5, g + 2, g + 3, g + 6, g + 7]
        })
        .collect()
}

impl Tables32 {
    /// The tables for `q` (twiddles `psi`, `ipsi` in bit-reversed order, `n_inv = N⁻¹ mod
    /// q`), or `None` unless this CPU has AVX2, `q < 2^31` and `N ≥ 16`: the only way to
    /// get a `Tables32`, so the safe [`Tables32::forward`] is unreachable on a CPU without
    /// the instructions its kernels use.
    pub(super) fn new(q: u64, psi: &[u64], ipsi: &[u64], n_inv: u64) -> Option<Self> {
        let n = psi.len();
        if !(std::arch::is_x86_feature_detected!("avx2") && q < (1 << 31) && n >= 16) {
            return None;
        }
        let exp = |w: &[u64], ord: &[usize]| -> (Vec<u32>, Vec<u32>) {
            (
                ord.iter().map(|&i| w[i] as u32).collect(),
                ord.iter().map(|&i| shoup32(w[i], q)).collect(),
            )
        };
        let (o4, o2, o1) = (order4(n), order2(n), order1(n));
        Some(Self {
            q: q as u32,
            n,
            fw: psi.iter().map(|&w| w as u32).collect(),
            fw_s: psi.iter().map(|&w| shoup32(w, q)).collect(),
            f4: exp(psi, &o4),
            f2: exp(psi, &o2),
            f1: exp(psi, &o1),
            iw: ipsi.iter().map(|&w| w as u32).collect(),
            iw_s: ipsi.iter().map(|&w| shoup32(w, q)).collect(),
            i4: exp(ipsi, &o4),
            i2: exp(ipsi, &o2),
            i1: exp(ipsi, &o1),
            n_inv: n_inv as u32,
            n_inv_s: shoup32(n_inv, q),
        })
    }

    /// Forward transform of `a` (`len == n ≥ 16`, values `< q`), output in `[0, q)`.
    pub(super) fn forward(&self, a: &mut [u64]) {
        assert!(a.len() == self.n && self.n >= 16);
        with_buffer(self.n, |b| {
            // SAFETY: `Tables32::new`, the only constructor, detected AVX2; `a` and `b` have
            // length `n`, which bounds every access of the kernels.
            unsafe {
                pack(a, b);
                if self.q < (1 << 30) {
                    forward::<false>(self, b);
                } else {
                    forward::<true>(self, b);
                }
                unpack(b, a);
            }
        });
    }

    /// Inverse transform of `a` (`len == n ≥ 16`, values `< q`), output in `[0, q)`.
    pub(super) fn backward(&self, a: &mut [u64]) {
        assert!(a.len() == self.n && self.n >= 16);
        with_buffer(self.n, |b| {
            // SAFETY: as in `forward`.
            unsafe {
                pack(a, b);
                if self.q < (1 << 30) {
                    backward::<false>(self, b);
                } else {
                    backward::<true>(self, b);
                }
                unpack(b, a);
            }
        });
    }
}

/// Runs `f` on a staging buffer of `n` words from the pool, which gets it back wiped: the
/// buffer holds a copy of the transformed polynomial, possibly secret (`s`, errors), and the
/// transform cannot tell (`crate::pool`).
fn with_buffer(n: usize, f: impl FnOnce(&mut [u32])) {
    let mut b = crate::pool::Scratch::<u32>::dirty(n);
    f(&mut b);
}

/// # Safety
/// AVX2; `src.len() == dst.len()`, a multiple of 8.
#[target_feature(enable = "avx2")]
unsafe fn pack(src: &[u64], dst: &mut [u32]) {
    let idx = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    let mut k = 0;
    while k + 8 <= src.len() {
        // SAFETY: k + 8 <= len for both slices.
        unsafe {
            let lo = _mm256_loadu_si256(src.as_ptr().add(k) as *const __m256i);
            let hi = _mm256_loadu_si256(src.as_ptr().add(k + 4) as *const __m256i);
            let lo = _mm256_permutevar8x32_epi32(lo, idx);
            let hi = _mm256_permutevar8x32_epi32(hi, idx);
            let v = _mm256_permute2x128_si256::<0x20>(lo, hi);
            _mm256_storeu_si256(dst.as_mut_ptr().add(k) as *mut __m256i, v);
        }
        k += 8;
    }
}

/// # Safety
/// AVX2; `src.len() == dst.len()`, a multiple of 8.
#[target_feature(enable = "avx2")]
unsafe fn unpack(src: &[u32], dst: &mut [u64]) {
    let mut k = 0;
    while k + 8 <= src.len() {
        // SAFETY: k + 8 <= len for both slices.
        unsafe {
            let v = _mm256_loadu_si256(src.as_ptr().add(k) as *const __m256i);
            let lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(v));
            let hi = _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(v));
            _mm256_storeu_si256(dst.as_mut_ptr().add(k) as *mut __m256i, lo);
            _mm256_storeu_si256(dst.as_mut_ptr().add(k + 4) as *mut __m256i, hi);
        }
        k += 8;
    }
}

#[inline(always)]
unsafe fn ld(p: &[u32], i: usize) -> __m256i {
    debug_assert!(i + 8 <= p.len());
    // SAFETY: callers keep i + 8 <= p.len().
    unsafe { _mm256_loadu_si256(p.as_ptr().add(i) as *const __m256i) }
}

#[inline(always)]
unsafe fn st(p: &mut [u32], i: usize, v: __m256i) {
    debug_assert!(i + 8 <= p.len());
    // SAFETY: callers keep i + 8 <= p.len().
    unsafe { _mm256_storeu_si256(p.as_mut_ptr().add(i) as *mut __m256i, v) }
}

/// `min(x, x − c)`: subtracts `c` from lanes with `x ≥ c` (`x < c + 2^32 − c`).
#[inline(always)]
unsafe fn csub(x: __m256i, c: __m256i) -> __m256i {
    _mm256_min_epu32(x, _mm256_sub_epi32(x, c))
}

/// `y·w mod q ∈ [0, 2q)` on eight lanes (`y < 2^32`, `ws = floor(w·2^32/q)`).
#[inline(always)]
unsafe fn mul_shoup(y: __m256i, w: __m256i, ws: __m256i, q: __m256i) -> __m256i {
    let even = _mm256_mul_epu32(y, ws);
    let odd = _mm256_mul_epu32(_mm256_srli_epi64::<32>(y), _mm256_srli_epi64::<32>(ws));
    let qh = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(even), odd);
    _mm256_sub_epi32(_mm256_mullo_epi32(y, w), _mm256_mullo_epi32(qh, q))
}

/// Cooley–Tukey butterfly. Lazy (`STRICT = false`, `q < 2^30`): inputs and outputs in
/// `[0, 4q)`. Strict (`q < 2^31`, where `4q` overflows 32 bits): in and out in `[0, q)`.
#[inline(always)]
unsafe fn ct<const STRICT: bool>(
    x: __m256i,
    y: __m256i,
    w: __m256i,
    ws: __m256i,
    q: __m256i,
    q2: __m256i,
) -> (__m256i, __m256i) {
    if STRICT {
        let t = csub(mul_shoup(y, w, ws, q), q);
        (
            csub(_mm256_add_epi32(x, t), q),
            csub(_mm256_sub_epi32(_mm256_add_epi32(x, q), t), q),
        )
    } else {
        let x = csub(x, q2);
        let t = mul_shoup(y, w, ws, q);
        (
            _mm256_add_epi32(x, t),
            _mm256_sub_epi32(_mm256_add_epi32(x, q2), t),
        )
    }
}

/// Gentleman–Sande butterfly. Lazy: inputs and outputs in `[0, 2q)`; strict: in `[0, q)`.
#[inline(always)]
unsafe fn gs<const STRICT: bool>(
    x: __m256i,
    y: __m256i,
    w: __m256i,
    ws: __m256i,
    q: __m256i,
    q2: __m256i,
) -> (__m256i, __m256i) {
    if STRICT {
        let s = csub(_mm256_add_epi32(x, y), q);
        let d = _mm256_sub_epi32(_mm256_add_epi32(x, q), y);
        (s, csub(mul_shoup(d, w, ws, q), q))
    } else {
        let s = csub(_mm256_add_epi32(x, y), q2);
        let d = _mm256_sub_epi32(_mm256_add_epi32(x, q2), y);
        (s, mul_shoup(d, w, ws, q))
    }
}

#[inline(always)]
unsafe fn split4(v0: __m256i, v1: __m256i) -> (__m256i, __m256i) {
    (
        _mm256_permute2x128_si256::<0x20>(v0, v1),
        _mm256_permute2x128_si256::<0x31>(v0, v1),
    )
}

#[inline(always)]
unsafe fn split2(v0: __m256i, v1: __m256i) -> (__m256i, __m256i) {
    (_mm256_unpacklo_epi64(v0, v1), _mm256_unpackhi_epi64(v0, v1))
}

#[inline(always)]
unsafe fn join2(x: __m256i, y: __m256i) -> (__m256i, __m256i) {
    (_mm256_unpacklo_epi64(x, y), _mm256_unpackhi_epi64(x, y))
}

#[inline(always)]
unsafe fn split1(v0: __m256i, v1: __m256i) -> (__m256i, __m256i) {
    let (a, b) = (_mm256_castsi256_ps(v0), _mm256_castsi256_ps(v1));
    (
        _mm256_castps_si256(_mm256_shuffle_ps::<0b10_00_10_00>(a, b)),
        _mm256_castps_si256(_mm256_shuffle_ps::<0b11_01_11_01>(a, b)),
    )
}

#[inline(always)]
unsafe fn join1(x: __m256i, y: __m256i) -> (__m256i, __m256i) {
    (_mm256_unpacklo_epi32(x, y), _mm256_unpackhi_epi32(x, y))
}

/// # Safety
/// AVX2; `a.len() == t.n ≥ 16`, values `< 4q`.
#[target_feature(enable = "avx2")]
unsafe fn forward<const S: bool>(t: &Tables32, a: &mut [u32]) {
    let n = t.n;
    let q = _mm256_set1_epi32(t.q as i32);
    let q2 = _mm256_set1_epi32((2 * t.q) as i32);
    // SAFETY (whole body): every index below stays within `a` (length n) and the twiddle
    // tables (lengths n and n/2) by construction of the loops.
    unsafe {
        let mut gap = n;
        let mut m = 1;
        while gap > 8 {
            gap >>= 1;
            for i in 0..m {
                let w = _mm256_set1_epi32(t.fw[m + i] as i32);
                let ws = _mm256_set1_epi32(t.fw_s[m + i] as i32);
                let base = 2 * i * gap;
                let mut j = base;
                while j < base + gap {
                    let (x, y) = ct::<S>(ld(a, j), ld(a, j + gap), w, ws, q, q2);
                    st(a, j, x);
                    st(a, j + gap, y);
                    j += 8;
                }
            }
            m <<= 1;
        }
        for k in 0..n / 16 {
            let (p, v) = (16 * k, 8 * k);
            // distance 4
            let (x, y) = split4(ld(a, p), ld(a, p + 8));
            let (x, y) = ct::<S>(x, y, ld(&t.f4.0, v), ld(&t.f4.1, v), q, q2);
            let (v0, v1) = split4(x, y);
            // distance 2
            let (x, y) = split2(v0, v1);
            let (x, y) = ct::<S>(x, y, ld(&t.f2.0, v), ld(&t.f2.1, v), q, q2);
            let (v0, v1) = join2(x, y);
            // distance 1, then reduce [0, 4q) → [0, q)
            let (x, y) = split1(v0, v1);
            let (x, y) = ct::<S>(x, y, ld(&t.f1.0, v), ld(&t.f1.1, v), q, q2);
            let (x, y) = (csub(csub(x, q2), q), csub(csub(y, q2), q));
            let (v0, v1) = join1(x, y);
            st(a, p, v0);
            st(a, p + 8, v1);
        }
    }
}

/// # Safety
/// AVX2; `a.len() == t.n ≥ 16`, values `< 2q`.
#[target_feature(enable = "avx2")]
unsafe fn backward<const S: bool>(t: &Tables32, a: &mut [u32]) {
    let n = t.n;
    let q = _mm256_set1_epi32(t.q as i32);
    let q2 = _mm256_set1_epi32((2 * t.q) as i32);
    // SAFETY (whole body): as in `forward`.
    unsafe {
        for k in 0..n / 16 {
            let (p, v) = (16 * k, 8 * k);
            let (x, y) = split1(ld(a, p), ld(a, p + 8));
            let (x, y) = gs::<S>(x, y, ld(&t.i1.0, v), ld(&t.i1.1, v), q, q2);
            let (v0, v1) = join1(x, y);
            let (x, y) = split2(v0, v1);
            let (x, y) = gs::<S>(x, y, ld(&t.i2.0, v), ld(&t.i2.1, v), q, q2);
            let (v0, v1) = join2(x, y);
            let (x, y) = split4(v0, v1);
            let (x, y) = gs::<S>(x, y, ld(&t.i4.0, v), ld(&t.i4.1, v), q, q2);
            let (v0, v1) = split4(x, y);
            st(a, p, v0);
            st(a, p + 8, v1);
        }
        let mut gap = 8;
        let mut h = n / 16;
        while h >= 1 {
            for i in 0..h {
                let w = _mm256_set1_epi32(t.iw[h + i] as i32);
                let ws = _mm256_set1_epi32(t.iw_s[h + i] as i32);
                let base = 2 * i * gap;
                let mut j = base;
                while j < base + gap {
                    let (x, y) = gs::<S>(ld(a, j), ld(a, j + gap), w, ws, q, q2);
                    st(a, j, x);
                    st(a, j + gap, y);
                    j += 8;
                }
            }
            gap <<= 1;
            h >>= 1;
        }
        let w = _mm256_set1_epi32(t.n_inv as i32);
        let ws = _mm256_set1_epi32(t.n_inv_s as i32);
        let mut j = 0;
        while j < n {
            st(a, j, csub(mul_shoup(ld(a, j), w, ws, q), q));
            j += 8;
        }
    }
}
