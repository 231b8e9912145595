//! AVX2 kernels for the negacyclic NTT modulo primes `q < 2^31`.
//!
//! Each 256-bit vector holds four 64-bit lanes with values below `4q < 2^33`. Twiddle
//! multiplication is Shoup's with `β = 2^32`: `w' = floor(w·2^32/q)`, `Q = (y·w') >> 32`,
//! `y·w − Q·q ∈ [0, 2q)` for `y < 2^32`; `vpmuludq` (`_mm256_mul_epu32`) multiplies the low
//! 32 bits of each lane into a 64-bit product. Operands are first brought into `[0, 2q)`
//! (`2q < 2^32`) with a compare-and-subtract. The two last forward stages (distance 2 and 1)
//! and the two first inverse stages shuffle lanes so that every butterfly is still four-wide;
//! their twiddles are stored pre-expanded in lane order.
#![allow(unsafe_code)]

use crate::zq::Modulus;
use core::arch::x86_64::*;

/// Whether the running CPU supports the kernels.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// Twiddle tables (values and 32-bit Shoup companions, both `< 2^32`, stored as `u64`).
#[derive(Debug, Clone)]
pub(super) struct Tables {
    q: u64,
    n: usize,
    fw: Vec<u64>,
    fw_s: Vec<u64>,
    fw2: Vec<u64>,
    fw2_s: Vec<u64>,
    fw1: Vec<u64>,
    fw1_s: Vec<u64>,
    iw: Vec<u64>,
    iw_s: Vec<u64>,
    iw2: Vec<u64>,
    iw2_s: Vec<u64>,
    iw1: Vec<u64>,
    iw1_s: Vec<u64>,
    n_inv: u64,
    n_inv_s: u64,
}

fn shoup32(w: u64, q: u64) -> u64 {
    (w << 32) / q
}

/// Twiddles of the distance-2 stage (`m = n/4` groups) in lane order: two groups per vector,
/// each twiddle repeated twice.
fn expand2(w: &[u64], n: usize) -> Vec<u64> {
    let m = n / 4;
    (0..n / 8)
        .flat_map(|k| {
            let (a, b) = (w[m + 2 * k], w[m + 2 * k + 1]);
            [a, a, b, b]
        })
        .collect()
}

/// Twiddles of the distance-1 stage (`m = n/2` groups) in the lane order produced by
/// `unpacklo/hi_epi64`: groups `4k, 4k+2, 4k+1, 4k+3`.
fn expand1(w: &[u64], n: usize) -> Vec<u64> {
    let m = n / 2;
    (0..n / 8)
        .flat_map(|k| {
            let b = m + 4 * k;
            [w[b], w[b + 2], w[b + 1], w[b + 3]]
        })
        .collect()
}

impl Tables {
    pub(super) fn new(m: &Modulus, psi: &[u64], ipsi: &[u64], n_inv: u64) -> Self {
        let q = m.value();
        let n = psi.len();
        let s = |v: &[u64]| v.iter().map(|&w| shoup32(w, q)).collect::<Vec<_>>();
        let (fw2, fw1, iw2, iw1) = (
            expand2(psi, n),
            expand1(psi, n),
            expand2(ipsi, n),
            expand1(ipsi, n),
        );
        Self {
            q,
            n,
            fw_s: s(psi),
            fw: psi.to_vec(),
            fw2_s: s(&fw2),
            fw2,
            fw1_s: s(&fw1),
            fw1,
            iw_s: s(ipsi),
            iw: ipsi.to_vec(),
            iw2_s: s(&iw2),
            iw2,
            iw1_s: s(&iw1),
            iw1,
            n_inv,
            n_inv_s: shoup32(n_inv, q),
        }
    }

    pub(super) fn forward(&self, a: &mut [u64]) {
        assert!(a.len() == self.n && self.n >= 8);
        // SAFETY: `Tables` is only built when `available()` reported AVX2 support, and the
        // length check above guarantees every access in the kernel stays in bounds.
        unsafe {
            if self.q < (1 << 30) {
                forward::<false>(self, a)
            } else {
                forward::<true>(self, a)
            }
        }
    }

    pub(super) fn backward(&self, a: &mut [u64]) {
        assert!(a.len() == self.n && self.n >= 8);
        // SAFETY: as in `forward`.
        unsafe {
            if self.q < (1 << 30) {
                backward::<false>(self, a)
            } else {
                backward::<true>(self, a)
            }
        }
    }
}

/// Subtracts `bound` from the lanes where `x ≥ bound` (`x < 2^63`).
#[inline(always)]
unsafe fn reduce_once(x: __m256i, bound_minus_1: __m256i, bound: __m256i) -> __m256i {
    let ge = _mm256_cmpgt_epi64(x, bound_minus_1);
    _mm256_sub_epi64(x, _mm256_and_si256(ge, bound))
}

/// Shoup product `y·w mod q ∈ [0, 2q)` for `y < 2^32`.
#[inline(always)]
unsafe fn mul_shoup(y: __m256i, w: __m256i, ws: __m256i, q: __m256i) -> __m256i {
    let qh = _mm256_srli_epi64::<32>(_mm256_mul_epu32(y, ws));
    _mm256_sub_epi64(_mm256_mul_epu32(y, w), _mm256_mul_epu32(qh, q))
}

/// Forward Cooley–Tukey butterfly on lanes: `(x, y) → (x + wy, x − wy)`, inputs in `[0, 4q)`,
/// outputs in `[0, 4q)`.
#[inline(always)]
unsafe fn ct<const REDUCE_Y: bool>(
    x: __m256i,
    y: __m256i,
    w: __m256i,
    ws: __m256i,
    q: __m256i,
    q2: __m256i,
    q2m1: __m256i,
) -> (__m256i, __m256i) {
    let x = reduce_once(x, q2m1, q2);
    // For q < 2^30, y < 4q < 2^32 already fits the 32-bit multiplier.
    let y = if REDUCE_Y {
        reduce_once(y, q2m1, q2)
    } else {
        y
    };
    let t = mul_shoup(y, w, ws, q);
    (
        _mm256_add_epi64(x, t),
        _mm256_sub_epi64(_mm256_add_epi64(x, q2), t),
    )
}

/// Inverse Gentleman–Sande butterfly: `(x, y) → (x + y, w(x − y))`, inputs in `[0, 2q)`,
/// outputs in `[0, 2q)`.
#[inline(always)]
unsafe fn gs<const REDUCE_D: bool>(
    x: __m256i,
    y: __m256i,
    w: __m256i,
    ws: __m256i,
    q: __m256i,
    q2: __m256i,
    q2m1: __m256i,
) -> (__m256i, __m256i) {
    let s = reduce_once(_mm256_add_epi64(x, y), q2m1, q2);
    let d = _mm256_sub_epi64(_mm256_add_epi64(x, q2), y);
    let d = if REDUCE_D {
        reduce_once(d, q2m1, q2)
    } else {
        d
    };
    (s, mul_shoup(d, w, ws, q))
}

#[inline(always)]
unsafe fn ld(p: &[u64], i: usize) -> __m256i {
    debug_assert!(i + 4 <= p.len());
    _mm256_loadu_si256(p.as_ptr().add(i) as *const __m256i)
}

#[inline(always)]
unsafe fn st(p: &mut [u64], i: usize, v: __m256i) {
    debug_assert!(i + 4 <= p.len());
    _mm256_storeu_si256(p.as_mut_ptr().add(i) as *mut __m256i, v)
}

/// # Safety
/// The CPU must support AVX2, `a.len() == t.n`, `t.n ≥ 8` a power of two, inputs `< 4q`.
#[target_feature(enable = "avx2")]
unsafe fn forward<const R: bool>(t: &Tables, a: &mut [u64]) {
    let n = t.n;
    let q = _mm256_set1_epi64x(t.q as i64);
    let q2 = _mm256_set1_epi64x(2 * t.q as i64);
    let q2m1 = _mm256_set1_epi64x(2 * t.q as i64 - 1);
    let qm1 = _mm256_set1_epi64x(t.q as i64 - 1);
    // Stages with butterfly distance >= 4.
    let mut gap = n;
    let mut m = 1;
    while gap > 4 {
        gap >>= 1;
        for i in 0..m {
            let w = _mm256_set1_epi64x(t.fw[m + i] as i64);
            let ws = _mm256_set1_epi64x(t.fw_s[m + i] as i64);
            let base = 2 * i * gap;
            let mut j = base;
            while j < base + gap {
                let (x, y) = ct::<R>(ld(a, j), ld(a, j + gap), w, ws, q, q2, q2m1);
                st(a, j, x);
                st(a, j + gap, y);
                j += 4;
            }
        }
        m <<= 1;
    }
    // Distance 2 (m = n/4).
    for k in 0..n / 8 {
        let v0 = ld(a, 8 * k);
        let v1 = ld(a, 8 * k + 4);
        let x = _mm256_permute2x128_si256::<0x20>(v0, v1);
        let y = _mm256_permute2x128_si256::<0x31>(v0, v1);
        let (x, y) = ct::<R>(x, y, ld(&t.fw2, 4 * k), ld(&t.fw2_s, 4 * k), q, q2, q2m1);
        st(a, 8 * k, _mm256_permute2x128_si256::<0x20>(x, y));
        st(a, 8 * k + 4, _mm256_permute2x128_si256::<0x31>(x, y));
    }
    // Distance 1 (m = n/2), with the final reduction to [0, q).
    for k in 0..n / 8 {
        let v0 = ld(a, 8 * k);
        let v1 = ld(a, 8 * k + 4);
        let x = _mm256_unpacklo_epi64(v0, v1);
        let y = _mm256_unpackhi_epi64(v0, v1);
        let (x, y) = ct::<R>(x, y, ld(&t.fw1, 4 * k), ld(&t.fw1_s, 4 * k), q, q2, q2m1);
        let x = reduce_once(reduce_once(x, q2m1, q2), qm1, q);
        let y = reduce_once(reduce_once(y, q2m1, q2), qm1, q);
        st(a, 8 * k, _mm256_unpacklo_epi64(x, y));
        st(a, 8 * k + 4, _mm256_unpackhi_epi64(x, y));
    }
}

/// # Safety
/// The CPU must support AVX2, `a.len() == t.n`, `t.n ≥ 8` a power of two, inputs `< 2q`.
#[target_feature(enable = "avx2")]
unsafe fn backward<const R: bool>(t: &Tables, a: &mut [u64]) {
    let n = t.n;
    let q = _mm256_set1_epi64x(t.q as i64);
    let q2 = _mm256_set1_epi64x(2 * t.q as i64);
    let q2m1 = _mm256_set1_epi64x(2 * t.q as i64 - 1);
    let qm1 = _mm256_set1_epi64x(t.q as i64 - 1);
    // Distance 1 (h = n/2 groups).
    for k in 0..n / 8 {
        let v0 = ld(a, 8 * k);
        let v1 = ld(a, 8 * k + 4);
        let x = _mm256_unpacklo_epi64(v0, v1);
        let y = _mm256_unpackhi_epi64(v0, v1);
        let (x, y) = gs::<R>(x, y, ld(&t.iw1, 4 * k), ld(&t.iw1_s, 4 * k), q, q2, q2m1);
        st(a, 8 * k, _mm256_unpacklo_epi64(x, y));
        st(a, 8 * k + 4, _mm256_unpackhi_epi64(x, y));
    }
    // Distance 2 (h = n/4 groups).
    for k in 0..n / 8 {
        let v0 = ld(a, 8 * k);
        let v1 = ld(a, 8 * k + 4);
        let x = _mm256_permute2x128_si256::<0x20>(v0, v1);
        let y = _mm256_permute2x128_si256::<0x31>(v0, v1);
        let (x, y) = gs::<R>(x, y, ld(&t.iw2, 4 * k), ld(&t.iw2_s, 4 * k), q, q2, q2m1);
        st(a, 8 * k, _mm256_permute2x128_si256::<0x20>(x, y));
        st(a, 8 * k + 4, _mm256_permute2x128_si256::<0x31>(x, y));
    }
    // Distances >= 4.
    let mut gap = 4;
    let mut h = n / 8;
    while h >= 1 {
        for i in 0..h {
            let w = _mm256_set1_epi64x(t.iw[h + i] as i64);
            let ws = _mm256_set1_epi64x(t.iw_s[h + i] as i64);
            let base = 2 * i * gap;
            let mut j = base;
            while j < base + gap {
                let (x, y) = gs::<R>(ld(a, j), ld(a, j + gap), w, ws, q, q2, q2m1);
                st(a, j, x);
                st(a, j + gap, y);
                j += 4;
            }
        }
        gap <<= 1;
        h >>= 1;
    }
    let w = _mm256_set1_epi64x(t.n_inv as i64);
    let ws = _mm256_set1_epi64x(t.n_inv_s as i64);
    let mut j = 0;
    while j < n {
        let x = mul_shoup(ld(a, j), w, ws, q);
        st(a, j, reduce_once(x, qm1, q));
        j += 4;
    }
}
