//! Vector kernels for RNS inner products (key switching), AVX2 with a portable fallback.
//!
//! [`mul_acc2_lazy`] accumulates `x·y0` and `x·y1` into two `u64` accumulators without
//! reducing: operands are below 2^31.5 (products below 2^63) and an accumulator that reaches
//! 2^63 is folded back by subtracting a fixed multiple `c` of `q` (see [`fold_constant`]),
//! so the accumulators stay below 2^63 and congruent modulo `q`.
#![allow(unsafe_code)]

/// Largest modulus accepted by [`mul_acc2_lazy`] (products of two residues stay below 2^62).
pub const LAZY_MAX_MODULUS: u64 = 1 << 31;

/// The fold constant for `q`: the largest multiple of `q` not above 2^63 (`≥ 2^63 − q`).
pub fn fold_constant(q: u64) -> u64 {
    (1u64 << 63) / q * q
}

/// `acc0[k] += x[k]·y0[k]`, `acc1[k] += x[k]·y1[k]`, each folded below 2^63 with `c`.
///
/// Preconditions: `x`, `y0`, `y1` are residues modulo a prime `q < 2^31`;
/// `c = fold_constant(q)`; accumulators start below 2^63. The results are congruent to the
/// exact sums modulo `q`.
///
/// # Panics
/// If the slices do not all have the same length.
pub fn mul_acc2_lazy(
    acc0: &mut [u64],
    acc1: &mut [u64],
    x: &[u64],
    y0: &[u64],
    y1: &[u64],
    c: u64,
) {
    let n = acc0.len();
    assert!(acc1.len() == n && x.len() == n && y0.len() == n && y1.len() == n);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 support was just checked and all slices have length `n`.
        unsafe { avx2_mul_acc2(acc0, acc1, x, y0, y1, c) };
        return;
    }
    scalar_mul_acc2(acc0, acc1, x, y0, y1, c);
}

/// [`mul_acc2_lazy`] with the fixed operands stored as `u32` (half the memory traffic).
///
/// # Panics
/// If the slices do not all have the same length.
pub fn mul_acc2_lazy_u32(
    acc0: &mut [u64],
    acc1: &mut [u64],
    x: &[u64],
    y0: &[u32],
    y1: &[u32],
    c: u64,
) {
    let n = acc0.len();
    assert!(acc1.len() == n && x.len() == n && y0.len() == n && y1.len() == n);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 support was just checked and all slices have length `n`.
        unsafe { avx2_mul_acc2_u32(acc0, acc1, x, y0, y1, c) };
        return;
    }
    for ((((a0, a1), &xv), &u), &v) in acc0.iter_mut().zip(acc1.iter_mut()).zip(x).zip(y0).zip(y1) {
        let s0 = *a0 + xv * u as u64;
        let s1 = *a1 + xv * v as u64;
        *a0 = s0 - (c & ((s0 >> 63).wrapping_neg()));
        *a1 = s1 - (c & ((s1 >> 63).wrapping_neg()));
    }
}

/// # Safety
/// The CPU must support AVX2; all slices must have the same length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_mul_acc2_u32(
    acc0: &mut [u64],
    acc1: &mut [u64],
    x: &[u64],
    y0: &[u32],
    y1: &[u32],
    c: u64,
) {
    use core::arch::x86_64::*;
    let n = acc0.len();
    let cv = _mm256_set1_epi64x(c as i64);
    let zero = _mm256_setzero_si256();
    let mut k = 0;
    while k + 4 <= n {
        // SAFETY: k + 4 <= n and every slice has length n.
        unsafe {
            let xv = _mm256_loadu_si256(x.as_ptr().add(k) as *const __m256i);
            let u = _mm256_cvtepu32_epi64(_mm_loadu_si128(y0.as_ptr().add(k) as *const __m128i));
            let v = _mm256_cvtepu32_epi64(_mm_loadu_si128(y1.as_ptr().add(k) as *const __m128i));
            let p0 = acc0.as_mut_ptr().add(k) as *mut __m256i;
            let p1 = acc1.as_mut_ptr().add(k) as *mut __m256i;
            let s0 = _mm256_add_epi64(_mm256_loadu_si256(p0), _mm256_mul_epu32(xv, u));
            let s1 = _mm256_add_epi64(_mm256_loadu_si256(p1), _mm256_mul_epu32(xv, v));
            let f0 = _mm256_and_si256(_mm256_cmpgt_epi64(zero, s0), cv);
            let f1 = _mm256_and_si256(_mm256_cmpgt_epi64(zero, s1), cv);
            _mm256_storeu_si256(p0, _mm256_sub_epi64(s0, f0));
            _mm256_storeu_si256(p1, _mm256_sub_epi64(s1, f1));
        }
        k += 4;
    }
    for i in k..n {
        let s0 = acc0[i] + x[i] * y0[i] as u64;
        let s1 = acc1[i] + x[i] * y1[i] as u64;
        acc0[i] = s0 - (c & ((s0 >> 63).wrapping_neg()));
        acc1[i] = s1 - (c & ((s1 >> 63).wrapping_neg()));
    }
}

fn scalar_mul_acc2(acc0: &mut [u64], acc1: &mut [u64], x: &[u64], y0: &[u64], y1: &[u64], c: u64) {
    for ((((a0, a1), &xv), &u), &v) in acc0.iter_mut().zip(acc1.iter_mut()).zip(x).zip(y0).zip(y1) {
        let s0 = *a0 + xv * u;
        let s1 = *a1 + xv * v;
        *a0 = s0 - (c & ((s0 >> 63).wrapping_neg()));
        *a1 = s1 - (c & ((s1 >> 63).wrapping_neg()));
    }
}

/// # Safety
/// The CPU must support AVX2; all slices must have the same length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_mul_acc2(
    acc0: &mut [u64],
    acc1: &mut [u64],
    x: &[u64],
    y0: &[u64],
    y1: &[u64],
    c: u64,
) {
    use core::arch::x86_64::*;
    let n = acc0.len();
    let cv = _mm256_set1_epi64x(c as i64);
    let zero = _mm256_setzero_si256();
    let mut k = 0;
    while k + 4 <= n {
        // SAFETY: k + 4 <= n and every slice has length n.
        unsafe {
            let xv = _mm256_loadu_si256(x.as_ptr().add(k) as *const __m256i);
            let u = _mm256_loadu_si256(y0.as_ptr().add(k) as *const __m256i);
            let v = _mm256_loadu_si256(y1.as_ptr().add(k) as *const __m256i);
            let p0 = acc0.as_mut_ptr().add(k) as *mut __m256i;
            let p1 = acc1.as_mut_ptr().add(k) as *mut __m256i;
            let s0 = _mm256_add_epi64(_mm256_loadu_si256(p0), _mm256_mul_epu32(xv, u));
            let s1 = _mm256_add_epi64(_mm256_loadu_si256(p1), _mm256_mul_epu32(xv, v));
            // Lanes at or above 2^63 read as negative: subtract c there.
            let f0 = _mm256_and_si256(_mm256_cmpgt_epi64(zero, s0), cv);
            let f1 = _mm256_and_si256(_mm256_cmpgt_epi64(zero, s1), cv);
            _mm256_storeu_si256(p0, _mm256_sub_epi64(s0, f0));
            _mm256_storeu_si256(p1, _mm256_sub_epi64(s1, f1));
        }
        k += 4;
    }
    scalar_mul_acc2(
        &mut acc0[k..],
        &mut acc1[k..],
        &x[k..],
        &y0[k..],
        &y1[k..],
        c,
    );
}

/// Writes `[c]_m` for the centered lift `c ∈ (−q/2, q/2]` of each `y ∈ [0, q)` in `src`
/// (`src[k] < q`, both primes below 2^61; the AVX2 path needs `q, m < 2^32`).
///
pub fn lift_centered(q: u64, m: &crate::Modulus, src: &[u64], dst: &mut [u64]) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        if m.value() > q / 2 {
            // SAFETY: AVX2 support was just checked; `src` and `dst` have length `n`.
            unsafe { avx2_lift_select(q, m.value(), src, dst) };
            return;
        }
        if q < (1 << 32) && m.value() < (1 << 32) {
            // SAFETY: as above.
            unsafe { avx2_lift_centered(q, m.value(), src, dst) };
            return;
        }
    }
    scalar_lift_centered(q, m, src, dst);
}

fn scalar_lift_centered(q: u64, m: &crate::Modulus, src: &[u64], dst: &mut [u64]) {
    let half = q / 2;
    let mv = m.value();
    if mv > half {
        let shift = mv.wrapping_sub(q);
        for (x, &y) in dst.iter_mut().zip(src) {
            *x = y.wrapping_add(shift & ((y > half) as u64).wrapping_neg());
        }
    } else {
        let qm = m.reduce(q);
        for (x, &y) in dst.iter_mut().zip(src) {
            let r = m.reduce(y);
            let neg = ((y > half) as u64).wrapping_neg();
            *x = (r & !neg) | (m.sub(r, qm) & neg);
        }
    }
}

/// Centered lift when `m > q/2` (no reduction needed): `y + (m − q)` where `y > q/2`.
///
/// # Safety
/// The CPU must support AVX2; `q, m < 2^62`; `src.len() == dst.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_lift_select(q: u64, m: u64, src: &[u64], dst: &mut [u64]) {
    use core::arch::x86_64::*;
    let n = src.len();
    let half = _mm256_set1_epi64x((q / 2) as i64);
    let shift = _mm256_set1_epi64x(m.wrapping_sub(q) as i64);
    let mut k = 0;
    while k + 4 <= n {
        // SAFETY: k + 4 <= n = src.len() = dst.len().
        unsafe {
            let y = _mm256_loadu_si256(src.as_ptr().add(k) as *const __m256i);
            let sel = _mm256_and_si256(_mm256_cmpgt_epi64(y, half), shift);
            _mm256_storeu_si256(
                dst.as_mut_ptr().add(k) as *mut __m256i,
                _mm256_add_epi64(y, sel),
            );
        }
        k += 4;
    }
    let sh = m.wrapping_sub(q);
    for (x, &y) in dst[k..].iter_mut().zip(&src[k..]) {
        *x = y.wrapping_add(sh & ((y > q / 2) as u64).wrapping_neg());
    }
}

/// # Safety
/// The CPU must support AVX2; `q, m < 2^32`; `src.len() == dst.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_lift_centered(q: u64, m: u64, src: &[u64], dst: &mut [u64]) {
    use core::arch::x86_64::*;
    let n = src.len();
    let half = _mm256_set1_epi64x((q / 2) as i64);
    let mv = _mm256_set1_epi64x(m as i64);
    let mm1 = _mm256_set1_epi64x(m as i64 - 1);
    let qm = _mm256_set1_epi64x((q % m) as i64);
    let ratio = _mm256_set1_epi64x(((1u64 << 32) / m) as i64);
    let zero = _mm256_setzero_si256();
    let mut k = 0;
    while k + 4 <= n {
        // SAFETY: k + 4 <= n = src.len() = dst.len().
        unsafe {
            let y = _mm256_loadu_si256(src.as_ptr().add(k) as *const __m256i);
            // r = y mod m (32-bit Barrett: y < 2^32, error < 2m, then one subtraction).
            let qh = _mm256_srli_epi64::<32>(_mm256_mul_epu32(y, ratio));
            let mut r = _mm256_sub_epi64(y, _mm256_mul_epu32(qh, mv));
            r = _mm256_sub_epi64(r, _mm256_and_si256(_mm256_cmpgt_epi64(r, mm1), mv));
            // Negative lift (y > q/2): subtract q mod m, add m back if it went below zero.
            let neg = _mm256_cmpgt_epi64(y, half);
            let mut s = _mm256_sub_epi64(r, _mm256_and_si256(neg, qm));
            s = _mm256_add_epi64(s, _mm256_and_si256(_mm256_cmpgt_epi64(zero, s), mv));
            _mm256_storeu_si256(dst.as_mut_ptr().add(k) as *mut __m256i, s);
        }
        k += 4;
    }
    for (x, &y) in dst[k..].iter_mut().zip(&src[k..]) {
        let r = y % m;
        *x = if y > q / 2 { (r + m - q % m) % m } else { r };
    }
}

/// `x[k] = (x[k] − t[k]) · w mod m` for residues `x[k], t[k] < m`, with `w < m` and
/// `w_shoup = m.shoup(w)` (the AVX2 path, for `m < 2^31`, recomputes a 32-bit companion).
pub fn sub_mul_const(m: &crate::Modulus, x: &mut [u64], t: &[u64], w: u64, w_shoup: u64) {
    let n = x.len().min(t.len());
    let (x, t) = (&mut x[..n], &t[..n]);
    #[cfg(target_arch = "x86_64")]
    if m.value() < (1 << 31) && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 support was just checked; `x` and `t` have length `n`.
        unsafe { avx2_sub_mul_const(m.value(), x, t, w) };
        return;
    }
    for (xv, &tv) in x.iter_mut().zip(t) {
        *xv = m.mul_shoup(m.sub(*xv, tv), w, w_shoup);
    }
}

/// # Safety
/// The CPU must support AVX2; `q < 2^31`; `x.len() == t.len()`; inputs reduced.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_sub_mul_const(q: u64, x: &mut [u64], t: &[u64], w: u64) {
    use core::arch::x86_64::*;
    let n = x.len();
    let qv = _mm256_set1_epi64x(q as i64);
    let qm1 = _mm256_set1_epi64x(q as i64 - 1);
    let wv = _mm256_set1_epi64x(w as i64);
    let ws = _mm256_set1_epi64x(((w << 32) / q) as i64);
    let mut k = 0;
    while k + 4 <= n {
        // SAFETY: k + 4 <= n = x.len() = t.len().
        unsafe {
            let p = x.as_mut_ptr().add(k) as *mut __m256i;
            let tv = _mm256_loadu_si256(t.as_ptr().add(k) as *const __m256i);
            // d = x − t + q ∈ [1, 2q) < 2^32.
            let d = _mm256_sub_epi64(_mm256_add_epi64(_mm256_loadu_si256(p), qv), tv);
            let qh = _mm256_srli_epi64::<32>(_mm256_mul_epu32(d, ws));
            let r = _mm256_sub_epi64(_mm256_mul_epu32(d, wv), _mm256_mul_epu32(qh, qv));
            let r = _mm256_sub_epi64(r, _mm256_and_si256(_mm256_cmpgt_epi64(r, qm1), qv));
            _mm256_storeu_si256(p, r);
        }
        k += 4;
    }
    for (xv, &tv) in x[k..].iter_mut().zip(&t[k..]) {
        *xv = ((*xv + q - tv) as u128 * w as u128 % q as u128) as u64;
    }
}

/// `a[k] = a[k]·b[k] mod q` for residues (AVX2 Montgomery path for `q < 2^31`).
pub fn mul_mod_assign(m: &crate::Modulus, a: &mut [u64], b: &[u64]) {
    let n = a.len().min(b.len());
    let (a, b) = (&mut a[..n], &b[..n]);
    #[cfg(target_arch = "x86_64")]
    if m.value() < (1 << 31) && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 support was just checked; `a` and `b` have length `n`.
        unsafe { avx2_mul_mod(m.value(), a, b) };
        return;
    }
    for (x, &y) in a.iter_mut().zip(b) {
        *x = m.mul(*x, y);
    }
}

/// `-q^{-1} mod 2^32` for odd `q`.
#[cfg(target_arch = "x86_64")]
fn neg_inv32(q: u64) -> u64 {
    let q32 = q as u32;
    let mut inv: u32 = 1;
    for _ in 0..5 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(q32.wrapping_mul(inv)));
    }
    inv.wrapping_neg() as u64
}

/// # Safety
/// AVX2; `q < 2^31` odd; `a.len() == b.len()`; inputs reduced.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_mul_mod(q: u64, a: &mut [u64], b: &[u64]) {
    use core::arch::x86_64::*;
    let n = a.len();
    let qv = _mm256_set1_epi64x(q as i64);
    let qm1 = _mm256_set1_epi64x(q as i64 - 1);
    let qinv = _mm256_set1_epi64x(neg_inv32(q) as i64);
    // R^2 mod q with R = 2^32.
    let r2 = _mm256_set1_epi64x(((1u128 << 64) % q as u128) as i64);
    // Montgomery reduction of t < 2^63: (t + ((t·q') mod R)·q) / R ∈ [0, 2q).
    let redc = |t: __m256i| -> __m256i {
        let mq = _mm256_mul_epu32(_mm256_mul_epu32(t, qinv), qv);
        _mm256_srli_epi64::<32>(_mm256_add_epi64(t, mq))
    };
    let mut k = 0;
    while k + 4 <= n {
        // SAFETY: k + 4 <= n = a.len() = b.len().
        unsafe {
            let p = a.as_mut_ptr().add(k) as *mut __m256i;
            let x = _mm256_loadu_si256(p);
            let y = _mm256_loadu_si256(b.as_ptr().add(k) as *const __m256i);
            let u = redc(_mm256_mul_epu32(x, y)); // x·y·R^{-1}, < 2q
            let v = redc(_mm256_mul_epu32(u, r2)); // x·y, < 2q
            let v = _mm256_sub_epi64(v, _mm256_and_si256(_mm256_cmpgt_epi64(v, qm1), qv));
            _mm256_storeu_si256(p, v);
        }
        k += 4;
    }
    for (x, &y) in a[k..].iter_mut().zip(&b[k..]) {
        *x = (*x as u128 * y as u128 % q as u128) as u64;
    }
}

/// `a[k] = a[k] + b[k] mod q` for residues (AVX2 for any `q < 2^62`).
pub fn add_mod_assign(m: &crate::Modulus, a: &mut [u64], b: &[u64]) {
    let n = a.len().min(b.len());
    let (a, b) = (&mut a[..n], &b[..n]);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 support was just checked; `a` and `b` have length `n`.
        unsafe { avx2_add_mod(m.value(), a, b) };
        return;
    }
    for (x, &y) in a.iter_mut().zip(b) {
        *x = m.add(*x, y);
    }
}

/// # Safety
/// AVX2; `q < 2^62`; `a.len() == b.len()`; inputs reduced.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_add_mod(q: u64, a: &mut [u64], b: &[u64]) {
    use core::arch::x86_64::*;
    let n = a.len();
    let qv = _mm256_set1_epi64x(q as i64);
    let qm1 = _mm256_set1_epi64x(q as i64 - 1);
    let mut k = 0;
    while k + 4 <= n {
        // SAFETY: k + 4 <= n = a.len() = b.len().
        unsafe {
            let p = a.as_mut_ptr().add(k) as *mut __m256i;
            let s = _mm256_add_epi64(
                _mm256_loadu_si256(p),
                _mm256_loadu_si256(b.as_ptr().add(k) as *const __m256i),
            );
            let s = _mm256_sub_epi64(s, _mm256_and_si256(_mm256_cmpgt_epi64(s, qm1), qv));
            _mm256_storeu_si256(p, s);
        }
        k += 4;
    }
    for (x, &y) in a[k..].iter_mut().zip(&b[k..]) {
        let s = *x + y;
        *x = if s >= q { s - q } else { s };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn lazy_mac_is_congruent(seed: u64, len in 0usize..40, terms in 1usize..20) {
            let q = 2_147_483_137u64; // 31-bit NTT prime
            let c = fold_constant(q);
            let mut s = seed | 1;
            let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s % q };
            let mut acc0 = vec![0u64; len];
            let mut acc1 = vec![0u64; len];
            let mut want0 = vec![0u128; len];
            let mut want1 = vec![0u128; len];
            for _ in 0..terms {
                let x: Vec<u64> = (0..len).map(|_| next()).collect();
                let y0: Vec<u64> = (0..len).map(|_| next()).collect();
                let y1: Vec<u64> = (0..len).map(|_| next()).collect();
                mul_acc2_lazy(&mut acc0, &mut acc1, &x, &y0, &y1, c);
                for k in 0..len {
                    want0[k] += x[k] as u128 * y0[k] as u128;
                    want1[k] += x[k] as u128 * y1[k] as u128;
                }
            }
            let mut b0 = vec![0u64; len];
            let mut b1 = vec![0u64; len];
            let mut s2 = seed | 1;
            let mut next2 = || { s2 ^= s2 << 13; s2 ^= s2 >> 7; s2 ^= s2 << 17; s2 % q };
            let mut w0 = vec![0u128; len];
            let mut w1 = vec![0u128; len];
            for _ in 0..terms {
                let x: Vec<u64> = (0..len).map(|_| next2()).collect();
                let y0: Vec<u32> = (0..len).map(|_| next2() as u32).collect();
                let y1: Vec<u32> = (0..len).map(|_| next2() as u32).collect();
                mul_acc2_lazy_u32(&mut b0, &mut b1, &x, &y0, &y1, c);
                for k in 0..len {
                    w0[k] += x[k] as u128 * y0[k] as u128;
                    w1[k] += x[k] as u128 * y1[k] as u128;
                }
            }
            for k in 0..len {
                prop_assert_eq!(b0[k] as u128 % q as u128, w0[k] % q as u128);
                prop_assert_eq!(b1[k] as u128 % q as u128, w1[k] % q as u128);
            }
            for k in 0..len {
                prop_assert!(acc0[k] < 1 << 63 && acc1[k] < 1 << 63);
                prop_assert_eq!(acc0[k] as u128 % q as u128, want0[k] % q as u128);
                prop_assert_eq!(acc1[k] as u128 % q as u128, want1[k] % q as u128);
            }
        }
    }

    proptest! {
        #[test]
        fn lift_and_sub_mul(seed: u64, len in 0usize..40, qi in 0usize..4, mi in 0usize..4) {
            let primes = [2_147_483_137u64, 67_043_329, 1_152_921_504_606_830_593, 65_537];
            let (q, m) = (primes[qi], primes[mi]);
            prop_assume!(q != m);
            let m = crate::Modulus::new(m).unwrap();
            let mut s = seed | 1;
            let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
            let src: Vec<u64> = (0..len).map(|_| next() % q).collect();
            let mut dst = vec![0u64; len];
            lift_centered(q, &m, &src, &mut dst);
            let qm = crate::Modulus::new(q).unwrap();
            for k in 0..len {
                prop_assert_eq!(dst[k], m.reduce_i64(qm.center(src[k])));
            }
            let mut x: Vec<u64> = (0..len).map(|_| next() % m.value()).collect();
            let t: Vec<u64> = (0..len).map(|_| next() % m.value()).collect();
            let w = next() % m.value();
            let want: Vec<u64> = x.iter().zip(&t).map(|(&a, &b)| m.mul(m.sub(a, b), w)).collect();
            sub_mul_const(&m, &mut x, &t, w, m.shoup(w));
            prop_assert_eq!(x, want);
        }
    }

    proptest! {
        #[test]
        fn pointwise_mul_and_add(seed: u64, len in 0usize..40, qi in 0usize..4) {
            let primes = [2_147_483_137u64, 67_043_329, 1_152_921_504_606_830_593, 65_537];
            let m = crate::Modulus::new(primes[qi]).unwrap();
            let q = m.value();
            let mut s = seed | 1;
            let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s % q };
            let a: Vec<u64> = (0..len).map(|_| next()).collect();
            let b: Vec<u64> = (0..len).map(|_| next()).collect();
            let mut x = a.clone();
            mul_mod_assign(&m, &mut x, &b);
            let want: Vec<u64> = a.iter().zip(&b).map(|(&u, &v)| m.mul(u, v)).collect();
            prop_assert_eq!(&x, &want);
            let mut y = a.clone();
            add_mod_assign(&m, &mut y, &b);
            let want: Vec<u64> = a.iter().zip(&b).map(|(&u, &v)| m.add(u, v)).collect();
            prop_assert_eq!(y, want);
        }
    }
}
