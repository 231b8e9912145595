//! Byte kernels of the pixel and block schemes: AVX-512 and AVX2 paths chosen at run time
//! ([`has_avx512`], [`has_avx2`], detected once by `std` and cached) and a portable path for
//! each, with identical results (property-tested below, each SIMD path against the portable
//! one, the AVX2 paths also where the AVX-512 ones are chosen).
//!
//! * [`chacha20_blocks`] / [`chacha20_blocks16`] / [`chacha20_multi16`]: the ChaCha20
//!   keystream, eight blocks side by side (AVX2; `vprold` rotations with AVX-512 VL), sixteen
//!   (AVX-512, one state word per 512-bit register), or sixteen blocks of up to eight keys
//!   (per-image batches); [`hchacha20_x8`]: HChaCha20 of eight nonces.
//! * [`xor_bits`]: XOR `0xFF` into every byte whose key bit is 1 (NP masks, `pe`, `pe-np`);
//!   64 bytes per `vpmovm2b` with AVX-512.
//! * [`shuffle3`]: the per-pixel Table 1 colour shuffle of 3-channel pixels (`pe`), five
//!   pixels per `pshufb` (AVX2) or 21 per `vpermb` (AVX-512, where [`xor_shuffle3`] also
//!   applies the NP bits in the same pass).
//! * [`below6_run`]: the sampler's `below_small(6)` draws, 32 bytes at a time (AVX2) or 64
//!   (AVX-512: a `vpermi2b` mod-6 table and `vpcompressb`).
//! * [`BlockTables`] / [`etc_blocks`]: EtC's block move (permutation, orientation, colour code,
//!   NP) as `pshufb` row gathers, for blocks whose rows (`b·C` bytes) fit 8..=16 bytes; with
//!   AVX-512 VBMI one `vpermb` per block of at most four rows ([`wide_rows`]).
//! * [`NibblePlan`] / [`le_blocks_in_place`]: Tanaka's nibble scramble of one key as `pshufb`
//!   row gathers over the blocks' nibbles (same row limits), in place; with AVX-512 VBMI two
//!   `vpermi2b` per block of at most four rows.
//!
//! Setting `PIXVEIL_PORTABLE_KERNELS` to any non-empty value other than `0` (e.g. `1`) selects
//! the portable paths on any CPU (CI runs the known-answer tests both ways);
//! `PIXVEIL_NO_AVX512` likewise turns only the AVX-512 paths off ([`NO_AVX512_ENV`]).
//!
//! `unsafe` is confined to this module: the `std::arch` intrinsics, called only from functions
//! that checked the CPU's support, on loads and stores whose bounds are checked by slicing
//! first (masked loads and stores: by slicing the bytes their mask keeps).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::sample::TABLE1;

/// Environment variable that, set to any non-empty value other than `0` (e.g. `1`) when the
/// process starts using a kernel, selects the portable paths even on an AVX2 CPU (to test
/// them: the output is the same either way). Unset, empty or `0`: AVX2 when the CPU has it
/// (and POPCNT).
pub const PORTABLE_ENV: &str = "PIXVEIL_PORTABLE_KERNELS";

/// Whether the AVX2 kernels run: the CPU has AVX2 and POPCNT (every AVX2 CPU has both) and
/// [`PORTABLE_ENV`] (`PIXVEIL_PORTABLE_KERNELS`) is unset, empty or `0` (read once and cached).
#[inline]
pub(crate) fn has_avx2() -> bool {
    static AVX2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVX2.get_or_init(|| {
        let portable = std::env::var_os(PORTABLE_ENV).is_some_and(|v| !v.is_empty() && v != "0");
        #[cfg(target_arch = "x86_64")]
        {
            !portable
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("popcnt")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = portable;
            false
        }
    })
}

/// Environment variable that, set to any non-empty value other than `0`, turns the AVX-512
/// kernels off (the AVX2 ones still run on an AVX2 CPU): to test and measure the AVX2 paths on
/// an AVX-512 CPU. The output is the same either way.
pub const NO_AVX512_ENV: &str = "PIXVEIL_NO_AVX512";

/// Whether the AVX-512 kernels run: [`has_avx2`], the CPU has AVX-512 F, BW, VL, VBMI and
/// VBMI2 (Ice Lake, Zen 4 and later), and [`NO_AVX512_ENV`] (`PIXVEIL_NO_AVX512`) is unset, empty or
/// `0` (read once and cached).
#[inline]
pub(crate) fn has_avx512() -> bool {
    static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVX512.get_or_init(|| {
        let off = std::env::var_os(NO_AVX512_ENV).is_some_and(|v| !v.is_empty() && v != "0");
        #[cfg(target_arch = "x86_64")]
        {
            !off && has_avx2()
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512vbmi")
                && std::arch::is_x86_feature_detected!("avx512vbmi2")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = off;
            false
        }
    })
}

/// The cipher kernels chosen at run time on this machine: `"AVX-512"` ([`has_avx512`]),
/// `"AVX2"` ([`has_avx2`]) or `"portable"`.
pub(crate) fn level() -> &'static str {
    if has_avx512() {
        "AVX-512"
    } else if has_avx2() {
        "AVX2"
    } else {
        "portable"
    }
}

/// Zeroes `buf` with [`zeroize`] (the wipe of reused per-thread key scratch): on x86_64 and
/// the other targets with an assembly optimization barrier a plain `memset` followed by
/// `zeroize::optimization_barrier` (which the compiler cannot see through, so the stores are
/// kept), elsewhere volatile writes.
pub(crate) fn wipe<T: zeroize::DefaultIsZeroes>(buf: &mut [T]) {
    // Most scratch buffers are unused by a given scheme: skip the call for them.
    if !buf.is_empty() {
        zeroize::Zeroize::zeroize(buf);
    }
}

/// Asks the CPU to bring every 64-byte line of `data` into its caches (`prefetcht0`; nothing
/// on other targets). A hint only: no value is read, and a line may still be fetched late.
pub(crate) fn prefetch(data: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in data.chunks(64) {
        // SAFETY: `prefetcht0` of an address inside `data` (SSE, part of x86-64); it reads
        // nothing and cannot fault.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// `out[k] = src[k] > bound` for every `k` (LE's reversal flags from its permutation), 16 at a
/// time with AVX-512.
///
/// # Panics
/// If `out` and `src` differ in length.
pub(crate) fn above(src: &[u32], bound: u32, out: &mut [bool]) {
    assert_eq!(src.len(), out.len(), "one flag per value");
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512 F, BW, VL, VBMI and VBMI2 support was just checked; the lengths
        // match (asserted above).
        unsafe { above_avx512(src, bound, out) };
        return;
    }
    for (o, &v) in out.iter_mut().zip(src) {
        *o = v > bound;
    }
}

/// [`above`] with AVX-512: one unsigned compare into a mask and one masked byte move per 16
/// values.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VL; `src.len() == out.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn above_avx512(src: &[u32], bound: u32, out: &mut [bool]) {
    let b = _mm512_set1_epi32(bound as i32);
    let one = _mm_set1_epi8(1);
    for (s, o) in src.chunks(16).zip(out.chunks_mut(16)) {
        let m = ((1u32 << s.len()) - 1) as __mmask16;
        // SAFETY: the mask loads the `s.len() ≤ 16` words of `s` and stores `o.len() =
        // s.len()` bytes of `o` only; each stored byte is 0 or 1, a valid `bool`.
        unsafe {
            let v = _mm512_maskz_loadu_epi32(m, s.as_ptr().cast());
            let gt = _mm512_cmpgt_epu32_mask(v, b);
            _mm_mask_storeu_epi8(o.as_mut_ptr().cast(), m, _mm_maskz_mov_epi8(gt, one));
        }
    }
}

/// `0xFF` in byte `k` (little-endian) of the result where bit `k` of `b` is 1.
#[inline(always)]
pub(crate) fn spread8(b: u8) -> u64 {
    let mut x = u64::from(b);
    x = (x | x << 28) & 0x0000_000F_0000_000F;
    x = (x | x << 14) & 0x0003_0003_0003_0003;
    x = (x | x << 7) & 0x0101_0101_0101_0101;
    x * 0xFF
}

// ---------------------------------------------------------------------------------------------
// ChaCha20 keystream

/// ChaCha20's twenty rounds (ten column + diagonal double rounds, RFC 8439 §2.3) over sixteen
/// state vectors `$x` (one state word per vector, one block per lane), with the vector width's
/// 32-bit `$add` and `$xor` and its rotate-left macro `$rot!(v, n)` (n = 16, 12, 8, 7): one
/// schedule for the AVX2, AVX-512VL and AVX-512 keystreams.
#[cfg(target_arch = "x86_64")]
macro_rules! chacha20_rounds {
    ($x:ident, $add:path, $xor:path, $rot:ident) => {
        for _ in 0..10 {
            chacha20_rounds!(@qr $x, $add, $xor, $rot, 0, 4, 8, 12);
            chacha20_rounds!(@qr $x, $add, $xor, $rot, 1, 5, 9, 13);
            chacha20_rounds!(@qr $x, $add, $xor, $rot, 2, 6, 10, 14);
            chacha20_rounds!(@qr $x, $add, $xor, $rot, 3, 7, 11, 15);
            chacha20_rounds!(@qr $x, $add, $xor, $rot, 0, 5, 10, 15);
            chacha20_rounds!(@qr $x, $add, $xor, $rot, 1, 6, 11, 12);
            chacha20_rounds!(@qr $x, $add, $xor, $rot, 2, 7, 8, 13);
            chacha20_rounds!(@qr $x, $add, $xor, $rot, 3, 4, 9, 14);
        }
    };
    (@qr $x:ident, $add:path, $xor:path, $rot:ident, $a:literal, $b:literal, $c:literal, $d:literal) => {
        $x[$a] = $add($x[$a], $x[$b]);
        $x[$d] = $rot!($xor($x[$d], $x[$a]), 16);
        $x[$c] = $add($x[$c], $x[$d]);
        $x[$b] = $rot!($xor($x[$b], $x[$c]), 12);
        $x[$a] = $add($x[$a], $x[$b]);
        $x[$d] = $rot!($xor($x[$d], $x[$a]), 8);
        $x[$c] = $add($x[$c], $x[$d]);
        $x[$b] = $rot!($xor($x[$b], $x[$c]), 7);
    };
}

/// Keystream bytes produced by one [`chacha20_blocks`] call: eight 64-byte blocks.
pub(crate) const CHACHA_BYTES: usize = 512;

/// Keystream bytes produced by one [`chacha20_blocks16`] call: sixteen 64-byte blocks.
pub(crate) const CHACHA_BYTES16: usize = 1024;

/// [`chacha20_blocks`] on sixteen blocks `counter..counter + 16` with AVX-512 (one state word
/// per 512-bit register, rotations by `vprold`).
///
/// Returns `false` and leaves `out` unchanged when the AVX-512 kernels are off
/// ([`has_avx512`]); the caller then takes two [`chacha20_blocks`] calls or `rand_chacha`.
pub(crate) fn chacha20_blocks16(
    key: &[u32; 8],
    counter: u64,
    out: &mut [u8; CHACHA_BYTES16],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512 F, BW, VL, VBMI and VBMI2 support was just checked.
        unsafe { chacha20_blocks16_avx512(key, counter, out) };
        return true;
    }
    let _ = (key, counter, out);
    false
}

/// The ChaCha20 keystream of `key` (eight little-endian words), nonce 0, blocks
/// `counter..counter + 8` (64-bit block counter in words 12–13, as `rand_chacha`'s
/// `ChaCha20Rng`), written in order to `out`, with AVX2 (eight blocks side by side, one
/// state word per register).
///
/// Returns `false` and leaves `out` unchanged when the AVX2 kernels are off ([`has_avx2`]:
/// the CPU lacks AVX2, or [`PORTABLE_ENV`] selects the portable paths); the caller then uses
/// `rand_chacha`.
pub(crate) fn chacha20_blocks(key: &[u32; 8], counter: u64, out: &mut [u8; CHACHA_BYTES]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512 F, BW, VL, VBMI and VBMI2 support was just checked.
        unsafe { chacha20_blocks_avx512vl(key, counter, out) };
        return true;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 support was just checked.
        unsafe { chacha20_blocks_avx2(key, counter, out) };
        return true;
    }
    let _ = (key, counter, out);
    false
}

/// `x` rotated left by `N` bits in every 32-bit lane (`M = 32 − N`).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn rotl<const N: i32, const M: i32>(x: __m256i) -> __m256i {
    _mm256_or_si256(_mm256_slli_epi32::<N>(x), _mm256_srli_epi32::<M>(x))
}

/// The twenty ChaCha rounds (ten double rounds) on eight states side by side: `x[i]` holds
/// word `i` of every state.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn chacha_rounds(x: &mut [__m256i; 16]) {
    let rot16 = _mm256_setr_epi8(
        2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9,
        14, 15, 12, 13,
    );
    let rot8 = _mm256_setr_epi8(
        3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14, 3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10,
        15, 12, 13, 14,
    );
    // Rotations by whole bytes are byte shuffles; the others two shifts and an OR.
    macro_rules! rot {
        ($v:expr, 16) => {
            _mm256_shuffle_epi8($v, rot16)
        };
        ($v:expr, 12) => {
            rotl::<12, 20>($v)
        };
        ($v:expr, 8) => {
            _mm256_shuffle_epi8($v, rot8)
        };
        ($v:expr, 7) => {
            rotl::<7, 25>($v)
        };
    }
    chacha20_rounds!(x, _mm256_add_epi32, _mm256_xor_si256, rot);
}

/// HChaCha20 (see [`crate::per_image::hchacha20`]) of `key` under eight nonces at once, with
/// AVX2: `out[l]` is the subkey of `nonces[l]`.
///
/// Returns `false` and leaves `out` unchanged when the AVX2 kernels are off ([`has_avx2`]:
/// the CPU lacks AVX2, or [`PORTABLE_ENV`] selects the portable paths).
pub(crate) fn hchacha20_x8(
    key: &[u8; 32],
    nonces: &[[u8; 16]; 8],
    out: &mut [[u8; 32]; 8],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512 F, BW, VL, VBMI and VBMI2 support was just checked.
        unsafe { hchacha20_x8_avx512vl(key, nonces, out) };
        return true;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 support was just checked.
        unsafe { hchacha20_x8_avx2(key, nonces, out) };
        return true;
    }
    let _ = (key, nonces, out);
    false
}

/// [`hchacha20_x8`] with AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn hchacha20_x8_avx2(key: &[u8; 32], nonces: &[[u8; 16]; 8], out: &mut [[u8; 32]; 8]) {
    hchacha20_x8_with(key, nonces, out, |x| chacha_rounds(x));
}

/// [`hchacha20_x8`] with AVX-512 VL (`vprold` rotations).
///
/// # Safety
/// The CPU must support AVX-512 F and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn hchacha20_x8_avx512vl(key: &[u8; 32], nonces: &[[u8; 16]; 8], out: &mut [[u8; 32]; 8]) {
    hchacha20_x8_with(key, nonces, out, |x| chacha_rounds_vl(x));
}

/// [`hchacha20_x8`] with the rounds `rounds`.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn hchacha20_x8_with(
    key: &[u8; 32],
    nonces: &[[u8; 16]; 8],
    out: &mut [[u8; 32]; 8],
    rounds: impl FnOnce(&mut [__m256i; 16]),
) {
    let word = |b: &[u8], i: usize| {
        i32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
    };
    let consts = [0x6170_7865u32, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];
    let mut x = [_mm256_setzero_si256(); 16];
    for (v, &c) in x[..4].iter_mut().zip(&consts) {
        *v = _mm256_set1_epi32(c as i32);
    }
    for (i, v) in x[4..12].iter_mut().enumerate() {
        *v = _mm256_set1_epi32(word(key, i));
    }
    for (i, v) in x[12..].iter_mut().enumerate() {
        let w: [i32; 8] = std::array::from_fn(|l| word(&nonces[l], i));
        *v = _mm256_setr_epi32(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]);
    }
    rounds(&mut x);
    // Output words 0–3 and 12–15 of each lane (no final addition).
    let mut words = [[0u32; 8]; 8];
    for (slot, &v) in words.iter_mut().zip(x[..4].iter().chain(&x[12..])) {
        // SAFETY: `slot` is 8 `u32`s (32 bytes); unaligned store.
        unsafe { _mm256_storeu_si256(slot.as_mut_ptr().cast(), v) };
    }
    for (l, o) in out.iter_mut().enumerate() {
        for (w, chunk) in words.iter().zip(o.chunks_exact_mut(4)) {
            chunk.copy_from_slice(&w[l].to_le_bytes());
        }
    }
    // Best effort: the stack copies are zeroed (kept by the barrier); registers and spills the
    // compiler made are not covered.
    wipe(words.as_flattened_mut());
    x = [_mm256_setzero_si256(); 16];
    zeroize::optimization_barrier(&x);
}

/// [`chacha20_blocks`] on eight blocks in parallel.
///
/// Wiping is best effort: the key-bearing state left on the stack and in registers is not
/// zeroed (see the end of the body); the caller wipes the keystream it keeps.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn chacha20_blocks_avx2(key: &[u32; 8], counter: u64, out: &mut [u8; CHACHA_BYTES]) {
    let init = chacha8_init(key, counter);
    let mut x = init;
    chacha_rounds(&mut x);
    chacha8_store(x, &init, out);
    // Not wiped (best effort, as `rand_chacha`'s own block function): the key words stay in
    // `init`, `x` and the compiler's register spills on the stack until overwritten. Zeroing
    // `init` and `x` behind `zeroize::optimization_barrier` cost ≈ 8 % of per-image `pe`
    // (2.72 vs 2.96 GB/s, one thread) and would still miss registers and spills.
}

/// [`chacha20_blocks`] on eight blocks in parallel with AVX-512 VL: [`chacha20_blocks_avx2`]
/// with `vprold` rotations (one instruction where AVX2 takes two shifts and an OR).
///
/// # Safety
/// The CPU must support AVX-512 F and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn chacha20_blocks_avx512vl(key: &[u32; 8], counter: u64, out: &mut [u8; CHACHA_BYTES]) {
    let init = chacha8_init(key, counter);
    let mut x = init;
    chacha_rounds_vl(&mut x);
    chacha8_store(x, &init, out);
    // Not wiped: as [`chacha20_blocks_avx2`].
}

/// [`chacha_rounds`] with AVX-512 VL `vprold` rotations.
///
/// # Safety
/// The CPU must support AVX-512 F and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl")]
#[inline]
unsafe fn chacha_rounds_vl(x: &mut [__m256i; 16]) {
    macro_rules! rot {
        ($v:expr, $n:literal) => {
            _mm256_rol_epi32::<$n>($v)
        };
    }
    chacha20_rounds!(x, _mm256_add_epi32, _mm256_xor_si256, rot);
}

/// The eight initial ChaCha20 states of [`chacha20_blocks`], word-major (`x[i]` holds word `i`
/// of blocks `counter..counter + 8`).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn chacha8_init(key: &[u32; 8], counter: u64) -> [__m256i; 16] {
    let ctr: [u64; 8] = std::array::from_fn(|k| counter.wrapping_add(k as u64));
    let lane = |f: &dyn Fn(u64) -> u32| {
        _mm256_setr_epi32(
            f(ctr[0]) as i32,
            f(ctr[1]) as i32,
            f(ctr[2]) as i32,
            f(ctr[3]) as i32,
            f(ctr[4]) as i32,
            f(ctr[5]) as i32,
            f(ctr[6]) as i32,
            f(ctr[7]) as i32,
        )
    };
    let consts = [0x6170_7865u32, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];
    let mut init = [_mm256_setzero_si256(); 16];
    for (v, &c) in init[..4].iter_mut().zip(&consts) {
        *v = _mm256_set1_epi32(c as i32);
    }
    for (v, &k) in init[4..12].iter_mut().zip(key) {
        *v = _mm256_set1_epi32(k as i32);
    }
    init[12] = lane(&|c| c as u32);
    init[13] = lane(&|c| (c >> 32) as u32);
    init
}

/// Adds the initial states `init` to the rounds' output `x` and stores the eight blocks in
/// order to `out` (transposed from word-major to block-major).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn chacha8_store(mut x: [__m256i; 16], init: &[__m256i; 16], out: &mut [u8; CHACHA_BYTES]) {
    for (v, i) in x.iter_mut().zip(init) {
        *v = _mm256_add_epi32(*v, *i);
    }
    // Transpose each half (words 0–7, 8–15) from word-major to block-major.
    for half in 0..2 {
        let a = &x[8 * half..8 * half + 8];
        let t = [
            _mm256_unpacklo_epi32(a[0], a[1]),
            _mm256_unpackhi_epi32(a[0], a[1]),
            _mm256_unpacklo_epi32(a[2], a[3]),
            _mm256_unpackhi_epi32(a[2], a[3]),
            _mm256_unpacklo_epi32(a[4], a[5]),
            _mm256_unpackhi_epi32(a[4], a[5]),
            _mm256_unpacklo_epi32(a[6], a[7]),
            _mm256_unpackhi_epi32(a[6], a[7]),
        ];
        // u[k] (k < 4): words 0–3 of this half for blocks k (low lane) and k + 4 (high lane);
        // u[4 + k]: words 4–7.
        let u = [
            _mm256_unpacklo_epi64(t[0], t[2]),
            _mm256_unpackhi_epi64(t[0], t[2]),
            _mm256_unpacklo_epi64(t[1], t[3]),
            _mm256_unpackhi_epi64(t[1], t[3]),
            _mm256_unpacklo_epi64(t[4], t[6]),
            _mm256_unpackhi_epi64(t[4], t[6]),
            _mm256_unpacklo_epi64(t[5], t[7]),
            _mm256_unpackhi_epi64(t[5], t[7]),
        ];
        for k in 0..4 {
            let lo = _mm256_permute2x128_si256::<0x20>(u[k], u[4 + k]);
            let hi = _mm256_permute2x128_si256::<0x31>(u[k], u[4 + k]);
            for (block, v) in [(k, lo), (k + 4, hi)] {
                let at = 64 * block + 32 * half;
                let d = &mut out[at..at + 32];
                // SAFETY: `d` is 32 bytes long (sliced above); unaligned store.
                unsafe { _mm256_storeu_si256(d.as_mut_ptr().cast(), v) };
            }
        }
    }
}

/// [`chacha20_blocks16`]: sixteen blocks side by side, one state word per 512-bit register
/// (`x[i]` holds word `i` of blocks `counter..counter + 16`), `vprold` rotations, then a
/// 16×16 transpose of 32-bit words (two unpack levels within 128-bit lanes, two 128-bit lane
/// shuffles) to store the blocks in order.
///
/// Wiping is best effort, as [`chacha20_blocks_avx2`].
///
/// # Safety
/// The CPU must support AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chacha20_blocks16_avx512(key: &[u32; 8], counter: u64, out: &mut [u8; CHACHA_BYTES16]) {
    let lo: [u32; 16] = std::array::from_fn(|k| counter.wrapping_add(k as u64) as u32);
    let hi: [u32; 16] = std::array::from_fn(|k| (counter.wrapping_add(k as u64) >> 32) as u32);
    let consts = [0x6170_7865u32, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];
    let mut init = [_mm512_setzero_si512(); 16];
    for (v, &c) in init[..4].iter_mut().zip(&consts) {
        *v = _mm512_set1_epi32(c as i32);
    }
    for (v, &k) in init[4..12].iter_mut().zip(key) {
        *v = _mm512_set1_epi32(k as i32);
    }
    // SAFETY: `lo` and `hi` are 16 `u32`s (64 bytes); unaligned loads.
    unsafe {
        init[12] = _mm512_loadu_si512(lo.as_ptr().cast());
        init[13] = _mm512_loadu_si512(hi.as_ptr().cast());
    }
    chacha16_finish(&init, out);
}

/// Keys of the images of one [`chacha20_multi16`] call.
pub(crate) const MULTI_KEYS: usize = 8;

/// Sixteen ChaCha20 blocks (nonce 0) under up to [`MULTI_KEYS`] keys with AVX-512: block `l`
/// (written to `out[64·l..64·l + 64]`) is block `ctr[l]` of the keystream of
/// `keys[img[l]]`. Lanes whose `img[l]` is not below [`MULTI_KEYS`] compute some block of
/// `keys[img[l] mod 8]` (to be ignored).
///
/// Returns `false` and leaves `out` unchanged when the AVX-512 kernels are off
/// ([`has_avx512`]).
pub(crate) fn chacha20_multi16(
    keys: &[[u32; 8]; MULTI_KEYS],
    img: &[u32; 16],
    ctr: &[u32; 16],
    out: &mut [u8; CHACHA_BYTES16],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512 F, BW, VL, VBMI and VBMI2 support was just checked.
        unsafe { chacha20_multi16_avx512(keys, img, ctr, out) };
        return true;
    }
    let _ = (keys, img, ctr, out);
    false
}

/// [`chacha20_multi16`]: the key words of each lane picked from the eight keys (four
/// registers) by two `vpermi2d` and a blend, then [`chacha16_finish`].
///
/// # Safety
/// The CPU must support AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chacha20_multi16_avx512(
    keys: &[[u32; 8]; MULTI_KEYS],
    img: &[u32; 16],
    ctr: &[u32; 16],
    out: &mut [u8; CHACHA_BYTES16],
) {
    let flat = keys.as_flattened();
    let kw: [__m512i; 4] = std::array::from_fn(|i| {
        let k = &flat[16 * i..16 * i + 16];
        // SAFETY: `k` is 16 `u32`s (64 bytes, sliced above); unaligned load.
        unsafe { _mm512_loadu_si512(k.as_ptr().cast()) }
    });
    // SAFETY: `img` and `ctr` are 16 `u32`s (64 bytes); unaligned loads.
    let (img, ctr) = unsafe {
        (
            _mm512_loadu_si512(img.as_ptr().cast()),
            _mm512_loadu_si512(ctr.as_ptr().cast()),
        )
    };
    // Word w of key m is entry 8·m + w of the 64 key words: the low five bits index the
    // registers' pair (keys 0–3 or 4–7), bit 5 chooses the pair.
    let base = _mm512_slli_epi32::<3>(img);
    let upper = _mm512_test_epi32_mask(base, _mm512_set1_epi32(32));
    let consts = [0x6170_7865u32, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];
    let mut init = [_mm512_setzero_si512(); 16];
    for (v, &c) in init[..4].iter_mut().zip(&consts) {
        *v = _mm512_set1_epi32(c as i32);
    }
    for (w, v) in init[4..12].iter_mut().enumerate() {
        let idx = _mm512_add_epi32(base, _mm512_set1_epi32(w as i32));
        let lo = _mm512_permutex2var_epi32(kw[0], idx, kw[1]);
        let hi = _mm512_permutex2var_epi32(kw[2], idx, kw[3]);
        *v = _mm512_mask_blend_epi32(upper, lo, hi);
    }
    init[12] = ctr;
    chacha16_finish(&init, out);
}

/// The twenty rounds on sixteen states side by side (`init[i]` holds word `i` of each), the
/// final addition, and the blocks stored in lane order to `out` (a 16×16 transpose of 32-bit
/// words: two unpack levels within 128-bit lanes, two 128-bit lane shuffles).
///
/// Wiping is best effort, as [`chacha20_blocks_avx2`].
///
/// # Safety
/// The CPU must support AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn chacha16_finish(init: &[__m512i; 16], out: &mut [u8; CHACHA_BYTES16]) {
    let mut x = *init;
    macro_rules! rot {
        ($v:expr, $n:literal) => {
            _mm512_rol_epi32::<$n>($v)
        };
    }
    chacha20_rounds!(x, _mm512_add_epi32, _mm512_xor_si512, rot);
    for (v, i) in x.iter_mut().zip(init) {
        *v = _mm512_add_epi32(*v, *i);
    }
    // t[2k], t[2k + 1]: words 2k, 2k + 1 interleaved, within each 128-bit lane L (blocks
    // 4L..4L + 4): t[2k] for blocks 4L, 4L + 1, t[2k + 1] for blocks 4L + 2, 4L + 3.
    let t: [__m512i; 16] = std::array::from_fn(|i| {
        let (a, b) = (x[i & !1], x[i | 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_epi32(a, b)
        } else {
            _mm512_unpackhi_epi32(a, b)
        }
    });
    // u[4m + r], lane L: words 4m..4m + 4 of block 4L + r.
    let u: [__m512i; 16] = std::array::from_fn(|i| {
        let (m, r) = (i / 4, i % 4);
        let (a, b) = (t[4 * m + r / 2], t[4 * m + 2 + r / 2]);
        if r % 2 == 0 {
            _mm512_unpacklo_epi64(a, b)
        } else {
            _mm512_unpackhi_epi64(a, b)
        }
    });
    for r in 0..4 {
        let (a, b, c, d) = (u[r], u[4 + r], u[8 + r], u[12 + r]);
        let v0 = _mm512_shuffle_i32x4::<0x44>(a, b); // a0 a1 b0 b1
        let v1 = _mm512_shuffle_i32x4::<0xEE>(a, b); // a2 a3 b2 b3
        let v2 = _mm512_shuffle_i32x4::<0x44>(c, d); // c0 c1 d0 d1
        let v3 = _mm512_shuffle_i32x4::<0xEE>(c, d); // c2 c3 d2 d3
        let blocks = [
            _mm512_shuffle_i32x4::<0x88>(v0, v2), // lane 0 of a, b, c, d: block r
            _mm512_shuffle_i32x4::<0xDD>(v0, v2), // lane 1: block 4 + r
            _mm512_shuffle_i32x4::<0x88>(v1, v3), // lane 2: block 8 + r
            _mm512_shuffle_i32x4::<0xDD>(v1, v3), // lane 3: block 12 + r
        ];
        for (l, v) in blocks.into_iter().enumerate() {
            let at = 64 * (4 * l + r);
            let d = &mut out[at..at + 64];
            // SAFETY: `d` is 64 bytes long (sliced above); unaligned store.
            unsafe { _mm512_storeu_si512(d.as_mut_ptr().cast(), v) };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// below6_run

/// The fast path of the sampler's `below_small(6)` draws, 32 bytes at a time: while at least
/// 32 bytes of `src` and 32 slots of `out` remain, consumes the next 32 bytes and appends the
/// values `b mod 6` of the accepted ones (`b < 252`) in order. Returns `(bytes consumed,
/// values written)`: `src[..bytes]` gave exactly the values `out[..values]`, as successive
/// `below_small(6)` draws would. (Slots of `out` after `values` may have been overwritten.)
pub(crate) fn below6_run(src: &[u8], out: &mut [u8]) -> (usize, usize) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512 F, BW, VL, VBMI and VBMI2 support was just checked.
        return unsafe { below6_run_avx512(src, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 and POPCNT support was just checked.
        return unsafe { below6_run_avx2(src, out) };
    }
    below6_run_portable(src, out)
}

/// Appends the values of the accepted bytes of `w` to `out` from slot `j` (branch-free);
/// returns the new `j`. `out` has at least `j + w.len()` slots.
#[inline]
fn below6_window(w: &[u8], out: &mut [u8], mut j: usize) -> usize {
    for &b in w {
        out[j] = b % 6;
        j += usize::from(b < 252);
    }
    j
}

/// [`below6_run`] without SIMD intrinsics.
fn below6_run_portable(src: &[u8], out: &mut [u8]) -> (usize, usize) {
    let (mut i, mut j) = (0, 0);
    while i + 32 <= src.len() && j + 32 <= out.len() {
        j = below6_window(&src[i..i + 32], out, j);
        i += 32;
    }
    (i, j)
}

/// `b mod 6` for every byte `b` (the four 64-byte tables of [`below6_run_avx512`]).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
static MOD6: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b % 6) as u8;
        b += 1;
    }
    t
};

/// [`below6_run`] with AVX-512: 64-byte windows while 64 bytes of `src` and 64 slots of `out`
/// remain (each exactly two of the 32-byte windows, which would run too: the first writes at
/// most 32 values), then the AVX2 32-byte windows. Per window: one compare into a mask of the
/// accepted bytes, `b mod 6` by two `vpermi2b` over a 256-byte table and a blend on the top
/// bit, one `vpcompressb` of the accepted values and one 64-byte store.
///
/// # Safety
/// The CPU must support AVX-512 F, BW, VL, VBMI and VBMI2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi,avx512vbmi2")]
unsafe fn below6_run_avx512(src: &[u8], out: &mut [u8]) -> (usize, usize) {
    let t: [__m512i; 4] = std::array::from_fn(|k| {
        let s = &MOD6[64 * k..64 * k + 64];
        // SAFETY: `s` is 64 bytes long (sliced above); unaligned load.
        unsafe { _mm512_loadu_si512(s.as_ptr().cast()) }
    });
    let limit = _mm512_set1_epi8(252u8 as i8);
    let (mut i, mut j) = (0, 0);
    while i + 64 <= src.len() && j + 64 <= out.len() {
        let w = &src[i..i + 64];
        // SAFETY: `w` is 64 bytes long (sliced above); unaligned load.
        let v = unsafe { _mm512_loadu_si512(w.as_ptr().cast()) };
        let keep = _mm512_cmplt_epu8_mask(v, limit);
        // Table bytes 0..128 by the low 7 bits, 128..256 where the top bit is set.
        let lo = _mm512_permutex2var_epi8(t[0], v, t[1]);
        let hi = _mm512_permutex2var_epi8(t[2], v, t[3]);
        let r = _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi);
        let c = _mm512_maskz_compress_epi8(keep, r);
        let o = &mut out[j..j + 64];
        // SAFETY: `o` is 64 bytes long (sliced above); unaligned store.
        unsafe { _mm512_storeu_si512(o.as_mut_ptr().cast(), c) };
        j += keep.count_ones() as usize;
        i += 64;
    }
    // SAFETY: AVX-512 support implies `has_avx2` (AVX2 and POPCNT).
    let (di, dj) = below6_run_avx2(&src[i..], &mut out[j..]);
    (i + di, j + dj)
}

/// `pshufb` controls that drop byte `p` of 16 (entry `p < 16`: bytes `0..p`, then `p+1..16`,
/// then a zero) or keep all 16 (entry 16).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const DROP1: [[u8; 16]; 17] = {
    let mut t = [[0u8; 16]; 17];
    let mut p = 0;
    while p < 17 {
        let mut k = 0;
        while k < 16 {
            // (Entry 16 has k < p everywhere: the identity.)
            t[p][k] = if k < p {
                k as u8
            } else if k < 15 {
                (k + 1) as u8
            } else {
                0x80
            };
            k += 1;
        }
        p += 1;
    }
    t
};

/// [`below6_run`]: per 32 bytes, one compare and `movemask` for the rejected bytes, `b mod 6`
/// on 16-bit lanes as `b − 6·⌊b·10923 / 2¹⁶⌋` (exact for `b < 2¹²`), and each 16-byte half
/// compacted by two `pshufb` ([`DROP1`]: its first rejected byte dropped, then its second)
/// when it holds at most two rejected bytes (byte by byte otherwise: about one window in 400;
/// with one `pshufb` and up to one rejected byte, one window in 16 went byte by byte, a third
/// of the instructions of the pass). The windows do not depend on the rejections, so
/// successive windows overlap in the CPU.
///
/// # Safety
/// The CPU must support AVX2 and POPCNT.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn below6_run_avx2(src: &[u8], out: &mut [u8]) -> (usize, usize) {
    // b ≥ 252 ⇔ (b ⊕ 0x80) > (251 ⊕ 0x80) as signed bytes.
    let flip = _mm256_set1_epi8(-128);
    let limit = _mm256_set1_epi8((251u8 ^ 0x80) as i8);
    let low = _mm256_set1_epi16(0x00FF);
    let magic = _mm256_set1_epi16(10923);
    let six = _mm256_set1_epi16(6);
    let (mut i, mut j) = (0, 0);
    while i + 32 <= src.len() && j + 32 <= out.len() {
        let w = &src[i..i + 32];
        // SAFETY: `w` is 32 bytes long (sliced above); unaligned load.
        let v = unsafe { _mm256_loadu_si256(w.as_ptr().cast()) };
        let rejected =
            _mm256_movemask_epi8(_mm256_cmpgt_epi8(_mm256_xor_si256(v, flip), limit)) as u32;
        let (r0, r1) = (rejected & 0xFFFF, rejected >> 16);
        // Each half's rejected bytes without the first one, and without the first two.
        let (s0, s1) = (r0 & r0.wrapping_sub(1), r1 & r1.wrapping_sub(1));
        if s0 & s0.wrapping_sub(1) != 0 || s1 & s1.wrapping_sub(1) != 0 {
            // Three rejected bytes in one half.
            j = below6_window(w, out, j);
            i += 32;
            continue;
        }
        let even = _mm256_and_si256(v, low);
        let odd = _mm256_srli_epi16::<8>(v);
        let rem_even = _mm256_sub_epi16(
            even,
            _mm256_mullo_epi16(_mm256_mulhi_epu16(even, magic), six),
        );
        let rem_odd =
            _mm256_sub_epi16(odd, _mm256_mullo_epi16(_mm256_mulhi_epu16(odd, magic), six));
        let r = _mm256_or_si256(rem_even, _mm256_slli_epi16::<8>(rem_odd));
        // Position of each half's first rejected byte, 16 if none; of its second, counted
        // after the first was dropped (16 if none).
        let p0 = (r0 | 0x1_0000).trailing_zeros() as usize;
        let p1 = (r1 | 0x1_0000).trailing_zeros() as usize;
        let q0 = (s0 | 0x1_0000).trailing_zeros() as usize - usize::from(s0 != 0);
        let q1 = (s1 | 0x1_0000).trailing_zeros() as usize - usize::from(s1 != 0);
        // SAFETY: `DROP1[p]` (p ≤ 16) is a 16-byte array; unaligned loads.
        let (c1, c2) = unsafe {
            (
                _mm256_loadu2_m128i(DROP1[p1].as_ptr().cast(), DROP1[p0].as_ptr().cast()),
                _mm256_loadu2_m128i(DROP1[q1].as_ptr().cast(), DROP1[q0].as_ptr().cast()),
            )
        };
        let c = _mm256_shuffle_epi8(_mm256_shuffle_epi8(r, c1), c2);
        let j1 = j + 16 - r0.count_ones() as usize;
        let o = &mut out[j..j + 32];
        // SAFETY: `o` is 32 bytes long (sliced above) and `j1 − j ≤ 16`: both 16-byte stores
        // lie inside it; unaligned stores, the second after the first.
        unsafe {
            _mm_storeu_si128(o.as_mut_ptr().cast(), _mm256_castsi256_si128(c));
            _mm_storeu_si128(
                o.as_mut_ptr().add(j1 - j).cast(),
                _mm256_extracti128_si256::<1>(c),
            );
        }
        j = j1 + 16 - r1.count_ones() as usize;
        i += 32;
    }
    (i, j)
}

// ---------------------------------------------------------------------------------------------
// xor_bits

/// XORs `0xFF` into byte `k` of `data` where key bit `k` is 1 (bit `k % 8`, least significant
/// first, of `bits[k / 8]`).
///
/// # Panics
/// If `bits` has fewer than `⌈data.len() / 8⌉` bytes.
pub(crate) fn xor_bits(data: &mut [u8], bits: &[u8]) {
    assert!(
        bits.len() >= data.len().div_ceil(8),
        "one key bit per data byte"
    );
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512 support was just checked; `bits` covers `data` (asserted above).
        unsafe { xor_bits_avx512(data, bits) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 support was just checked; `bits` covers `data` (asserted above).
        unsafe { xor_bits_avx2(data, bits) };
        return;
    }
    xor_bits_portable(data, bits);
}

/// [`xor_bits`] without SIMD intrinsics (`bits` covers `data`).
fn xor_bits_portable(data: &mut [u8], bits: &[u8]) {
    let whole = data.len() / 8;
    let mut words = data.chunks_exact_mut(8);
    for (w, &b) in (&mut words).zip(bits) {
        let x = u64::from_le_bytes(w.try_into().expect("chunks of 8 bytes")) ^ spread8(b);
        w.copy_from_slice(&x.to_le_bytes());
    }
    let rest = words.into_remainder();
    if !rest.is_empty() {
        let last = bits[whole];
        for (j, v) in rest.iter_mut().enumerate() {
            *v ^= 0u8.wrapping_sub((last >> j) & 1);
        }
    }
}

/// Byte `k` of the result is `0xFF` where bit `k` of `w` is 1 (least significant first), else
/// 0: byte `k` takes byte `k / 8` of `w` (`pshufb`) and tests bit `k mod 8` of it. The NP mask
/// of 32 bytes of [`xor_bits`].
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn bit_bytes(w: u32) -> __m256i {
    let spread = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3,
        3, 3,
    );
    let sel = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
    let v = _mm256_shuffle_epi8(_mm256_set1_epi32(w as i32), spread);
    _mm256_cmpeq_epi8(_mm256_and_si256(v, sel), sel)
}

/// [`xor_bits`] on 32 bytes (four key bytes) per step, the tail portably.
///
/// # Safety
/// The CPU must support AVX2; `bits.len() ≥ ⌈data.len() / 8⌉`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn xor_bits_avx2(data: &mut [u8], bits: &[u8]) {
    let whole = data.len() / 32 * 32;
    let mut chunks = data.chunks_exact_mut(32);
    for (c, b) in (&mut chunks).zip(bits.chunks_exact(4)) {
        let m = bit_bytes(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let p = c.as_mut_ptr().cast::<__m256i>();
        // SAFETY: `c` is 32 bytes long (`chunks_exact_mut(32)`); unaligned load and store.
        unsafe { _mm256_storeu_si256(p, _mm256_xor_si256(_mm256_loadu_si256(p), m)) };
    }
    xor_bits_portable(&mut data[whole..], &bits[whole / 8..]);
}

/// [`xor_bits`] on 64 bytes (eight key bytes, one 64-bit mask) per step with AVX-512 BW
/// (`vpmovm2b` turns the mask into the bytes to XOR), the rest with AVX2.
///
/// # Safety
/// The CPU must support AVX-512 F and BW (and AVX2); `bits.len() ≥ ⌈data.len() / 8⌉`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn xor_bits_avx512(data: &mut [u8], bits: &[u8]) {
    let whole = data.len() / 64 * 64;
    let mut chunks = data.chunks_exact_mut(64);
    for (c, b) in (&mut chunks).zip(bits.chunks_exact(8)) {
        let m = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let p = c.as_mut_ptr().cast::<__m512i>();
        // SAFETY: `c` is 64 bytes long (`chunks_exact_mut(64)`); unaligned load and store.
        unsafe {
            _mm512_storeu_si512(
                p,
                _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_movm_epi8(m)),
            );
        }
    }
    xor_bits_avx2(&mut data[whole..], &bits[whole / 8..]);
}

// ---------------------------------------------------------------------------------------------
// shuffle3

/// `pshufb` controls of a Table-1-like channel table `t` (output channel `c` of a pixel with
/// code `k` takes its input channel `t[k][c]`) for five pixels (15 bytes) at a time: the
/// control of pixels 0–1 by their pair of codes, of pixels 2–3 likewise, of pixel 4 alone
/// (whose control also keeps byte 15, the next group's first byte, in place).
pub(crate) struct Shuffle3 {
    table: [[u8; 3]; 6],
    /// Bytes 0–5 of the control for codes `(k0, k1)` at index `6·k0 + k1`.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pair01: [u64; 36],
    /// Bytes 6–11 of the control (values 6..12) for codes `(k2, k3)`.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pair23: [u64; 36],
    /// Bytes 12–15 of the control (values 12..16) for code `k4`.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    single4: [u64; 6],
    /// `t[k][0]` at byte `k`, `t[k][1]` at byte `6 + k` (a `pshufb` table).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    t01: [u8; 16],
    /// `t[k][2]` at byte `k`, zero elsewhere (a `pshufb` table).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    t2: [u8; 16],
}

impl Shuffle3 {
    const fn new(table: &[[u8; 3]; 6]) -> Self {
        let mut pair01 = [0u64; 36];
        let mut pair23 = [0u64; 36];
        let mut single4 = [0u64; 6];
        let mut k0 = 0;
        while k0 < 6 {
            let mut k1 = 0;
            while k1 < 6 {
                let mut c = 0;
                while c < 3 {
                    let a = table[k0][c] as u64;
                    let b = table[k1][c] as u64;
                    pair01[6 * k0 + k1] |= a << (8 * c) | (3 + b) << (8 * (3 + c));
                    pair23[6 * k0 + k1] |= (6 + a) << (8 * c) | (9 + b) << (8 * (3 + c));
                    c += 1;
                }
                k1 += 1;
            }
            let mut c = 0;
            while c < 3 {
                single4[k0] |= (12 + table[k0][c] as u64) << (8 * c);
                c += 1;
            }
            single4[k0] |= 15 << 24;
            k0 += 1;
        }
        let mut t01 = [0u8; 16];
        let mut t2 = [0u8; 16];
        let mut k = 0;
        while k < 6 {
            t01[k] = table[k][0];
            t01[6 + k] = table[k][1];
            t2[k] = table[k][2];
            k += 1;
        }
        Self {
            table: *table,
            pair01,
            pair23,
            single4,
            t01,
            t2,
        }
    }
}

/// The controls of [`TABLE1`] (encryption).
pub(crate) static SHUFFLE_ENC: Shuffle3 = Shuffle3::new(&TABLE1);
/// The controls of [`crate::sample::TABLE1_INV`] (decryption).
pub(crate) static SHUFFLE_DEC: Shuffle3 = Shuffle3::new(&crate::sample::TABLE1_INV);

/// Shuffles the channels of every 3-byte pixel `i` of `data` by `sh`'s table row `codes[i]`.
///
/// Preconditions: every code is below 6. A larger one (checked only in debug builds) gives
/// unspecified output, not undefined behaviour: the portable path panics on the table index,
/// the AVX2 path panics or selects a wrong row or zero bytes (`pshufb` controls stay in
/// bounds: they only pick bytes of the loaded 16-byte group).
///
/// # Panics
/// If `data.len() != 3·codes.len()`.
pub(crate) fn shuffle3(data: &mut [u8], codes: &[u8], sh: &Shuffle3) {
    assert_eq!(data.len(), 3 * codes.len(), "one code per 3-byte pixel");
    debug_assert!(codes.iter().all(|&k| k < 6), "codes are below 6");
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512 F, BW, VL, VBMI and VBMI2 support was just checked; the lengths
        // match (asserted above).
        unsafe { shuffle3_avx512(data, codes, sh, None) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 support was just checked; the lengths match (asserted above).
        unsafe { shuffle3_avx2(data, codes, sh) };
        return;
    }
    shuffle3_portable(data, codes, sh);
}

/// `pe`'s two passes in one when the AVX-512 or AVX2 kernels run: [`xor_bits`]`(data, bits)`
/// then [`shuffle3`]`(data, codes, sh)` (`xor_first`, encryption), or the shuffle then the XOR
/// (decryption). Returns `false` (and leaves `data` unchanged) on the portable path, for the
/// caller to make the two calls. Preconditions on the codes as [`shuffle3`].
///
/// # Panics
/// If `data.len() != 3·codes.len()` or `bits` has fewer than `⌈data.len() / 8⌉` bytes.
pub(crate) fn xor_shuffle3(
    data: &mut [u8],
    bits: &[u8],
    codes: &[u8],
    sh: &Shuffle3,
    xor_first: bool,
) -> bool {
    assert_eq!(data.len(), 3 * codes.len(), "one code per 3-byte pixel");
    assert!(
        bits.len() >= data.len().div_ceil(8),
        "one key bit per data byte"
    );
    debug_assert!(codes.iter().all(|&k| k < 6), "codes are below 6");
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512 F, BW, VL, VBMI and VBMI2 support was just checked; the lengths
        // match (asserted above).
        unsafe { shuffle3_avx512(data, codes, sh, Some((bits, xor_first))) };
        return true;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 support was just checked; the lengths match (asserted above).
        unsafe { xor_shuffle3_avx2(data, bits, codes, sh, xor_first) };
        return true;
    }
    let _ = (data, bits, codes, sh, xor_first);
    false
}

/// XORs `0xFF` into byte `k` of `data` where key bit `at + k` of `bits` is 1 (the bits of a
/// part of an image that starts at byte `at`), one byte at a time: the reference of
/// [`xor_bits_at_avx2`].
///
/// # Panics
/// If `bits` has fewer than `⌈(at + data.len()) / 8⌉` bytes.
#[cfg(test)]
fn xor_bits_at(data: &mut [u8], bits: &[u8], at: usize) {
    for (k, v) in data.iter_mut().enumerate() {
        let b = at + k;
        *v ^= 0u8.wrapping_sub((bits[b / 8] >> (b % 8)) & 1);
    }
}

/// [`xor_shuffle3`] with AVX2: the pairs of five-pixel groups of [`shuffle3_pairs_avx2`] with
/// the NP bits XORed in the same pass (before the `pshufb` when `xor_first`, after it
/// otherwise), then the last pixels' two passes apart.
///
/// # Safety
/// The CPU must support AVX2; `data.len() == 3·codes.len()`; `bits` covers `data`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn xor_shuffle3_avx2(
    data: &mut [u8],
    bits: &[u8],
    codes: &[u8],
    sh: &Shuffle3,
    xor_first: bool,
) {
    // SAFETY: as this function's (the caller's) contract.
    let g = unsafe { shuffle3_pairs_avx2::<true>(data, codes, sh, bits, xor_first) };
    let tail = &mut data[3 * g..];
    // SAFETY: AVX2 (this function's contract).
    let xor = |tail: &mut [u8]| unsafe { xor_bits_at_avx2(tail, bits, 3 * g) };
    if xor_first {
        xor(tail);
    }
    // SAFETY: AVX2 (this function's contract); one code per pixel of the tail.
    unsafe { shuffle3_avx2(tail, &codes[g..], sh) };
    if !xor_first {
        xor(tail);
    }
}

/// The tests' bytewise `xor_bits_at`, 32 bytes per step with AVX2 ([`bits_at`] for the step's
/// 32 key bits, the bytes' masks by [`bit_bytes`]); a last partial step through a 32-byte copy.
/// (The tail of [`xor_shuffle3_avx2`], up to 75 bytes: one byte at a time it was about 4 % of
/// per-image `pe`.)
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn xor_bits_at_avx2(data: &mut [u8], bits: &[u8], at: usize) {
    let xor32 = |c: &mut [u8; 32], k: usize| {
        // Bits `at + k .. at + k + 32` (those past the end of `bits` are 0).
        let m = bit_bytes(bits_at(bits, at + k) as u32);
        let p = c.as_mut_ptr().cast::<__m256i>();
        // SAFETY: `c` is a 32-byte array; unaligned load and store.
        unsafe { _mm256_storeu_si256(p, _mm256_xor_si256(_mm256_loadu_si256(p), m)) };
    };
    let mut chunks = data.chunks_exact_mut(32);
    for (i, c) in (&mut chunks).enumerate() {
        xor32(c.try_into().expect("chunks of 32 bytes"), 32 * i);
    }
    let done = data.len() / 32 * 32;
    let rest = &mut data[done..];
    if !rest.is_empty() {
        let mut buf = [0u8; 32];
        buf[..rest.len()].copy_from_slice(rest);
        xor32(&mut buf, done);
        rest.copy_from_slice(&buf[..rest.len()]);
    }
}

/// [`shuffle3`] one pixel at a time.
fn shuffle3_portable(data: &mut [u8], codes: &[u8], sh: &Shuffle3) {
    for (px, &k) in data.chunks_exact_mut(3).zip(codes) {
        let row = sh.table[usize::from(k)];
        let v = [px[0], px[1], px[2]];
        for (o, &t) in px.iter_mut().zip(&row) {
            *o = v[usize::from(t)];
        }
    }
}

/// The first part of [`shuffle3_avx2`]: two groups of five pixels (in the two 128-bit lanes)
/// per step while 16 codes remain, the controls computed from the codes in registers: each
/// code spread to its pixel's three bytes, then two table `pshufb`s whose indices are offset so
/// that each fills only its own bytes (the others index with the top bit set, which gives 0):
/// `t[k][0]` and `t[k][1]` from [`Shuffle3::t01`] (index `k`, `6 + k`), `t[k][2]` from
/// [`Shuffle3::t2`]; their sum plus each byte's pixel offset is the control. (Computing
/// `t[k][2]` as `3 − t[k][0] − t[k][1]` with byte shifts and a blend took three operations
/// more: with the two lookups fixed-key `pe` ran 1.06× faster, per-image `pe` 1.01×.)
/// Returns the number of pixels done (a multiple of 10). As in [`shuffle3_avx2`], each pair
/// of groups is loaded before the previous pair is stored.
///
/// With `NP` also [`xor_bits`] by `bits` (byte `k` of `data` takes bit `k`), in the same pass:
/// before the shuffle when `xor_first`, after it otherwise. Byte 15 of a group, which the
/// group stores back unchanged, is never XORed there (its own group does it). Without `NP`,
/// `bits` and `xor_first` are ignored.
///
/// # Safety
/// The CPU must support AVX2; `data.len() == 3·codes.len()`; with `NP`, `bits` covers `data`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn shuffle3_pairs_avx2<const NP: bool>(
    data: &mut [u8],
    codes: &[u8],
    sh: &Shuffle3,
    bits: &[u8],
    xor_first: bool,
) -> usize {
    let n = codes.len();
    // Checked (not only in debug builds): the unchecked loads and stores below rely on it.
    assert_eq!(data.len(), 3 * n, "one code per 3-byte pixel");
    if n < 16 {
        return 0;
    }
    const X: i8 = -128;
    // Byte 3p + c of lane l takes code 5l + p (byte 15: none).
    let expand = _mm256_setr_epi8(
        0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, X, 5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9,
        9, X,
    );
    // Table indices: `k` (byte 0 of a pixel) or `6 + k` (byte 1) into `t01`, `k` (byte 2)
    // into `t2`, the top bit set elsewhere (the lookup gives 0 there), byte 15 included (its
    // spread code is 0).
    let off_a = _mm256_setr_epi8(
        0, 6, X, 0, 6, X, 0, 6, X, 0, 6, X, 0, 6, X, X, 0, 6, X, 0, 6, X, 0, 6, X, 0, 6, X, 0, 6,
        X, X,
    );
    let off_b = _mm256_setr_epi8(
        X, X, 0, X, X, 0, X, X, 0, X, X, 0, X, X, 0, X, X, X, 0, X, X, 0, X, X, 0, X, X, 0, X, X,
        0, X,
    );
    let base = _mm256_setr_epi8(
        0, 0, 0, 3, 3, 3, 6, 6, 6, 9, 9, 9, 12, 12, 12, 15, 0, 0, 0, 3, 3, 3, 6, 6, 6, 9, 9, 9, 12,
        12, 12, 15,
    );
    // SAFETY: `sh.t01` is a 16-byte array; unaligned load.
    let t01 = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(sh.t01.as_ptr().cast()) });
    // SAFETY: `sh.t2` is a 16-byte array; unaligned load.
    let t2 = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(sh.t2.as_ptr().cast()) });
    // The two groups from pixel g: bytes 3g..3g + 16 and 3g + 15..3g + 31. The loop runs
    // while g + 16 ≤ n, so bytes 3g..3g + 48 of `data` and codes g..g + 16 exist: the loads
    // and stores below are in bounds without a check of their own.
    let (dp, cp) = (data.as_mut_ptr(), codes.as_ptr());
    let mut g = 0;
    // SAFETY: n ≥ 16 (checked above): bytes 0..31 of `data` exist.
    let mut v = unsafe { _mm256_loadu2_m128i(dp.add(15).cast(), dp.cast()) };
    loop {
        // SAFETY: codes g..g + 16 exist (loop invariant).
        let k = _mm256_shuffle_epi8(
            _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(cp.add(g).cast()) }),
            expand,
        );
        let a = _mm256_shuffle_epi8(t01, _mm256_add_epi8(k, off_a));
        let b = _mm256_shuffle_epi8(t2, _mm256_add_epi8(k, off_b));
        let ctrl = _mm256_add_epi8(_mm256_add_epi8(a, b), base);
        let out = if NP {
            // Bits 3g..3g + 15 for lane 0's bytes 0..15, bits 3g + 15..3g + 30 for lane 1's
            // (the groups' bytes 15, bit 15 of each half: 0): one 8-byte load away from the
            // end of `bits`.
            let (byte, shift) = (3 * g / 8, 3 * g % 8);
            let w = match bits.get(byte..byte + 8) {
                Some(w) => u64::from_le_bytes(w.try_into().expect("8 bytes")) >> shift,
                None => bits_at(bits, 3 * g),
            };
            let m = bit_bytes(((w & 0x7FFF) | ((w >> 15) & 0x7FFF) << 16) as u32);
            if xor_first {
                _mm256_shuffle_epi8(_mm256_xor_si256(v, m), ctrl)
            } else {
                _mm256_xor_si256(_mm256_shuffle_epi8(v, ctrl), m)
            }
        } else {
            _mm256_shuffle_epi8(v, ctrl)
        };
        let next = g + 10;
        let more = next + 16 <= n;
        if more {
            // SAFETY: next + 16 ≤ n: bytes 3·next..3·next + 48 exist.
            v = unsafe {
                _mm256_loadu2_m128i(dp.add(3 * next + 15).cast(), dp.add(3 * next).cast())
            };
        }
        // SAFETY: bytes 3g..3g + 31 exist (loop invariant); unaligned stores, the second
        // after the first (its byte 0 is the first's byte 15).
        unsafe {
            _mm_storeu_si128(dp.add(3 * g).cast(), _mm256_castsi256_si128(out));
            _mm_storeu_si128(
                dp.add(3 * g + 15).cast(),
                _mm256_extracti128_si256::<1>(out),
            );
        }
        g = next;
        if !more {
            return g;
        }
    }
}

/// [`shuffle3`] with AVX-512 VBMI: 21 pixels (63 bytes) per 64-byte load, `vpermb` and store
/// (in place, left to right: byte 63 is the next group's byte 0 and is stored back unchanged;
/// each group is loaded before the previous one is stored), the control computed from the 21
/// codes in registers (`vpermb` spreads each code to its three bytes, a second one looks up
/// `t[k][c]`); the last pixels by one masked load and store. With `np = Some((bits,
/// xor_first))` also [`xor_bits`] by `bits` in the same pass: before the shuffle
/// (`xor_first`, encryption) or after it (decryption), as [`xor_shuffle3`]. Codes of 6 or more select zero bytes or wrong
/// rows (as in [`shuffle3`]'s preconditions), never bytes outside the group.
///
/// # Safety
/// The CPU must support AVX-512 F, BW, VL and VBMI; `data.len() == 3·codes.len()`; with
/// `np`, `bits` covers `data`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi")]
unsafe fn shuffle3_avx512(data: &mut [u8], codes: &[u8], sh: &Shuffle3, np: Option<(&[u8], bool)>) {
    /// Byte `q < 63` of a group: pixel `q / 3`, channel `q % 3`; byte 63 keeps its place.
    /// `[EXPAND, CHAN, BASE]`: the pixel of byte `q` (its code's index), the table offset
    /// `6·c` of its channel (byte 63: 32, an entry that is 0), its pixel's first byte.
    const GROUP: [[u8; 64]; 3] = {
        let mut g = [[0u8; 64]; 3];
        let mut q = 0;
        while q < 63 {
            g[0][q] = (q / 3) as u8;
            g[1][q] = (6 * (q % 3)) as u8;
            g[2][q] = (3 * (q / 3)) as u8;
            q += 1;
        }
        g[1][63] = 32;
        g[2][63] = 63;
        g
    };
    let [expand, chan, base] = &GROUP;
    let len = data.len();
    // Table index of t[k][c]: 6·c + k (entries 18.. are 0).
    let mut table = [0u8; 64];
    for (k, row) in sh.table.iter().enumerate() {
        for (c, &t) in row.iter().enumerate() {
            table[6 * c + k] = t;
        }
    }
    // SAFETY: the four arrays are 64 bytes long; unaligned loads.
    let (expand, chan, base, table) = unsafe {
        (
            _mm512_loadu_si512(expand.as_ptr().cast()),
            _mm512_loadu_si512(chan.as_ptr().cast()),
            _mm512_loadu_si512(base.as_ptr().cast()),
            _mm512_loadu_si512(table.as_ptr().cast()),
        )
    };
    let load64 = |data: &[u8], at: usize| {
        let s = &data[at..at + 64];
        // SAFETY: `s` is 64 bytes long (sliced above); unaligned load.
        unsafe { _mm512_loadu_si512(s.as_ptr().cast()) }
    };
    // The group's pixel codes (`r ≤ 21` of them from pixel `g`) → its `vpermb` control.
    let control = |g: usize, r: usize| {
        let k = &codes[g..g + r];
        // SAFETY: `k` is `r ≤ 21` bytes long (sliced above) and the mask loads bytes 0..r
        // only.
        let k = unsafe { _mm512_maskz_loadu_epi8((1u64 << r) - 1, k.as_ptr().cast()) };
        let k3 = _mm512_permutexvar_epi8(expand, k);
        let sel = _mm512_permutexvar_epi8(_mm512_add_epi8(k3, chan), table);
        _mm512_add_epi8(sel, base)
    };
    // The group's NP bytes (`0xFF` where the key bit of the byte is 1; `n ≤ 63` bytes from
    // byte `at`), and whether they are XORed before the shuffle (encryption) or after it.
    // (Without NP bits the mask is zero and the XOR's side does not matter.)
    let xor_first = np.is_some_and(|(_, first)| first);
    let np_mask = |at: usize, n: usize| match np {
        Some((bits, _)) => _mm512_movm_epi8(bits_at(bits, at) & ((1u64 << n) - 1)),
        None => _mm512_setzero_si512(),
    };
    let apply = |v: __m512i, ctrl: __m512i, m: __m512i| {
        if xor_first {
            _mm512_permutexvar_epi8(ctrl, _mm512_xor_si512(v, m))
        } else {
            _mm512_xor_si512(_mm512_permutexvar_epi8(ctrl, v), m)
        }
    };
    let mut g = 0;
    if 64 <= len {
        let mut v = load64(data, 0);
        loop {
            let out = apply(v, control(g, 21), np_mask(3 * g, 63));
            let next = g + 21;
            let more = 3 * next + 64 <= len;
            if more {
                v = load64(data, 3 * next);
            }
            let d = &mut data[3 * g..3 * g + 64];
            // SAFETY: `d` is 64 bytes long (sliced above); unaligned store.
            unsafe { _mm512_storeu_si512(d.as_mut_ptr().cast(), out) };
            g = next;
            if !more {
                break;
            }
        }
    }
    // The last (at most 21) pixels: masked load and store of their bytes.
    let r = codes.len() - g;
    if r > 0 {
        debug_assert!(r <= 21, "fewer than 64 bytes left");
        let keep = (1u64 << (3 * r)) - 1;
        let d = &mut data[3 * g..3 * (g + r)];
        // SAFETY: `d` is `3r ≤ 63` bytes long (sliced above) and the mask loads bytes
        // `0..3r` only.
        let v = unsafe { _mm512_maskz_loadu_epi8(keep, d.as_ptr().cast()) };
        let out = apply(v, control(g, r), np_mask(3 * g, 3 * r));
        // SAFETY: as the load: the mask stores bytes `0..3r` of `d` only.
        unsafe { _mm512_mask_storeu_epi8(d.as_mut_ptr().cast(), keep, out) };
    }
}

/// Key bits `at..at + 64` of `bits` (bit `k` is bit `k mod 8` of byte `⌊k/8⌋`, least
/// significant first) as one word, bit `at` first; bits past the end of `bits` are 0.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline]
fn bits_at(bits: &[u8], at: usize) -> u64 {
    let (byte, shift) = (at / 8, at % 8);
    // `shift < 8`: the ninth byte supplies the top `shift` bits.
    let join = |lo: u64, ninth: u8| (lo >> shift) | (u64::from(ninth) << 1 << (63 - shift));
    if let Some(w) = bits.get(byte..byte + 9) {
        // One 8-byte load and one byte (the common case, away from the end).
        let lo = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        return join(lo, w[8]);
    }
    let mut w = [0u8; 9];
    let rest = bits.get(byte..).unwrap_or(&[]);
    w[..rest.len()].copy_from_slice(rest);
    join(
        u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]),
        w[8],
    )
}

/// [`shuffle3`], five pixels per 16-byte load and store (in place, left to right: byte 15 of
/// a group is the next group's byte 0 and is stored back unchanged), the tail portably. Each
/// group is loaded before the previous group is stored, so no load waits on the overlapping
/// store (a store-forwarding stall).
///
/// # Safety
/// The CPU must support AVX2 (SSSE3 `pshufb` under VEX); `data.len() == 3·codes.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn shuffle3_avx2(data: &mut [u8], codes: &[u8], sh: &Shuffle3) {
    let len = data.len();
    let mut g = shuffle3_pairs_avx2::<false>(data, codes, sh, &[], false);
    if 3 * g + 16 <= len {
        let mut v = load16(data, 3 * g);
        loop {
            let k = &codes[g..g + 5];
            let (i01, i23) = (
                6 * usize::from(k[0]) + usize::from(k[1]),
                6 * usize::from(k[2]) + usize::from(k[3]),
            );
            let lo = sh.pair01[i01] | sh.pair23[i23] << 48;
            let hi = sh.pair23[i23] >> 16 | sh.single4[usize::from(k[4])] << 32;
            let out = _mm_shuffle_epi8(v, _mm_set_epi64x(hi as i64, lo as i64));
            let next = 3 * (g + 5);
            let more = next + 16 <= len;
            if more {
                v = load16(data, next);
            }
            let d = &mut data[3 * g..3 * g + 16];
            // SAFETY: `d` is 16 bytes long (sliced above); unaligned store.
            unsafe { _mm_storeu_si128(d.as_mut_ptr().cast(), out) };
            g += 5;
            if !more {
                break;
            }
        }
    }
    shuffle3_portable(&mut data[3 * g..], &codes[g..], sh);
}

// ---------------------------------------------------------------------------------------------
// Row gathers shared by the block kernels

/// Whether a block of `b×b` pixels of `c` channels has rows (`b·c` bytes) the `pshufb` block
/// kernels handle: 8 to 16 bytes (a row is one 16-byte load; a block has at most 16 rows).
pub(crate) fn simd_rows(b: usize, c: usize) -> bool {
    (8..=16).contains(&(b * c))
}

/// Zero bytes a source copy needs after the image for the block kernels' 16-byte row loads.
pub(crate) const ROW_PAD: usize = 16;

/// Whether rows `0..4` of every 4×4 RGB block (first bytes `bases`, rows `stride` apart) lie
/// in a buffer of `len` bytes when each row is read or written `width` bytes from its start:
/// the one check of the kernels that then move rows without one of their own.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn rows_fit(bases: &[u32], stride: usize, width: usize, len: usize) -> bool {
    // The largest base decides (a max the compiler vectorises, where `all` tested base by
    // base); no blocks fit any buffer.
    let top = bases.iter().map(|&b| b as usize).max();
    top.is_none_or(|top| top + 3 * stride + width <= len)
}

/// Stores bytes `0..12` of `v` at `q`: an 8-byte and a 4-byte store.
///
/// # Safety
/// The CPU must support SSE4.1 (implied by AVX2); `q..q + 12` is writable.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn store12(q: *mut u8, v: __m128i) {
    // SAFETY: as this function's contract; unaligned stores.
    unsafe {
        _mm_storel_epi64(q.cast(), v);
        q.add(8)
            .cast::<i32>()
            .write_unaligned(_mm_extract_epi32::<2>(v));
    }
}

/// Stores bytes `0..rb` of `v` at `dst[..rb]` (`rb = dst.len()`, `8 ≤ rb ≤ 16`) as two
/// overlapping 8-byte stores; `tail` moves bytes `rb−8..rb` of a vector to its bytes `0..8`.
///
/// # Safety
/// The CPU must support AVX2. (`8 ≤ dst.len() ≤ 16`, which the stores rely on, is checked
/// here.)
///
/// # Panics
/// If `dst` is not 8 to 16 bytes long.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn store_row(dst: &mut [u8], v: __m128i, tail: __m128i) {
    let rb = dst.len();
    // Checked (not only in debug builds): the stores below rely on it.
    assert!((8..=16).contains(&rb), "rows of 8 to 16 bytes");
    let p = dst.as_mut_ptr();
    if rb == 12 {
        // SAFETY: AVX2 (this function's contract); `dst` has 12 bytes.
        unsafe { store12(p, v) };
        return;
    }
    // SAFETY: `dst` has `rb` bytes with `8 ≤ rb ≤ 16` (asserted at the top), so bytes `0..8`
    // and `rb−8..rb` are inside it; unaligned stores.
    unsafe {
        _mm_storel_epi64(p.cast(), v);
        _mm_storel_epi64(p.add(rb - 8).cast(), _mm_shuffle_epi8(v, tail));
    }
}

/// The `pshufb` control that moves bytes `rb−8..rb` to bytes `0..8` (see [`store_row`]).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn tail_ctrl(rb: usize) -> __m128i {
    assert!(
        (8..=16).contains(&rb),
        "rows of 8 to 16 bytes (a built plan)"
    );
    _mm_add_epi8(
        _mm_setr_epi8(
            0, 1, 2, 3, 4, 5, 6, 7, -128, -128, -128, -128, -128, -128, -128, -128,
        ),
        _mm_setr_epi8(
            (rb - 8) as i8,
            (rb - 8) as i8,
            (rb - 8) as i8,
            (rb - 8) as i8,
            (rb - 8) as i8,
            (rb - 8) as i8,
            (rb - 8) as i8,
            (rb - 8) as i8,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ),
    )
}

/// Loads the 16 bytes at `src[at..at + 16]`.
///
/// # Safety
/// The CPU must support AVX2.
///
/// # Panics
/// If `src` is shorter than `at + 16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load16(src: &[u8], at: usize) -> __m128i {
    let s = &src[at..at + 16];
    // SAFETY: `s` is 16 bytes long (sliced above); unaligned load.
    unsafe { _mm_loadu_si128(s.as_ptr().cast()) }
}

/// The row of `rb` bytes at `src[at..at + rb]` (`8 ≤ rb ≤ 16`) in bytes `0..rb` of a vector,
/// for the in-place block kernels: exactly the row's bytes are read (8-byte loads at `0` and
/// `rb − 8` put together by `head` = [`head_ctrl`]`(rb)`; 8 + 4 bytes for rows of 12), so a
/// load never reaches a neighbouring block that was just written (a 16-byte load overlapping
/// a recent row store cannot take its data from the store buffer and waits for it) nor past
/// the image. Bytes `rb..16` are unspecified (the kernels ignore them).
///
/// # Safety
/// The CPU must support AVX2.
///
/// # Panics
/// If `src` is shorter than `at + rb`, or `rb` is not 8..=16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_row(src: &[u8], at: usize, rb: usize, head: __m128i) -> __m128i {
    // Checked (not only in debug builds): the loads below rely on it.
    assert!((8..=16).contains(&rb), "rows of 8 to 16 bytes");
    let p = src[at..at + rb].as_ptr();
    if rb == 12 {
        // SAFETY: the row has 12 bytes (sliced above): bytes 0..8 and 8..12; unaligned loads.
        return unsafe {
            _mm_insert_epi32::<2>(
                _mm_loadl_epi64(p.cast()),
                p.add(8).cast::<i32>().read_unaligned(),
            )
        };
    }
    // SAFETY: the row has `rb` bytes with `8 ≤ rb ≤ 16` (sliced and asserted above): bytes
    // `0..8` and `rb−8..rb`; unaligned loads.
    let (lo, hi) = unsafe {
        (
            _mm_loadl_epi64(p.cast()),
            _mm_loadl_epi64(p.add(rb - 8).cast()),
        )
    };
    _mm_shuffle_epi8(_mm_unpacklo_epi64(lo, hi), head)
}

/// The `pshufb` control of [`load_row`] for rows of `rb` bytes: byte `p < 8` from byte `p`,
/// byte `8 ≤ p < rb` from byte `p + 16 − rb` (the second load's), zero after the row.
///
/// # Safety
/// The CPU must support AVX2.
///
/// # Panics
/// If `rb` is not 8..=16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn head_ctrl(rb: usize) -> __m128i {
    assert!((8..=16).contains(&rb), "rows of 8 to 16 bytes");
    let c: [u8; 16] = std::array::from_fn(|p| match p {
        0..8 => p as u8,
        _ if p < rb => (p + 16 - rb) as u8,
        _ => 0x80,
    });
    load16(&c, 0)
}

// ---------------------------------------------------------------------------------------------
// EtC

/// EtC's block moves as row gathers, for one block side `b` and channel count `c` with
/// [`simd_rows`]`(b, c)`, plus the byte maps of the portable path.
///
/// A *variant* is a direction (encrypt, decrypt), an orientation `o ∈ 0..8` and a colour code
/// `k` (`0..6` for 3 channels, `0` otherwise): index `(dir·8 + o)·codes + k`. Its byte map
/// `map[t]` gives, for byte `t = r·rb + p` of the destination block (`rb = b·c` bytes a row),
/// the source block's byte `map[t]` in the same coordinates; its control `ctrl[s][r]` holds,
/// for source row `s` and destination row `r`, the bytes of `s` that row `r` takes (`0x80`
/// elsewhere; rows `r`, `r + 1` of one source row are adjacent: one 32-byte control).
///
/// Invariant: `map` has `variants·b²·c` entries, each below `b²·c`; `ctrl` has
/// `variants·b·b` controls whose non-`0x80` bytes are below `rb` (both public: no key).
pub(crate) struct BlockTables {
    b: usize,
    c: usize,
    codes: usize,
    map: Vec<u16>,
    ctrl: Vec<[u8; 16]>,
    /// For blocks of at most four rows ([`wide_rows`]): per variant, the `vpermb` control of
    /// the whole block held in one 512-bit register, row `r` in its 128-bit lane `r` (byte
    /// `16·r + p` is byte `p` of row `r`): destination byte `16·r + p` takes source byte
    /// `16·s + q` (`map`'s `r·rb + p ← s·rb + q`); bytes `p ≥ rb` are 0. Empty otherwise.
    ctrl64: Vec<[u8; 64]>,
}

/// Whether blocks of `b` rows of `rb` bytes fit the AVX-512 block kernels: one 128-bit lane a
/// row (`8 ≤ rb ≤ 16`, as [`simd_rows`]), at most four rows (one 512-bit register).
pub(crate) fn wide_rows(b: usize, rb: usize) -> bool {
    (2..=4).contains(&b) && (8..=16).contains(&rb)
}

impl BlockTables {
    /// The tables of `b×b` blocks of `c` channels, or `None` unless [`simd_rows`]`(b, c)`.
    pub(crate) fn new(b: usize, c: usize) -> Option<Self> {
        if !simd_rows(b, c) {
            return None;
        }
        let rb = b * c;
        let d = b * rb;
        let codes = if c == 3 { 6 } else { 1 };
        let variants = 2 * 8 * codes;
        let mut map = vec![0u16; variants * d];
        for o in 0..8u8 {
            for (k, t1) in TABLE1.iter().enumerate().take(codes) {
                let enc = usize::from(o) * codes + k;
                let dec = (8 + usize::from(o)) * codes + k;
                // Grey or other channel counts: channels stay in place.
                let row = if c == 3 { *t1 } else { [0, 1, 2] };
                for r in 0..b {
                    for col in 0..b {
                        let (r2, c2) = crate::etc::orient_source(o, b, r, col);
                        for (ch, &sc) in row.iter().enumerate().take(c) {
                            let src_ch = usize::from(sc);
                            let t = r * rb + col * c + ch;
                            let f = r2 * rb + c2 * c + src_ch;
                            // t, f < b·rb ≤ 16·16: they fit u16.
                            map[enc * d + t] = f as u16;
                            map[dec * d + f] = t as u16;
                        }
                    }
                }
            }
        }
        let mut ctrl = vec![[0x80u8; 16]; variants * b * b];
        for v in 0..variants {
            for t in 0..d {
                let f = usize::from(map[v * d + t]);
                let (r, p) = (t / rb, t % rb);
                let (s, q) = (f / rb, f % rb);
                ctrl[(v * b + s) * b + r][p] = q as u8;
            }
        }
        let mut ctrl64 = Vec::new();
        if wide_rows(b, rb) {
            ctrl64 = vec![[0u8; 64]; variants];
            for (v, c64) in ctrl64.iter_mut().enumerate() {
                for t in 0..d {
                    let f = usize::from(map[v * d + t]);
                    // r, s < 4 and p, q < 16: below 64.
                    c64[16 * (t / rb) + t % rb] = (16 * (f / rb) + f % rb) as u8;
                }
            }
        }
        Some(Self {
            b,
            c,
            codes,
            map,
            ctrl,
            ctrl64,
        })
    }

    /// The variant of direction `encrypt`, orientation `o` (`< 8`) and colour code `k`
    /// (`< 6` for 3 channels, `0` otherwise).
    ///
    /// An out-of-range `o` or `k` (a broken key) gives unspecified output: another variant, or
    /// a panic when the index passes the tables' end; never undefined behaviour (the kernels
    /// slice the tables with bounds checks).
    #[inline]
    fn variant(&self, encrypt: bool, o: u8, k: u8) -> usize {
        debug_assert!(
            o < 8 && usize::from(k) < self.codes,
            "orientation and code in range"
        );
        let dir = usize::from(!encrypt);
        (dir * 8 + usize::from(o)) * self.codes + usize::from(k)
    }
}

/// One EtC image's key, indexed by output block position `i` (see [`crate::etc`]).
pub(crate) struct EtcBlockKey<'a> {
    /// Output block `i` takes input block `perm[i]` (a permutation of `0..n`).
    pub perm: &'a [u32],
    /// Orientations `< 8`.
    pub orient: &'a [u8],
    /// NP bits, least significant first (`⌈n/8⌉` bytes).
    pub np: &'a [u8],
    /// Colour codes `< 6` (3 channels) or empty.
    pub codes: &'a [u8],
}

/// EtC's block move of one image with tables `t`: for every block `i` (top-left bytes `bases`,
/// row-major), encryption writes output block `i` from input block `perm[i]`, decryption the
/// reverse. `src` is a copy of the image with [`ROW_PAD`] zero bytes before and after it;
/// `out` (the image) receives the result; `stride` is the image row (`W·C` bytes).
///
/// # Panics
/// If the key does not fit the blocks (indexing), or `src` is not `out.len() + 2·ROW_PAD` bytes.
pub(crate) fn etc_blocks(
    t: &BlockTables,
    src: &[u8],
    out: &mut [u8],
    stride: usize,
    bases: &[u32],
    key: &EtcBlockKey<'_>,
    encrypt: bool,
) {
    assert_eq!(src.len(), out.len() + 2 * ROW_PAD, "padded source copy");
    #[cfg(target_arch = "x86_64")]
    if has_avx512() && !t.ctrl64.is_empty() {
        // SAFETY: AVX-512 F, BW, VL, VBMI and VBMI2 support was just checked; `src` is padded
        // (asserted above); the tables have the wide controls.
        unsafe {
            match (t.b, t.b * t.c) {
                (4, 12) => etc_blocks_avx512::<4, 12>(t, src, out, stride, bases, key, encrypt),
                (4, _) => etc_blocks_avx512::<4, 0>(t, src, out, stride, bases, key, encrypt),
                _ => etc_blocks_avx512::<0, 0>(t, src, out, stride, bases, key, encrypt),
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        if t.b == 4 && t.c == 3 {
            // SAFETY: AVX2 support was just checked; `src` is padded (asserted above); the
            // tables are of 4×4 RGB blocks.
            unsafe { etc_blocks_4x12_avx2(t, src, out, stride, bases, key, encrypt) };
        } else if t.b == 4 {
            // SAFETY: AVX2 support was just checked; `src` is padded (asserted above); `B`
            // is the tables' block side.
            unsafe { etc_blocks_avx2::<4>(t, src, out, stride, bases, key, encrypt) };
        } else {
            // SAFETY: as above, with the block side read from the tables (`B = 0`).
            unsafe { etc_blocks_avx2::<0>(t, src, out, stride, bases, key, encrypt) };
        }
        return;
    }
    etc_blocks_portable(t, src, out, stride, bases, key, encrypt);
}

/// The (destination base, source base, variant, NP mask) of block `i`.
#[inline(always)]
fn etc_block(
    t: &BlockTables,
    bases: &[u32],
    key: &EtcBlockKey<'_>,
    i: usize,
    encrypt: bool,
) -> (usize, usize, usize, u8) {
    let (ob, ib) = (bases[i] as usize, bases[key.perm[i] as usize] as usize);
    let k = if t.c == 3 { key.codes[i] } else { 0 };
    let v = t.variant(encrypt, key.orient[i], k);
    let m = 0u8.wrapping_sub((key.np[i / 8] >> (i % 8)) & 1);
    if encrypt {
        (ob, ib, v, m)
    } else {
        (ib, ob, v, m)
    }
}

/// [`etc_blocks`] through the byte maps.
fn etc_blocks_portable(
    t: &BlockTables,
    src: &[u8],
    out: &mut [u8],
    stride: usize,
    bases: &[u32],
    key: &EtcBlockKey<'_>,
    encrypt: bool,
) {
    let rb = t.b * t.c;
    let d = t.b * rb;
    let at = |base: usize, x: usize| base + (x / rb) * stride + x % rb;
    for i in 0..bases.len() {
        let (db, sb, v, m) = etc_block(t, bases, key, i, encrypt);
        for (x, &f) in t.map[v * d..(v + 1) * d].iter().enumerate() {
            out[at(db, x)] = src[ROW_PAD + at(sb, usize::from(f))] ^ m;
        }
    }
}

/// [`etc_blocks`]: per block, `b` row loads (each broadcast to both 128-bit lanes), `b²/2`
/// 256-bit `pshufb` (two destination rows at a time), `b` row stores.
///
/// `B` is the block side known at compile time (so a 4×4 block's rows stay in registers), or
/// `0` to read it from `t`.
///
/// # Safety
/// The CPU must support AVX2; `src.len() == out.len() + 2·ROW_PAD`; `B` is `0` or `t.b`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn etc_blocks_avx2<const B: usize>(
    t: &BlockTables,
    src: &[u8],
    out: &mut [u8],
    stride: usize,
    bases: &[u32],
    key: &EtcBlockKey<'_>,
    encrypt: bool,
) {
    let b = if B == 0 { t.b } else { B };
    debug_assert_eq!(b, t.b);
    let rb = b * t.c;
    let tail = tail_ctrl(rb);
    let mut rows = [_mm256_setzero_si256(); 16];
    for i in 0..bases.len() {
        let (db, sb, v, m) = etc_block(t, bases, key, i, encrypt);
        let mask = _mm256_set1_epi8(m as i8);
        for (s, row) in rows[..b].iter_mut().enumerate() {
            *row = _mm256_broadcastsi128_si256(load16(src, ROW_PAD + sb + s * stride));
        }
        let ctrl = &t.ctrl[v * b * b..(v + 1) * b * b];
        let mut r = 0;
        while r < b {
            let mut acc = mask;
            if r + 1 < b {
                for (s, row) in rows[..b].iter().enumerate() {
                    let c = &ctrl[s * b + r..s * b + r + 2];
                    // SAFETY: `c` is two adjacent 16-byte arrays (32 bytes); unaligned load.
                    let c = unsafe { _mm256_loadu_si256(c.as_ptr().cast()) };
                    acc = _mm256_xor_si256(acc, _mm256_shuffle_epi8(*row, c));
                }
                let o = db + (r + 1) * stride;
                store_row(&mut out[o..o + rb], _mm256_extracti128_si256(acc, 1), tail);
            } else {
                for (s, row) in rows[..b].iter().enumerate() {
                    // SAFETY: the control is a 16-byte array; unaligned load.
                    let c = unsafe { _mm_loadu_si128(ctrl[s * b + r].as_ptr().cast()) };
                    let x = _mm_shuffle_epi8(_mm256_castsi256_si128(*row), c);
                    acc = _mm256_xor_si256(acc, _mm256_castsi128_si256(x));
                }
            }
            let o = db + r * stride;
            store_row(&mut out[o..o + rb], _mm256_castsi256_si128(acc), tail);
            r += 2;
        }
    }
}

/// [`etc_blocks_avx2`] for 4×4 RGB blocks (rows of 12 bytes), with every block's rows checked
/// to lie inside `src` and `out` once, before the loop: a block then costs its key's scalar
/// reads, 4 row loads, 8 controls, 8 `pshufb` and 8 stores, with no check of its own.
///
/// # Safety
/// The CPU must support AVX2; `src.len() == out.len() + 2·ROW_PAD`; `t.b == 4`, `t.c == 3`.
///
/// # Panics
/// If a block does not fit the image, or the key does not fit the blocks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn etc_blocks_4x12_avx2(
    t: &BlockTables,
    src: &[u8],
    out: &mut [u8],
    stride: usize,
    bases: &[u32],
    key: &EtcBlockKey<'_>,
    encrypt: bool,
) {
    assert!(t.b == 4 && t.c == 3, "4×4 RGB blocks");
    // Checked (not only in debug builds): the unchecked loads and stores below rely on it.
    // Row r of a block at `base` is out[base + r·stride..][..12] and, padded,
    // src[ROW_PAD + base + r·stride..][..16] (ROW_PAD ≥ 4 bytes follow the image in `src`).
    assert!(
        src.len() == out.len() + 2 * ROW_PAD && rows_fit(bases, stride, 12, out.len()),
        "blocks inside the image"
    );
    let (sp, op) = (src.as_ptr().wrapping_add(ROW_PAD), out.as_mut_ptr());
    let ctrl: &[[[u8; 16]; 16]] = t.ctrl.as_chunks::<16>().0;
    for i in 0..bases.len() {
        let (db, sb, v, m) = etc_block(t, bases, key, i, encrypt);
        let c = &ctrl[v];
        let mask = _mm256_set1_epi8(m as i8);
        // SAFETY: sb is one of `bases` (checked above): rows 0..4, 16 bytes each, lie in `src`.
        let row = |s: usize| unsafe {
            _mm256_broadcastsi128_si256(_mm_loadu_si128(sp.add(sb + s * stride).cast()))
        };
        let rows = [row(0), row(1), row(2), row(3)];
        // Destination rows r and r + 1 from the 32-byte controls c[s·4 + r..][..2].
        let pair = |r: usize| {
            let mut acc = mask;
            for (s, &v) in rows.iter().enumerate() {
                // SAFETY: c[4s + r], c[4s + r + 1] (r ≤ 2) are adjacent 16-byte arrays.
                let k = unsafe { _mm256_loadu_si256(c[4 * s + r].as_ptr().cast()) };
                acc = _mm256_xor_si256(acc, _mm256_shuffle_epi8(v, k));
            }
            acc
        };
        for r in [0, 2] {
            let acc = pair(r);
            for (rr, half) in [
                (r, _mm256_castsi256_si128(acc)),
                (r + 1, _mm256_extracti128_si256::<1>(acc)),
            ] {
                // SAFETY: db is one of `bases` (checked above): its row rr's 12 bytes lie in
                // `out`.
                unsafe { store12(op.add(db + rr * stride), half) };
            }
        }
    }
}

/// The 16-byte rows `0..b` (`b ≤ 4`) at `src[at + r·stride..]` in the 128-bit lanes `r` of one
/// register (lanes `b..4` zero).
///
/// # Safety
/// The CPU must support AVX-512 F (and AVX2).
///
/// # Panics
/// If a row's 16 bytes are not inside `src`, or `b > 4`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn load_block(src: &[u8], at: usize, stride: usize, b: usize) -> __m512i {
    assert!(b <= 4, "at most four rows");
    let row = |r: usize| {
        if r < b {
            load16(src, at + r * stride)
        } else {
            _mm_setzero_si128()
        }
    };
    let v = _mm512_castsi128_si512(row(0));
    let v = _mm512_inserti32x4::<1>(v, row(1));
    let v = _mm512_inserti32x4::<2>(v, row(2));
    _mm512_inserti32x4::<3>(v, row(3))
}

/// Stores bytes `0..rb` of the 128-bit lanes `r < b` (`b ≤ 4`) of the register `v` at
/// `out[at + r·stride..]` ([`store_row`]: two 8-byte stores a row, which Zen 4 runs faster
/// than one masked store); `tail` is [`tail_ctrl`]`(rb)`. A macro, so that it is always
/// inlined into the AVX-512 kernels (as a function it was not, and passed `v` through the
/// stack); used only inside functions with AVX-512 F enabled. Panics (slicing, `store_row`)
/// if a row does not fit `out` or `rb` is not 8..=16.
#[cfg(target_arch = "x86_64")]
macro_rules! store_block {
    ($out:expr, $at:expr, $stride:expr, $b:expr, $rb:expr, $v:expr, $tail:expr) => {{
        let (at, stride, b, rb, v, tail) = ($at, $stride, $b, $rb, $v, $tail);
        // Each lane is extracted where it is stored (an array of lanes went through the stack).
        store_row(&mut $out[at..at + rb], _mm512_castsi512_si128(v), tail);
        if b > 1 {
            let o = at + stride;
            store_row(
                &mut $out[o..o + rb],
                _mm512_extracti32x4_epi32::<1>(v),
                tail,
            );
        }
        if b > 2 {
            let o = at + 2 * stride;
            store_row(
                &mut $out[o..o + rb],
                _mm512_extracti32x4_epi32::<2>(v),
                tail,
            );
        }
        if b > 3 {
            let o = at + 3 * stride;
            store_row(
                &mut $out[o..o + rb],
                _mm512_extracti32x4_epi32::<3>(v),
                tail,
            );
        }
    }};
}

/// [`etc_blocks`] with AVX-512 VBMI on blocks of at most four rows ([`wide_rows`]): per block,
/// its rows in the lanes of one register, one `vpermb` by the variant's wide control, one XOR
/// of the NP mask, masked row stores.
///
/// `B` and `R` are the block side and row length known at compile time, or `0` to read them
/// from `t`.
///
/// # Safety
/// The CPU must support AVX-512 F, BW, VL and VBMI; `src.len() == out.len() + 2·ROW_PAD`.
///
/// # Panics
/// If `B` or `R` differ from `t`'s (and are not `0`), the tables have no wide controls, or the key does not fit the blocks (indexing).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi")]
unsafe fn etc_blocks_avx512<const B: usize, const R: usize>(
    t: &BlockTables,
    src: &[u8],
    out: &mut [u8],
    stride: usize,
    bases: &[u32],
    key: &EtcBlockKey<'_>,
    encrypt: bool,
) {
    let b = if B == 0 { t.b } else { B };
    let rb = if R == 0 { t.b * t.c } else { R };
    assert!(
        b == t.b && rb == t.b * t.c && wide_rows(b, rb) && !t.ctrl64.is_empty(),
        "tables with wide controls"
    );
    let tail = tail_ctrl(rb);
    // A block's source rows (16-byte loads) and destination rows span these many bytes.
    let (src_span, dst_span) = ((b - 1) * stride + 16, (b - 1) * stride + rb);
    let n = bases.len();
    // The key's arrays cut to the blocks (so the loop indexes them without checks) and the
    // variant of orientation `o`, code `k`: `first + o·codes + k` (as `BlockTables::variant`).
    let (perm, orient) = (&key.perm[..n], &key.orient[..n]);
    let codes = if t.c == 3 { &key.codes[..n] } else { &[][..] };
    let first = usize::from(!encrypt) * 8 * t.codes;
    for (i, ((&base, &p), &o)) in bases.iter().zip(perm).zip(orient).enumerate() {
        debug_assert!(o < 8, "orientation in range");
        // Grey blocks have no colour code (their key carries none).
        let k = if t.c == 3 { codes[i] } else { 0 };
        let v = first + usize::from(o) * t.codes + usize::from(k);
        let m = 0u8.wrapping_sub((key.np[i / 8] >> (i % 8)) & 1);
        let (ob, ib) = (base as usize, bases[p as usize] as usize);
        let (db, sb) = if encrypt { (ob, ib) } else { (ib, ob) };
        // One slice each way per block: the row offsets inside are then known to fit.
        let s = &src[ROW_PAD + sb..ROW_PAD + sb + src_span];
        let blk = load_block(s, 0, stride, b);
        // SAFETY: `t.ctrl64[v]` is a 64-byte array; unaligned load.
        let ctrl = unsafe { _mm512_loadu_si512(t.ctrl64[v].as_ptr().cast()) };
        let res = _mm512_xor_si512(
            _mm512_permutexvar_epi8(ctrl, blk),
            _mm512_set1_epi8(m as i8),
        );
        let d = &mut out[db..db + dst_span];
        store_block!(d, 0, stride, b, rb, res, tail);
    }
}

// ---------------------------------------------------------------------------------------------
// LE

/// The form of a [`NibblePlan`], which decides the kernel that applies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PlanForm {
    /// `pshufb` gathers over the block's rows (`ctrl`, `xor`; [`le_blocks_avx2`]): AVX2,
    /// rows of 8 to 16 bytes.
    Shuffle,
    /// Row pairs (`pairs`; [`le_blocks_pairs_avx2`]): AVX2, 4×4 RGB blocks (`b = 4`,
    /// `rb = 12`).
    Pairs,
    /// Two-register byte permutes (`wide`; [`le_blocks_in_place_avx512`]): AVX-512 VBMI,
    /// blocks of [`wide_rows`].
    Wide,
}

/// One LE key (for one direction) as nibble gathers over a block of `b` rows of `rb = b·C`
/// bytes ([`simd_rows`]), in one of three forms ([`PlanForm`]): `pshufb` gathers over the
/// block's rows (below), the row-pair tables of 4×4 RGB blocks (`pairs`), or the AVX-512
/// tables (`wide`). In the `pshufb` form the block's `d = b·rb` bytes are `n = b` vectors (its
/// rows) of `w = rb` bytes.
///
/// For source vector `j` the kernel forms `X_j = [lo(j) | lo(j) << 4]` and
/// `Y_j = [hi(j) | hi(j) & 0xF0]` (low 128-bit lane | high lane: the vector's low and high
/// nibbles, as values and shifted into the high nibble). `ctrl[(i·n + j)·2 + {0: X, 1: Y}]`
/// (32 bytes) selects, in its low lane, the low output nibbles of destination vector `i` that
/// come from that register, in its high lane the high output nibbles; `xor[i]` holds the
/// reversal constants (`0x0F`, `0xF0`) of vector `i`.
///
/// Invariant: `ctrl` has `2·n²` controls, `xor` `n` vectors (key material: wiped by
/// [`NibblePlan::wipe`] and on drop).
#[derive(Default)]
pub(crate) struct NibblePlan {
    b: usize,
    rb: usize,
    ctrl: Vec<[u8; 32]>,
    xor: Vec<[u8; 16]>,
    /// Scratch of the AVX2 builder ([`nibble_tables_avx2`]): the source register and position
    /// of every output nibble (key material: wiped with the rest).
    src: Vec<u8>,
    /// Public layout of the current `(b, rb)`, kept between builds: nibble `q` (`< 2d`) lies in
    /// register `2·j + (q ≥ d)` at byte `pos`, where byte `q mod d` of the block is (vector
    /// `j`, position `pos`); `at[q]` = that register · 32 + `pos`.
    at: Vec<u16>,
    /// The wide form (AVX-512 VBMI, blocks of [`wide_rows`]), used instead of `ctrl` and `xor`
    /// when set: the block's rows in the 128-bit lanes of one register (byte `t = r·rb + p` at
    /// `16·r + p`), its low nibbles as table bytes `0..64` and its high nibbles as `64..128`.
    /// `wide[0]` (`wide[1]`) gives, at byte `16·r + p`, the table byte of the low (high)
    /// nibble of output byte `t`; `wide[2]` its reversal constants (`0x0F`, `0xF0`). Bytes
    /// `p ≥ rb` are 0. Key material: wiped with the rest.
    wide: Vec<[u8; 64]>,
    /// Public layout of the wide form, kept between builds: `at_wide[q]` is the table byte of
    /// nibble `q` (`< 2d`).
    at_wide: Vec<u8>,
    /// Public layout of the wide form, kept between builds: at byte `16·r + p` of
    /// `pos_wide[0]` (`[1]`) the index `t = r·rb + p` (`d + t`) of the low (high) nibble of
    /// output byte `t`; 0 at bytes `p ≥ rb`.
    pos_wide: Vec<[u8; 64]>,
    /// The row-pair form (AVX2, 4×4 RGB blocks: `b = 4`, `rb = 12`), used instead of `ctrl`
    /// and `xor` when set ([`le_blocks_pairs_avx2`]); see [`PAIR_TABLES`] for its 22 tables.
    /// Key material: wiped with the rest.
    pairs: Vec<[u8; 32]>,
    /// The `(b, rb)` that `at`, `at_wide` and `pos_wide` were built for.
    at_for: (usize, usize),
    at_wide_for: (usize, usize),
    pos_wide_for: (usize, usize),
}

impl NibblePlan {
    /// Rebuilds the plan for `b` rows of `rb` bytes from the LE permutation `ord` (`2d`
    /// nibbles, `d = b·rb`: output nibble `j` takes input nibble `ord[j]`) and reversal mask
    /// `rev` (`2d` entries): the data of [`crate::le::table_into`].
    ///
    /// # Panics
    /// If `rb` is not 8..=16, or `ord` (not a permutation of `0..2d`) or `rev` do not fit.
    pub(crate) fn build(&mut self, b: usize, rb: usize, ord: &[u32], rev: &[bool]) {
        let form = if has_avx512() && wide_rows(b, rb) {
            PlanForm::Wide
        } else if (b, rb) == (4, 12) {
            PlanForm::Pairs
        } else {
            PlanForm::Shuffle
        };
        self.build_as(form, b, rb, ord, rev);
    }

    /// [`NibblePlan::build`] in the form `form`.
    ///
    /// # Panics
    /// As [`NibblePlan::build`]; also if the form does not fit the blocks (`Wide`: not
    /// [`wide_rows`]`(b, rb)`; `Pairs`: not 4×4 RGB).
    pub(crate) fn build_as(
        &mut self,
        form: PlanForm,
        b: usize,
        rb: usize,
        ord: &[u32],
        rev: &[bool],
    ) {
        assert!((8..=16).contains(&rb), "rows of 8 to 16 bytes");
        let d = b * rb;
        assert!(ord.len() == 2 * d && rev.len() == 2 * d, "2d nibbles");
        self.wide.clear();
        self.pairs.clear();
        if form == PlanForm::Pairs {
            assert_eq!((b, rb), (4, 12), "4×4 RGB blocks");
            (self.b, self.rb) = (b, rb);
            self.ctrl.clear();
            self.xor.clear();
            self.pairs.resize(PAIR_TABLES, [0; 32]);
            pair_tables(ord, rev, &mut self.pairs);
            return;
        }
        if form == PlanForm::Wide {
            assert!(wide_rows(b, rb), "a block of at most four rows");
            if self.at_wide_for != (b, rb) {
                self.at_wide_for = (b, rb);
                self.at_wide.clear();
                for hi in 0..2 {
                    for r in 0..b {
                        for p in 0..rb {
                            // Below 128: r < 4, p < 16.
                            self.at_wide.push((64 * hi + 16 * r + p) as u8);
                        }
                    }
                }
            }
            if self.pos_wide_for != (b, rb) {
                self.pos_wide_for = (b, rb);
                self.pos_wide = vec![[0; 64]; 2];
                let mut t = 0;
                for r in 0..b {
                    for p in 16 * r..16 * r + rb {
                        // Below 128: t < d ≤ 64.
                        self.pos_wide[0][p] = t as u8;
                        self.pos_wide[1][p] = (d + t) as u8;
                        t += 1;
                    }
                }
            }
            (self.b, self.rb) = (b, rb);
            self.ctrl.clear();
            self.xor.clear();
            self.wide.resize(3, [0; 64]);
            let (at, [lo_t, hi_t, x_t]) = (&self.at_wide[..], &mut self.wide[..]) else {
                unreachable!("three tables")
            };
            #[cfg(target_arch = "x86_64")]
            if has_avx512() {
                // SAFETY: AVX-512 F, BW, VL, VBMI and VBMI2 support was just checked; `ord`,
                // `rev` and `at` have 2d ≤ 128 entries (asserted above, `wide_rows`).
                unsafe { wide_tables_avx512(ord, rev, at, &self.pos_wide, [lo_t, hi_t, x_t]) };
                return;
            }
            wide_tables_portable((b, rb), ord, rev, at, [lo_t, hi_t, x_t]);
            return;
        }
        let (n, w) = (b, rb);
        if self.at_for != (b, rb) {
            self.at_for = (b, rb);
            // Vectors of w bytes, then the high nibbles: found without dividing.
            self.at.clear();
            for hi in 0..2 {
                for j in 0..n {
                    for pos in 0..w {
                        self.at.push((((2 * j + hi) * 32) + pos) as u16);
                    }
                }
            }
        }
        (self.b, self.rb) = (b, rb);
        self.xor.clear();
        self.xor.resize(n, [0; 16]);
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // Every byte of every control is written by the builder: no fill when the size
            // is already right (the next image of a batch).
            if self.ctrl.len() != 2 * n * n {
                self.ctrl.clear();
                self.ctrl.resize(2 * n * n, [0x80; 32]);
            }
            // SAFETY: AVX2 support was just checked.
            unsafe {
                nibble_tables_avx2(
                    (n, w),
                    (ord, rev),
                    &self.at,
                    &mut self.src,
                    (&mut self.ctrl, &mut self.xor),
                );
            }
            return;
        }
        self.ctrl.clear();
        self.ctrl.resize(2 * n * n, [0x80; 32]);
        nibble_tables_portable(
            (n, w),
            (ord, rev),
            &self.at,
            (&mut self.ctrl, &mut self.xor),
        );
    }

    /// Zeroes the key-dependent tables (kept allocated for the next image).
    pub(crate) fn wipe(&mut self) {
        wipe(self.ctrl.as_flattened_mut());
        wipe(self.xor.as_flattened_mut());
        wipe(self.wide.as_flattened_mut());
        wipe(self.pairs.as_flattened_mut());
        wipe(&mut self.src);
    }
}

/// The `pshufb` controls and reversal constants of [`NibblePlan::build`] for `n` vectors of
/// `w` bytes (`d = n·w`) into `ctrl` (`2n²` controls, filled with `0x80`) and `xor` (`n`
/// zeroed vectors), one output byte at a time: `at` is the plan's layout (nibble `q` in
/// register `at[q] / 32` at byte `at[q] mod 32`), `ord`/`rev` the key (`2d` entries each).
///
/// # Panics
/// If the key or the layout do not fit (indexing).
fn nibble_tables_portable(
    (n, w): (usize, usize),
    (ord, rev): (&[u32], &[bool]),
    at: &[u16],
    (ctrl, xor): (&mut [[u8; 32]], &mut [[u8; 16]]),
) {
    let d = n * w;
    let (lo, hi) = (&ord[..d], &ord[d..]);
    let (rev_lo, rev_hi) = (&rev[..d], &rev[d..]);
    let mut t = 0;
    for i in 0..n {
        let row = &mut ctrl[i * n * 2..(i + 1) * n * 2];
        for p in 0..w {
            // Low output nibble (j = t), then high (j = d + t); branch-free flips (they are
            // random: a branch would mispredict half the time).
            let (q0, q1) = (lo[t] as usize, hi[t] as usize);
            let (a0, a1) = (usize::from(at[q0]), usize::from(at[q1]));
            row[a0 / 32][p] = (a0 % 32) as u8;
            row[a1 / 32][16 + p] = (a1 % 32) as u8;
            xor[i][p] =
                (u8::from(rev[q0] != rev_lo[t]) * 0x0F) | (u8::from(rev[q1] != rev_hi[t]) * 0xF0);
            t += 1;
        }
    }
}

/// [`nibble_tables_portable`] with AVX2, into `ctrl` (`2n²` controls, any contents: every
/// byte is written) and `xor` (`n` zeroed vectors). First, in output order (no scattered
/// stores), eight output bytes `t` at a time: the source nibbles `q = ord[t]`, `ord[d + t]`
/// (checked below `2d`), their register `2·⌊t'/w⌋ + (q ≥ d)` and position `t' mod w`
/// (`t' = q mod d`: the layout `at`, computed; `⌊t'/w⌋` by a multiply-high, exact for
/// `t' < 256`), their reversal flags `rev[q]` (a gather from a copy of `rev`) and the
/// reversal constants, into `src` (scratch, resized here); the last `d mod 8` bytes through
/// `at`. Then each control as one compare of the register numbers and one blend of the
/// positions (`0x80` elsewhere), per output vector and source register.
///
/// # Safety
/// The CPU must support AVX2.
///
/// # Panics
/// If the key or the layout do not fit (indexing), an entry of `ord` is not below `2d`, or
/// `w` is not 8..=16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn nibble_tables_avx2(
    (n, w): (usize, usize),
    (ord, rev): (&[u32], &[bool]),
    at: &[u16],
    src: &mut Vec<u8>,
    (ctrl, xor): (&mut [[u8; 32]], &mut [[u8; 16]]),
) {
    assert!((8..=16).contains(&w), "vectors of 8 to 16 bytes");
    let d = n * w;
    assert!(
        d <= 256 && ord.len() == 2 * d && rev.len() == 2 * d,
        "2d ≤ 512 nibbles"
    );
    // Five parts padded by 16 bytes (the 16-byte loads below stay inside them), then `rev`
    // as bytes padded by 4 (the 4-byte gathers stay inside it).
    let part = d + 16;
    src.clear();
    src.resize(5 * part + 2 * d + 4, 0);
    let (reg0, rest) = src.split_at_mut(part);
    let (pos0, rest) = rest.split_at_mut(part);
    let (reg1, rest) = rest.split_at_mut(part);
    let (pos1, rest) = rest.split_at_mut(part);
    let (xf, revb) = rest.split_at_mut(part);
    // SAFETY: `bool` is one byte, 0 or 1: `rev` read as its `2d` bytes.
    let rev8 = unsafe { std::slice::from_raw_parts(rev.as_ptr().cast::<u8>(), rev.len()) };
    revb[..2 * d].copy_from_slice(rev8);
    let (lo, hi) = (&ord[..d], &ord[d..]);
    let lim = _mm256_set1_epi32((2 * d - 1) as i32);
    let dd = _mm256_set1_epi32(d as i32);
    let below = _mm256_set1_epi32(d as i32 - 1);
    let magic = _mm256_set1_epi32(65536_usize.div_ceil(w) as i32);
    let wv = _mm256_set1_epi32(w as i32);
    let byte = _mm256_set1_epi32(0xFF);
    let (f_lo, f_hi) = (_mm256_set1_epi32(0x0F), _mm256_set1_epi32(0xF0));
    const X: i8 = -128;
    // Byte 0 of each 32-bit lane to bytes 0..4 of its 128-bit half.
    let pick = _mm256_setr_epi8(
        0, 4, 8, 12, X, X, X, X, X, X, X, X, X, X, X, X, 0, 4, 8, 12, X, X, X, X, X, X, X, X, X, X,
        X, X,
    );
    let narrow = |v: __m256i| {
        let b = _mm256_shuffle_epi8(v, pick);
        _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256::<1>(b))
    };
    let store8 = |dst: &mut [u8], t: usize, v: __m256i| {
        let d8 = &mut dst[t..t + 8];
        // SAFETY: `d8` is 8 bytes long (sliced above); unaligned store.
        unsafe { _mm_storel_epi64(d8.as_mut_ptr().cast(), narrow(v)) };
    };
    // Register and position of source nibble q (< 2d).
    let split = |q: __m256i| {
        let h = _mm256_cmpgt_epi32(q, below);
        let tt = _mm256_sub_epi32(q, _mm256_and_si256(h, dd));
        let j = _mm256_srli_epi32::<16>(_mm256_mullo_epi32(tt, magic));
        let pos = _mm256_sub_epi32(tt, _mm256_mullo_epi32(j, wv));
        (_mm256_sub_epi32(_mm256_add_epi32(j, j), h), pos)
    };
    let mut t = 0;
    while t + 8 <= d {
        let (l8, h8) = (&lo[t..t + 8], &hi[t..t + 8]);
        // SAFETY: `l8` and `h8` are 8 words long (sliced above); unaligned loads.
        let (q0, q1) = unsafe {
            (
                _mm256_loadu_si256(l8.as_ptr().cast()),
                _mm256_loadu_si256(h8.as_ptr().cast()),
            )
        };
        // Checked (not only in debug builds): the gathers below rely on it.
        let ok = _mm256_and_si256(
            _mm256_cmpeq_epi32(_mm256_max_epu32(q0, lim), lim),
            _mm256_cmpeq_epi32(_mm256_max_epu32(q1, lim), lim),
        );
        assert!(
            _mm256_movemask_epi8(ok) == -1,
            "the LE key is a permutation of 0..2d"
        );
        // SAFETY: every q < 2d (asserted above): the 4 bytes at `revb[q..]` lie inside `revb`
        // (2d + 4 bytes).
        let (g0, g1) = unsafe {
            (
                _mm256_i32gather_epi32::<1>(revb.as_ptr().cast(), q0),
                _mm256_i32gather_epi32::<1>(revb.as_ptr().cast(), q1),
            )
        };
        let (r8, s8) = (&rev8[t..t + 8], &rev8[d + t..d + t + 8]);
        // SAFETY: `r8` and `s8` are 8 bytes long (sliced above); unaligned loads.
        let (rt0, rt1) = unsafe {
            (
                _mm256_cvtepu8_epi32(_mm_loadl_epi64(r8.as_ptr().cast())),
                _mm256_cvtepu8_epi32(_mm_loadl_epi64(s8.as_ptr().cast())),
            )
        };
        let x = _mm256_or_si256(
            _mm256_andnot_si256(_mm256_cmpeq_epi32(_mm256_and_si256(g0, byte), rt0), f_lo),
            _mm256_andnot_si256(_mm256_cmpeq_epi32(_mm256_and_si256(g1, byte), rt1), f_hi),
        );
        let ((r0, p0), (r1, p1)) = (split(q0), split(q1));
        store8(reg0, t, r0);
        store8(pos0, t, p0);
        store8(reg1, t, r1);
        store8(pos1, t, p1);
        store8(xf, t, x);
        t += 8;
    }
    for t in t..d {
        let (q0, q1) = (lo[t] as usize, hi[t] as usize);
        let (a0, a1) = (at[q0], at[q1]);
        // Registers below 2n ≤ 32, positions below 32.
        (reg0[t], pos0[t]) = ((a0 / 32) as u8, (a0 % 32) as u8);
        (reg1[t], pos1[t]) = ((a1 / 32) as u8, (a1 % 32) as u8);
        xf[t] = (u8::from(rev[q0] != rev[t]) * 0x0F) | (u8::from(rev[q1] != rev[d + t]) * 0xF0);
    }
    for (x, f) in xor[..n].iter_mut().zip(xf.chunks_exact(w)) {
        x[..w].copy_from_slice(f);
    }
    // Bytes p < w of each lane.
    let lanes: [u8; 32] = std::array::from_fn(|k| if k % 16 < w { 0xFF } else { 0 });
    // SAFETY: `lanes` is a 32-byte array; unaligned load.
    let valid = unsafe { _mm256_loadu_si256(lanes.as_ptr().cast()) };
    let none = _mm256_set1_epi8(0x80u8 as i8);
    for (i, row) in ctrl[..2 * n * n].chunks_exact_mut(2 * n).enumerate() {
        let at = i * w;
        // Low lane: the output's low nibbles; high lane: its high nibbles.
        let regs = _mm256_set_m128i(load16(reg1, at), load16(reg0, at));
        let poss = _mm256_set_m128i(load16(pos1, at), load16(pos0, at));
        for (r, c) in row.iter_mut().enumerate() {
            let eq = _mm256_and_si256(_mm256_cmpeq_epi8(regs, _mm256_set1_epi8(r as i8)), valid);
            // SAFETY: `c` is a 32-byte array; unaligned store.
            unsafe {
                _mm256_storeu_si256(c.as_mut_ptr().cast(), _mm256_blendv_epi8(none, poss, eq))
            };
        }
    }
}

impl Drop for NibblePlan {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// The wide tables of [`NibblePlan::build`] (into zeroed arrays) for blocks of `b` rows of
/// `rb` bytes, one byte at a time.
fn wide_tables_portable(
    (b, rb): (usize, usize),
    ord: &[u32],
    rev: &[bool],
    at: &[u8],
    [lo_t, hi_t, x_t]: [&mut [u8; 64]; 3],
) {
    let d = b * rb;
    let (lo, hi) = (&ord[..d], &ord[d..]);
    let (rev_lo, rev_hi) = (&rev[..d], &rev[d..]);
    let mut t = 0;
    for r in 0..b {
        for p in 16 * r..16 * r + rb {
            let (q0, q1) = (lo[t] as usize, hi[t] as usize);
            lo_t[p] = at[q0];
            hi_t[p] = at[q1];
            x_t[p] =
                (u8::from(rev[q0] != rev_lo[t]) * 0x0F) | (u8::from(rev[q1] != rev_hi[t]) * 0xF0);
            t += 1;
        }
    }
}

/// The wide tables of [`NibblePlan::build`] with AVX-512 VBMI: `ord`, `rev` (as bytes, then
/// `0x00`/`0xFF`) and `at` as 128-byte tables in register pairs, looked up by `vpermi2b`: the
/// source nibbles `q0 = ord[t]`, `q1 = ord[d + t]` at `pos` (the output positions), then
/// `at[q]` (the tables) and `rev[q] ≠ rev[t]` (the reversal constants). Bytes outside the
/// block's rows are 0.
///
/// # Safety
/// The CPU must support AVX-512 F, BW, VL and VBMI.
///
/// # Panics
/// If `ord`, `rev` and `at` do not have the same length of at most 128 entries, or `pos` is
/// not two tables.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi")]
unsafe fn wide_tables_avx512(
    ord: &[u32],
    rev: &[bool],
    at: &[u8],
    pos: &[[u8; 64]],
    [lo_t, hi_t, x_t]: [&mut [u8; 64]; 3],
) {
    let n = ord.len();
    let [p0, p1] = pos else {
        panic!("two position tables")
    };
    assert!(
        n <= 128 && rev.len() == n && at.len() == n,
        "2d ≤ 128 nibbles"
    );
    // Bytes `0..n` of `ptr` (`n ≤ 128`) as a pair of registers, zero after them.
    let pair = |ptr: *const u8| {
        let a = n.min(64);
        let m = |k: usize| if k >= 64 { u64::MAX } else { (1u64 << k) - 1 };
        // SAFETY: the masks load bytes `0..n` of `ptr` only, which the callers give as
        // slices of `n` bytes.
        unsafe {
            (
                _mm512_maskz_loadu_epi8(m(a), ptr.cast()),
                _mm512_maskz_loadu_epi8(m(n - a), ptr.add(a).cast()),
            )
        }
    };
    // `ord` narrowed to bytes (entries below 2d ≤ 128 for a permutation).
    let mut ob = [0u8; 128];
    for (c, o) in ord.chunks(16).zip(ob.chunks_exact_mut(16)) {
        let m = ((1u32 << c.len()) - 1) as __mmask16;
        // SAFETY: the mask loads the `c.len() ≤ 16` words of `c` only; `o` is 16 bytes long;
        // unaligned store.
        unsafe {
            let v = _mm512_maskz_loadu_epi32(m, c.as_ptr().cast());
            _mm_storeu_si128(o.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(v));
        }
    }
    let (o_a, o_b) = pair(ob.as_ptr());
    let (at_a, at_b) = pair(at.as_ptr());
    // `bool` is one byte, 0 or 1: read as `u8`.
    let (rv_a, rv_b) = pair(rev.as_ptr().cast());
    let (rv_a, rv_b) = (
        _mm512_movm_epi8(_mm512_test_epi8_mask(rv_a, rv_a)),
        _mm512_movm_epi8(_mm512_test_epi8_mask(rv_b, rv_b)),
    );
    // SAFETY: `p0` and `p1` are 64-byte arrays; unaligned loads.
    let (p0, p1) = unsafe {
        (
            _mm512_loadu_si512(p0.as_ptr().cast()),
            _mm512_loadu_si512(p1.as_ptr().cast()),
        )
    };
    // The block's bytes: where `pos[1]` (d + t ≥ d > 0) is non-zero.
    let valid = _mm512_test_epi8_mask(p1, p1);
    let q0 = _mm512_permutex2var_epi8(o_a, p0, o_b);
    let q1 = _mm512_permutex2var_epi8(o_a, p1, o_b);
    let lo = _mm512_maskz_permutex2var_epi8(valid, at_a, q0, at_b);
    let hi = _mm512_maskz_permutex2var_epi8(valid, at_a, q1, at_b);
    let f0 = _mm512_xor_si512(
        _mm512_permutex2var_epi8(rv_a, q0, rv_b),
        _mm512_permutex2var_epi8(rv_a, p0, rv_b),
    );
    let f1 = _mm512_xor_si512(
        _mm512_permutex2var_epi8(rv_a, q1, rv_b),
        _mm512_permutex2var_epi8(rv_a, p1, rv_b),
    );
    // (f0 & 0x0F) | (f1 & 0xF0): a bitwise select by the constant (a ? c : b).
    let x = _mm512_maskz_mov_epi8(
        valid,
        _mm512_ternarylogic_epi32::<0xAC>(_mm512_set1_epi8(0x0F), f1, f0),
    );
    // SAFETY: the three tables are 64-byte arrays; unaligned stores.
    unsafe {
        _mm512_storeu_si512(lo_t.as_mut_ptr().cast(), lo);
        _mm512_storeu_si512(hi_t.as_mut_ptr().cast(), hi);
        _mm512_storeu_si512(x_t.as_mut_ptr().cast(), x);
    }
}

/// Applies the LE key of `plan` to every block (top-left bytes `bases`, row-major) of `image`
/// in place (no copy: each block is read whole before it is written, and blocks do not
/// overlap); `stride` is the image row (`W·C` bytes). Runs when the plan is wide and the
/// AVX-512 kernels run, or the plan is not wide and the AVX2 kernels run (the callers build
/// plans only on AVX2 CPUs); returns `false` (and leaves `image` unchanged) otherwise.
///
/// # Panics
/// If the plan was never built or a block does not fit the image.
pub(crate) fn le_blocks_in_place(
    plan: &NibblePlan,
    image: &mut [u8],
    stride: usize,
    bases: &[u32],
) -> bool {
    assert!(plan.rb >= 8, "plan built");
    #[cfg(target_arch = "x86_64")]
    if !plan.wide.is_empty() && has_avx512() {
        // SAFETY: AVX-512 F, BW, VL, VBMI and VBMI2 support was just checked; the plan is
        // wide.
        unsafe {
            if plan.b == 4 {
                le_blocks_in_place_avx512::<4>(plan, image, stride, bases);
            } else {
                le_blocks_in_place_avx512::<0>(plan, image, stride, bases);
            }
        }
        return true;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() && !plan.pairs.is_empty() {
        // SAFETY: AVX2 support was just checked; the plan is in the row-pair form.
        unsafe { le_blocks_pairs_avx2(plan, image, stride, bases) };
        return true;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() && plan.wide.is_empty() {
        // SAFETY: AVX2 support was just checked; a `pshufb` plan (its vectors are its rows).
        unsafe { le_blocks_avx2(plan, image, stride, bases) };
        return true;
    }
    let _ = (plan, image, stride, bases);
    false
}

/// [`le_blocks_in_place`] one nibble at a time from the controls (of either form), reading a
/// copy `src` of the image with [`ROW_PAD`] zero bytes before and after it into `out` (the
/// reference the kernels are tested against).
#[cfg(test)]
fn le_blocks_portable(plan: &NibblePlan, src: &[u8], out: &mut [u8], stride: usize, bases: &[u32]) {
    if let [lo_t, hi_t, x_t] = &plan.wide[..] {
        let (b, rb) = (plan.b, plan.rb);
        let mut blk = [0u8; 64];
        for &base in bases {
            let base = base as usize;
            for r in 0..b {
                let at = ROW_PAD + base + r * stride;
                blk[16 * r..16 * r + rb].copy_from_slice(&src[at..at + rb]);
            }
            let nib = |i: u8| {
                let i = usize::from(i);
                if i < 64 {
                    blk[i] & 0x0F
                } else {
                    blk[i - 64] >> 4
                }
            };
            for r in 0..b {
                let at = base + r * stride;
                for (p, o) in out[at..at + rb].iter_mut().enumerate() {
                    let q = 16 * r + p;
                    *o = (nib(lo_t[q]) | nib(hi_t[q]) << 4) ^ x_t[q];
                }
            }
        }
        return;
    }
    let (b, rb) = (plan.b, plan.rb);
    let (n, w) = (b, rb);
    let mut blk = [0u8; 256];
    let mut res = [0u8; 256];
    let d = b * rb;
    for &base in bases {
        let base = base as usize;
        for r in 0..b {
            let at = base + r * stride;
            blk[r * rb..(r + 1) * rb].copy_from_slice(&src[ROW_PAD + at..ROW_PAD + at + rb]);
        }
        for (t, slot) in res[..d].iter_mut().enumerate() {
            let (i, p) = (t / w, t % w);
            let mut v = plan.xor[i][p];
            for j in 0..n {
                let [x, y] = [plan.ctrl[(i * n + j) * 2], plan.ctrl[(i * n + j) * 2 + 1]];
                let pick = |c: u8| (c < 0x80).then(|| blk[j * w + usize::from(c)]);
                v ^= pick(x[p]).map_or(0, |x| x & 0x0F);
                v ^= pick(y[p]).map_or(0, |y| y >> 4);
                v ^= pick(x[16 + p]).map_or(0, |x| x << 4);
                v ^= pick(y[16 + p]).map_or(0, |y| y & 0xF0);
            }
            *slot = v;
        }
        for r in 0..b {
            let at = base + r * stride;
            out[at..at + rb].copy_from_slice(&res[r * rb..(r + 1) * rb]);
        }
    }
}

/// A wide plan's block side (`B`, or the plan's when `B` is 0), row bytes and its three
/// 64-byte tables in registers (output low-nibble sources, high-nibble sources, XOR mask).
///
/// # Panics
/// If `B` is neither `0` nor the plan's side, or the plan is not wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi")]
#[inline]
fn le_wide_regs<const B: usize>(plan: &NibblePlan) -> (usize, usize, [__m512i; 3]) {
    let [lo_t, hi_t, x_t] = &plan.wide[..] else {
        panic!("a wide plan")
    };
    let b = if B == 0 { plan.b } else { B };
    let rb = plan.rb;
    assert!(b == plan.b && wide_rows(b, rb), "a wide plan");
    // SAFETY: the tables are 64-byte arrays; unaligned loads.
    let regs = unsafe {
        [
            _mm512_loadu_si512(lo_t.as_ptr().cast()),
            _mm512_loadu_si512(hi_t.as_ptr().cast()),
            _mm512_loadu_si512(x_t.as_ptr().cast()),
        ]
    };
    (b, rb, regs)
}

/// LE's nibble scramble of one block `v` (its rows in the register's lanes) with a wide
/// plan's registers ([`le_wide_regs`]): low and high nibbles as two registers, two
/// `vpermi2b` (the output's low and high nibbles), a shift and one ternary-logic OR-XOR.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi")]
#[inline]
fn le_block_wide(v: __m512i, [ilo, ihi, x]: &[__m512i; 3]) -> __m512i {
    let low = _mm512_set1_epi8(0x0F);
    let lo = _mm512_and_si512(v, low);
    let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(v), low);
    let out_lo = _mm512_permutex2var_epi8(lo, *ilo, hi);
    // Nibble values < 16: the 16-bit shift moves each into its own byte's high half.
    let out_hi = _mm512_slli_epi16::<4>(_mm512_permutex2var_epi8(lo, *ihi, hi));
    // (out_lo | out_hi) ^ x.
    _mm512_ternarylogic_epi32::<0x56>(out_lo, out_hi, *x)
}

/// [`le_blocks_in_place`] on a wide plan with AVX-512 VBMI: per block, its rows in the lanes
/// of one register (masked row loads of `rb` bytes: nothing past the image is read), its low
/// and high nibbles as two registers (one 128-byte table), two `vpermi2b` (the output's low
/// and high nibbles), a shift and one ternary-logic OR-XOR, 8-byte row stores.
///
/// `B` is the block side known at compile time, or `0` to read it from the plan.
///
/// # Safety
/// The CPU must support AVX-512 F, BW, VL, VBMI and VBMI2.
///
/// # Panics
/// If `B` is neither `0` nor the plan's side, the plan is not wide, or a block does not fit
/// the image.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi")]
unsafe fn le_blocks_in_place_avx512<const B: usize>(
    plan: &NibblePlan,
    image: &mut [u8],
    stride: usize,
    bases: &[u32],
) {
    let (b, rb, regs) = le_wide_regs::<B>(plan);
    let tail = tail_ctrl(rb);
    let keep = ((1u32 << rb) - 1) as __mmask16;
    for &base in bases {
        let base = base as usize;
        let row = |image: &[u8], r: usize| {
            if r < b {
                let at = base + r * stride;
                let s = &image[at..at + rb];
                // SAFETY: `s` is `rb` bytes long (sliced above) and the mask loads bytes
                // `0..rb` only.
                unsafe { _mm_maskz_loadu_epi8(keep, s.as_ptr().cast()) }
            } else {
                _mm_setzero_si128()
            }
        };
        let v = _mm512_castsi128_si512(row(image, 0));
        let v = _mm512_inserti32x4::<1>(v, row(image, 1));
        let v = _mm512_inserti32x4::<2>(v, row(image, 2));
        let v = _mm512_inserti32x4::<3>(v, row(image, 3));
        let res = le_block_wide(v, &regs);
        store_block!(image, base, stride, b, rb, res, tail);
    }
}

/// The nibble registers `[lo | lo << 4]` and `[hi | hi & 0xF0]` of the 16 bytes `v`.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn nibble_regs(v: __m128i) -> (__m256i, __m256i) {
    let low = _mm_set1_epi8(0x0F);
    let lo = _mm_and_si128(v, low);
    let hi = _mm_and_si128(_mm_srli_epi16(v, 4), low);
    let lo4 = _mm_slli_epi16(lo, 4);
    let hi4 = _mm_andnot_si128(low, v);
    (_mm256_set_m128i(lo4, lo), _mm256_set_m128i(hi4, hi))
}

/// Output vector `i` (row `i`) of a `pshufb` plan from the nibble registers `regs` (`2b`).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn nibble_out(plan: &NibblePlan, regs: &[__m256i], i: usize) -> __m128i {
    let n = plan.b;
    let ctrl = &plan.ctrl[i * n * 2..(i + 1) * n * 2];
    let mut acc = _mm256_setzero_si256();
    for (reg, c) in regs.iter().zip(ctrl) {
        // SAFETY: `c` is a 32-byte array; unaligned load.
        let c = unsafe { _mm256_loadu_si256(c.as_ptr().cast()) };
        acc = _mm256_or_si256(acc, _mm256_shuffle_epi8(*reg, c));
    }
    // SAFETY: `plan.xor[i]` is a 16-byte array; unaligned load.
    let x = unsafe { _mm_loadu_si128(plan.xor[i].as_ptr().cast()) };
    _mm_xor_si128(
        _mm_or_si128(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256(acc, 1),
        ),
        x,
    )
}

/// [`le_blocks_in_place`] on a row plan: per block, `b` row loads ([`load_row`]), `2b²`
/// 256-bit `pshufb`, `b` row stores (all loads of a block before its stores).
///
/// # Safety
/// The CPU must support AVX2; the plan is in the `pshufb` form.
///
/// # Panics
/// If a block does not fit the image.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn le_blocks_avx2(plan: &NibblePlan, image: &mut [u8], stride: usize, bases: &[u32]) {
    let (b, rb) = (plan.b, plan.rb);
    let (head, tail) = (head_ctrl(rb), tail_ctrl(rb));
    let mut regs = [_mm256_setzero_si256(); 32];
    for &base in bases {
        let base = base as usize;
        for s in 0..b {
            (regs[2 * s], regs[2 * s + 1]) =
                nibble_regs(load_row(image, base + s * stride, rb, head));
        }
        for r in 0..b {
            let v = nibble_out(plan, &regs[..2 * b], r);
            let o = base + r * stride;
            store_row(&mut image[o..o + rb], v, tail);
        }
    }
}

/// Tables of a plan in the row-pair form ([`NibblePlan::pairs`]), each 32 bytes (two 16-byte
/// lanes): for output row pair `P` (rows `2P` in lane 0, `2P + 1` in lane 1) and source row
/// `j`, `pairs[4P + j]` gathers from row `j` the byte holding the input nibble of each output
/// byte's low nibble and `pairs[8 + 4P + j]` of its high nibble (`0x80` where another row
/// holds it); `pairs[16 + P]` / `pairs[18 + P]` are `0xFF` where that nibble is a high one;
/// `pairs[20 + P]` holds the reversal constants (`0x0F`, `0xF0`). Bytes 12–15 of a lane take
/// bytes 12–15 of the output row's own source row unchanged (the bytes after the row, which a
/// 16-byte store writes back as they were read).
const PAIR_TABLES: usize = 22;

/// The row-pair tables ([`PAIR_TABLES`]) of the LE key `ord` / `rev` (96 nibbles each) for
/// 4×4 RGB blocks: one pass over the 48 output bytes.
///
/// # Panics
/// If `ord` or `rev` do not have 96 entries, or `ord` is not a permutation of `0..96`
/// (indexing).
fn pair_tables(ord: &[u32], rev: &[bool], pairs: &mut [[u8; 32]]) {
    /// Input nibble `q` (`< 96`): its byte's row (`⌊(q mod 48)/12⌋`) and position in the row
    /// (`(q mod 48) mod 12`), and `0xFF` if it is a high nibble (`q ≥ 48`).
    const SRC: [(u8, u8, u8); 96] = {
        let mut t = [(0, 0, 0); 96];
        let mut q = 0;
        while q < 96 {
            let byte = q % 48;
            t[q] = (
                (byte / 12) as u8,
                (byte % 12) as u8,
                if q >= 48 { 0xFF } else { 0 },
            );
            q += 1;
        }
        t
    };
    let ord: &[u32; 96] = ord.try_into().expect("2d = 96 nibbles");
    let rev: &[bool; 96] = rev.try_into().expect("2d = 96 flags");
    let pairs: &mut [[u8; 32]; PAIR_TABLES] = pairs.try_into().expect("the row-pair tables");
    let (gather, rest) = pairs.split_at_mut(16);
    let (high, flips) = rest.split_at_mut(4);
    for g in gather.iter_mut() {
        *g = [0x80; 32];
    }
    for i in 0..4 {
        let (pp, at) = (i / 2, 16 * (i % 2));
        for p in 0..12 {
            let t = 12 * i + p;
            let (q0, q1) = (ord[t] as usize, ord[48 + t] as usize);
            let ((j0, pos0, h0), (j1, pos1, h1)) = (SRC[q0], SRC[q1]);
            gather[4 * pp + usize::from(j0)][at + p] = pos0;
            gather[8 + 4 * pp + usize::from(j1)][at + p] = pos1;
            high[pp][at + p] = h0;
            high[2 + pp][at + p] = h1;
            flips[pp][at + p] =
                (u8::from(rev[q0] != rev[t]) * 0x0F) | (u8::from(rev[q1] != rev[48 + t]) * 0xF0);
        }
        for p in 12..16 {
            // Passed through: low nibble from the low nibble, high from the high.
            gather[4 * pp + i][at + p] = p as u8;
            gather[8 + 4 * pp + i][at + p] = p as u8;
            high[pp][at + p] = 0;
            high[2 + pp][at + p] = 0xFF;
            flips[pp][at + p] = 0;
        }
    }
}

/// [`le_blocks_in_place`] on a plan in the row-pair form (4×4 RGB blocks): per block, its 4
/// rows as 16-byte loads (each broadcast to both lanes), and per output row pair 8 `pshufb`
/// (the bytes holding each output nibble's input nibble), two shifts and two blends (low or
/// high nibble of them), and 16-byte row stores whose bytes 12–15 are the bytes read there
/// (see [`PAIR_TABLES`]) where the next block starts right after the row, 12-byte ones
/// elsewhere (at the right edge). Rows within 4 bytes of the image's end are read through a
/// copy. Against the `pshufb` form on three 16-byte vectors that it replaced (18 `pshufb`,
/// 6 lane inserts and 8 byte shifts a block, all on the two shuffle pipes of a Zen 3 core):
/// fixed `le` 1.26×, per-image `le` 1.06× (`pixveil bench encrypt`, 6 runs alternated).
///
/// # Safety
/// The CPU must support AVX2; the plan is in the row-pair form.
///
/// # Panics
/// If a block does not fit the image.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn le_blocks_pairs_avx2(plan: &NibblePlan, image: &mut [u8], stride: usize, bases: &[u32]) {
    let t: &[[u8; 32]; PAIR_TABLES] = plan.pairs[..].try_into().expect("the row-pair tables");
    let len = image.len();
    // Checked (not only in debug builds): the unchecked loads and stores below rely on it.
    assert!(rows_fit(bases, stride, 12, len), "blocks inside the image");
    let p = image.as_mut_ptr();
    let ld = |k: usize| {
        // SAFETY: `t[k]` is a 32-byte array; unaligned load.
        unsafe { _mm256_loadu_si256(t[k].as_ptr().cast()) }
    };
    let (low, high) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(-16));
    let mut tail = [0u8; 16 * 4];
    // The rows of block `k`, each broadcast to both lanes; near the image's end through a
    // 16-byte copy of each.
    let mut rows = |k: usize| {
        let base = bases[k] as usize;
        let wide = base + 3 * stride + 16 <= len;
        let row = |r: usize, tail: &mut [u8; 64]| {
            let q = p.wrapping_add(base + r * stride);
            if wide {
                // SAFETY: 16 bytes from the row's start lie in the image (`wide`).
                unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(q.cast())) }
            } else {
                let slot = &mut tail[16 * r..16 * r + 16];
                // SAFETY: the row's 12 bytes lie in the image (asserted above).
                slot[..12].copy_from_slice(unsafe { std::slice::from_raw_parts(q, 12) });
                // SAFETY: `slot` is 16 bytes; unaligned load.
                unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(slot.as_ptr().cast())) }
            }
        };
        (
            base,
            wide,
            [
                row(0, &mut tail),
                row(1, &mut tail),
                row(2, &mut tail),
                row(3, &mut tail),
            ],
        )
    };
    if bases.is_empty() {
        return;
    }
    let mut next = rows(0);
    for k in 0..bases.len() {
        let (base, wide, s) = next;
        let mut out = [_mm256_setzero_si256(); 2];
        for (pp, o) in out.iter_mut().enumerate() {
            let mut gl = _mm256_shuffle_epi8(s[0], ld(4 * pp));
            let mut gh = _mm256_shuffle_epi8(s[0], ld(8 + 4 * pp));
            for (j, &row) in s.iter().enumerate().skip(1) {
                gl = _mm256_or_si256(gl, _mm256_shuffle_epi8(row, ld(4 * pp + j)));
                gh = _mm256_or_si256(gh, _mm256_shuffle_epi8(row, ld(8 + 4 * pp + j)));
            }
            // Low nibbles: the byte's low nibble, or its high one moved down (the 16-bit
            // shift brings bits of the next byte into bits 4–7, masked off).
            let lv = _mm256_and_si256(
                _mm256_blendv_epi8(gl, _mm256_srli_epi16::<4>(gl), ld(16 + pp)),
                low,
            );
            // High nibbles: the byte's low nibble moved up, or its high one.
            let hv = _mm256_and_si256(
                _mm256_blendv_epi8(_mm256_slli_epi16::<4>(gh), gh, ld(18 + pp)),
                high,
            );
            *o = _mm256_xor_si256(_mm256_or_si256(lv, hv), ld(20 + pp));
        }
        // The next block's rows are read before this block's rows are written (a load
        // across the bytes a 16-byte store just wrote would wait for it). A row is stored as
        // 16 bytes only where the 4 bytes after it are the next block's (read by both blocks
        // before either writes, and written back unchanged here), else as 12: at the image's
        // right edge they belong to a block written before.
        let spill = wide && bases.get(k + 1).is_some_and(|&n| n as usize == base + 12);
        if k + 1 < bases.len() {
            next = rows(k + 1);
        }
        for (r, half) in [
            _mm256_castsi256_si128(out[0]),
            _mm256_extracti128_si256::<1>(out[0]),
            _mm256_castsi256_si128(out[1]),
            _mm256_extracti128_si256::<1>(out[1]),
        ]
        .into_iter()
        .enumerate()
        {
            let q = p.wrapping_add(base + r * stride);
            // SAFETY: with `spill`, 16 bytes from the row's start lie in the image (`wide`);
            // else the row's 12 bytes (asserted above).
            unsafe {
                if spill {
                    _mm_storeu_si128(q.cast(), half);
                } else {
                    store12(q, half);
                }
            }
        }
    }
    wipe(&mut tail);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    /// A permutation of `0..n` from `seed` (Fisher–Yates over a xorshift stream).
    fn perm(n: usize, seed: u64) -> Vec<u32> {
        let r = bytes(4 * n, seed);
        let mut p: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            let w = u32::from_le_bytes([r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]]);
            p.swap(i, w as usize % (i + 1));
        }
        p
    }

    /// What a kernel dispatcher that may decline (`ran` false: the caller takes the portable
    /// path) must have left in `got`: `want` where a kernel ran, else `input` untouched, which
    /// happens only without AVX2.
    fn ran_or_declined(
        ran: bool,
        got: &[u8],
        want: &[u8],
        input: &[u8],
    ) -> Result<(), TestCaseError> {
        if ran {
            prop_assert_eq!(got, want);
        } else {
            prop_assert!(!has_avx2());
            prop_assert_eq!(got, input);
        }
        Ok(())
    }

    /// The AVX2 in-place LE kernel of a `pshufb` plan, called directly.
    ///
    /// # Panics
    /// If the CPU lacks AVX2 or the plan is not in the `pshufb` form.
    #[cfg(target_arch = "x86_64")]
    fn le_in_place_avx2(plan: &NibblePlan, image: &mut [u8], stride: usize, bases: &[u32]) {
        assert!(std::arch::is_x86_feature_detected!("avx2"));
        assert!(plan.wide.is_empty() && plan.pairs.is_empty() && !plan.ctrl.is_empty());
        // SAFETY: AVX2 support was just checked; a `pshufb` plan.
        unsafe { le_blocks_avx2(plan, image, stride, bases) };
    }

    proptest! {
        /// The AVX2 builder of the `pshufb` plans gives the portable builder's tables, for row
        /// plans of every row length.
        #[test]
        fn nibble_tables_paths_agree(
            (b, c) in prop_oneof![Just((4usize, 3usize)), Just((3, 3)), Just((5, 3)),
                Just((8, 1)), Just((11, 1)), Just((16, 1)), Just((4, 2))],
            seed in any::<u64>(),
        ) {
            let rb = b * c;
            let d = b * rb;
            let ord = perm(2 * d, seed);
            let rev: Vec<bool> = bytes(2 * d, seed ^ 8).iter().map(|&x| x & 1 == 1).collect();
            let mut plan = NibblePlan::default();
            plan.build_as(PlanForm::Shuffle, b, rb, &ord, &rev);
            let (n, w) = (plan.b, plan.rb);
            let mut ctrl = vec![[0x80u8; 32]; 2 * n * n];
            let mut xor = vec![[0u8; 16]; n];
            nibble_tables_portable((n, w), (&ord, &rev), &plan.at, (&mut ctrl, &mut xor));
            prop_assert_eq!(&plan.ctrl, &ctrl);
            prop_assert_eq!(&plan.xor, &xor);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // Called directly (the builder above may have taken the portable path), twice
                // over the same scratch and stale controls.
                let (mut src, mut c2, mut x2) = (Vec::new(), vec![[0x55u8; 32]; 2 * n * n], vec![[0u8; 16]; n]);
                for _ in 0..2 {
                    // SAFETY: AVX2 support was just checked.
                    unsafe { nibble_tables_avx2((n, w), (&ord, &rev), &plan.at, &mut src, (&mut c2, &mut x2)) };
                    prop_assert_eq!(&c2, &ctrl);
                    prop_assert_eq!(&x2, &xor);
                }
            }
        }

        #[test]
        fn above_is_the_comparison(len in 0usize..100, bound in 0u32..300, seed in any::<u64>()) {
            let src: Vec<u32> = perm(len.max(1), seed).into_iter().map(|v| v * 3).take(len).collect();
            let mut out = vec![true; len];
            above(&src, bound, &mut out);
            let want: Vec<bool> = src.iter().map(|&v| v > bound).collect();
            prop_assert_eq!(out, want);
        }
    }

    /// Every placement of up to three rejected bytes in one half of a 32-byte window (the
    /// vector path takes up to two per half, the byte-by-byte one three), in either half, the
    /// other half with none or one.
    #[test]
    fn below6_run_drops_any_rejected_bytes_of_a_window() {
        let base: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(37) % 252).collect();
        let mut cases = 0;
        for half in 0..2 {
            for other in [None, Some(5)] {
                for a in 0..16 {
                    for b in a..16 {
                        for c in [None, Some(b), Some(15)] {
                            let mut src = base.clone();
                            for p in [Some(a), Some(b), c].into_iter().flatten() {
                                src[16 * half + p] = 252 + (p % 4) as u8;
                            }
                            if let Some(o) = other {
                                src[16 * (1 - half) + o] = 255;
                            }
                            let want: Vec<u8> = src[..64]
                                .iter()
                                .filter(|&&s| s < 252)
                                .map(|s| s % 6)
                                .collect();
                            let mut out = vec![0u8; 64];
                            let (i, j) = below6_run(&src, &mut out);
                            assert_eq!(i, 64);
                            assert_eq!(
                                &out[..j],
                                &want[..],
                                "rejected at {a}, {b}, {c:?} in half {half}"
                            );
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 2 * 2 * 136 * 3);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn xor_bits_at_avx2_is_the_bytewise_xor() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let bits = bytes(40, 11);
        for at in 0..70 {
            for len in 0..(8 * bits.len() - at).min(100) {
                let data = bytes(len, (at * 1000 + len) as u64);
                let mut want = data.clone();
                xor_bits_at(&mut want, &bits, at);
                let mut got = data;
                // SAFETY: AVX2 support was just checked.
                unsafe { xor_bits_at_avx2(&mut got, &bits, at) };
                assert_eq!(got, want, "at {at}, {len} bytes");
            }
        }
    }

    #[test]
    fn bits_at_reads_any_bit_offset() {
        let bits = bytes(20, 5);
        let bit = |k: usize| bits.get(k / 8).map_or(0, |b| u64::from((b >> (k % 8)) & 1));
        for at in 0..170 {
            let want = (0..64).fold(0u64, |w, i| w | bit(at + i) << i);
            assert_eq!(bits_at(&bits, at), want, "at {at}");
        }
    }

    #[test]
    fn spread8_puts_bit_k_in_byte_k() {
        for b in 0..=255u8 {
            let want = u64::from_le_bytes(std::array::from_fn(|k| 0u8.wrapping_sub((b >> k) & 1)));
            assert_eq!(spread8(b), want, "{b:#x}");
        }
    }

    #[test]
    fn shuffle_controls_match_the_tables() {
        let data: Vec<u8> = (0..48).collect();
        for k in 0..6u8 {
            let codes = [k; 16];
            let mut a = data.clone();
            shuffle3_portable(&mut a, &codes, &SHUFFLE_ENC);
            for (px, orig) in a.chunks_exact(3).zip(data.chunks_exact(3)) {
                for c in 0..3 {
                    assert_eq!(px[c], orig[usize::from(TABLE1[usize::from(k)][c])]);
                }
            }
            shuffle3_portable(&mut a, &codes, &SHUFFLE_DEC);
            assert_eq!(a, data);
        }
    }

    /// On x86_64, with [`PORTABLE_ENV`] unset and an AVX2 CPU, the AVX2 kernels must run: the
    /// tests that have nothing to compare without them do not skip silently there.
    fn assert_avx2_when_expected() {
        #[cfg(target_arch = "x86_64")]
        if std::env::var_os(PORTABLE_ENV).is_none() && std::arch::is_x86_feature_detected!("avx2") {
            assert!(
                has_avx2(),
                "AVX2 CPU and {PORTABLE_ENV} unset: the AVX2 kernels run"
            );
        }
    }

    /// As [`assert_avx2_when_expected`] for the AVX-512 kernels (with [`NO_AVX512_ENV`] unset
    /// too).
    fn assert_avx512_when_expected() {
        #[cfg(target_arch = "x86_64")]
        if std::env::var_os(PORTABLE_ENV).is_none()
            && std::env::var_os(NO_AVX512_ENV).is_none()
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512vbmi")
        {
            assert!(
                has_avx512(),
                "AVX-512 CPU, {PORTABLE_ENV} and {NO_AVX512_ENV} unset: the AVX-512 kernels run"
            );
        }
    }

    #[test]
    fn kernel_level_matches_the_detection() {
        assert_avx512_when_expected();
        let want = if has_avx512() {
            assert!(has_avx2(), "AVX-512 implies the AVX2 kernels");
            "AVX-512"
        } else if has_avx2() {
            "AVX2"
        } else {
            "portable"
        };
        assert_eq!(level(), want);
    }

    /// The key words of `seed` and `rand_chacha`'s keystream of it from block `start`
    /// (`blocks` blocks).
    fn reference_stream(seed: &[u8; 32], start: u64, blocks: usize) -> ([u32; 8], Vec<u8>) {
        use rand_core::{RngCore, SeedableRng};
        let key: [u32; 8] = std::array::from_fn(|i| {
            u32::from_le_bytes([
                seed[4 * i],
                seed[4 * i + 1],
                seed[4 * i + 2],
                seed[4 * i + 3],
            ])
        });
        let mut rng = rand_chacha::ChaCha20Rng::from_seed(*seed);
        rng.set_word_pos(u128::from(start) * 16);
        let mut want = vec![0u8; 64 * blocks];
        rng.fill_bytes(&mut want);
        (key, want)
    }

    /// Block counters the keystream tests start at: aligned and not, and around the carry of
    /// the low counter word (2^32) into the high one.
    const STARTS: [u64; 7] = [0, 8, 16, 5, (1 << 32) - 4, (1 << 32) - 9, (1 << 32) - 16];

    #[test]
    fn chacha20_blocks16_match_rand_chacha() {
        assert_avx512_when_expected();
        let seed: [u8; 32] = std::array::from_fn(|i| (i * 11 + 5) as u8);
        let mut got = [0u8; CHACHA_BYTES16];
        for start in STARTS {
            let (key, want) = reference_stream(&seed, start, 16);
            if !chacha20_blocks16(&key, start, &mut got) {
                assert!(!has_avx512(), "the AVX-512 kernel runs when chosen");
                return; // no AVX-512: nothing to compare
            }
            assert_eq!(&got[..], &want[..], "blocks {start}..{}", start + 16);
        }
    }

    #[test]
    fn chacha20_multi16_matches_rand_chacha() {
        assert_avx512_when_expected();
        let seeds: [[u8; 32]; MULTI_KEYS] =
            std::array::from_fn(|m| std::array::from_fn(|i| (i * 7 + m * 13 + 1) as u8));
        let streams: Vec<([u32; 8], Vec<u8>)> =
            seeds.iter().map(|s| reference_stream(s, 0, 40)).collect();
        let keys: [[u32; 8]; MULTI_KEYS] = std::array::from_fn(|m| streams[m].0);
        let mut out = [0u8; CHACHA_BYTES16];
        for round in 0..6u32 {
            let img: [u32; 16] = std::array::from_fn(|l| (l as u32 * 5 + round) % 9);
            let ctr: [u32; 16] = std::array::from_fn(|l| (l as u32 * 3 + 7 * round) % 40);
            if !chacha20_multi16(&keys, &img, &ctr, &mut out) {
                assert!(!has_avx512(), "the AVX-512 kernel runs when chosen");
                return;
            }
            for l in 0..16 {
                let (m, c) = (img[l] as usize, ctr[l] as usize);
                if m < MULTI_KEYS {
                    let want = &streams[m].1[64 * c..64 * c + 64];
                    assert_eq!(
                        &out[64 * l..64 * l + 64],
                        want,
                        "lane {l}: key {m}, block {c}"
                    );
                }
            }
        }
    }

    /// Each 8-block implementation this CPU has (AVX2, AVX-512 VL), called directly (the
    /// dispatcher picks only one), against `rand_chacha`.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn chacha20_blocks_every_path_matches_rand_chacha() {
        let seed: [u8; 32] = std::array::from_fn(|i| (i * 3 + 17) as u8);
        let mut got = [0u8; CHACHA_BYTES];
        for start in STARTS {
            let (key, want) = reference_stream(&seed, start, 8);
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 support was just checked.
                unsafe { chacha20_blocks_avx2(&key, start, &mut got) };
                assert_eq!(&got[..], &want[..], "AVX2, blocks from {start}");
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                // SAFETY: AVX-512 F and VL support was just checked.
                unsafe { chacha20_blocks_avx512vl(&key, start, &mut got) };
                assert_eq!(&got[..], &want[..], "AVX-512 VL, blocks from {start}");
            }
        }
    }

    #[test]
    fn portable_env_values() {
        // Read once per process, so only its consistency with the environment is checked.
        let v = std::env::var_os(PORTABLE_ENV);
        if v.as_ref().is_some_and(|v| !v.is_empty() && v != "0") {
            assert!(!has_avx2());
            assert!(!has_avx512());
        }
        let v = std::env::var_os(NO_AVX512_ENV);
        if v.as_ref().is_some_and(|v| !v.is_empty() && v != "0") {
            assert!(!has_avx512());
        }
        assert_avx2_when_expected();
    }

    #[test]
    #[should_panic(expected = "plan built")]
    fn le_blocks_rejects_an_unbuilt_plan() {
        let plan = NibblePlan::default();
        le_blocks_in_place(&plan, &mut [], 0, &[]);
    }

    #[test]
    fn chacha20_blocks_match_rand_chacha() {
        assert_avx2_when_expected();
        use rand_core::{RngCore, SeedableRng};
        let seed: [u8; 32] = std::array::from_fn(|i| (i * 7 + 3) as u8);
        let key: [u32; 8] = std::array::from_fn(|i| {
            u32::from_le_bytes([
                seed[4 * i],
                seed[4 * i + 1],
                seed[4 * i + 2],
                seed[4 * i + 3],
            ])
        });
        let mut rng = rand_chacha::ChaCha20Rng::from_seed(seed);
        let mut want = vec![0u8; 3 * CHACHA_BYTES];
        rng.fill_bytes(&mut want);
        let mut got = [0u8; CHACHA_BYTES];
        for (k, w) in want.chunks_exact(CHACHA_BYTES).enumerate() {
            if !chacha20_blocks(&key, 8 * k as u64, &mut got) {
                return; // no AVX2: nothing to compare
            }
            assert_eq!(&got[..], w, "blocks {}..{}", 8 * k, 8 * k + 8);
        }
        // Counters 2^32 − 4 .. 2^32 + 4: the low word (12) wraps and carries into word 13.
        let start = (1u64 << 32) - 4;
        rng.set_word_pos(u128::from(start) * 16);
        rng.fill_bytes(&mut want[..CHACHA_BYTES]);
        assert!(chacha20_blocks(&key, start, &mut got), "AVX2 ran above");
        assert_eq!(
            &got[..],
            &want[..CHACHA_BYTES],
            "blocks 2^32 − 4 .. 2^32 + 4"
        );
    }

    #[test]
    fn hchacha20_x8_matches_the_scalar_one() {
        let key: [u8; 32] = std::array::from_fn(|i| (i * 5 + 9) as u8);
        let nonces: [[u8; 16]; 8] =
            std::array::from_fn(|l| std::array::from_fn(|i| (l * 31 + i * 3) as u8));
        let mut out = [[0u8; 32]; 8];
        assert_avx2_when_expected();
        if !hchacha20_x8(&key, &nonces, &mut out) {
            return; // no AVX2: nothing to compare
        }
        for (n, o) in nonces.iter().zip(&out) {
            assert_eq!(*o, crate::per_image::hchacha20(&key, n));
        }
        // Both implementations where the CPU has them (the dispatcher picks one).
        #[cfg(target_arch = "x86_64")]
        {
            let mut a = [[0u8; 32]; 8];
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 support was just checked.
                unsafe { hchacha20_x8_avx2(&key, &nonces, &mut a) };
                assert_eq!(a, out, "AVX2");
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                // SAFETY: AVX-512 F and VL support was just checked.
                unsafe { hchacha20_x8_avx512vl(&key, &nonces, &mut a) };
                assert_eq!(a, out, "AVX-512 VL");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn below6_run_paths_agree(len in 0usize..300, room in 0usize..300, seed in any::<u64>(), rare in any::<bool>()) {
            let mut src = bytes(len, seed);
            if rare {
                // Mostly accepted bytes, so long runs reach the vector path.
                for b in &mut src {
                    *b = b.wrapping_mul(251) % 252;
                }
                if len > 100 {
                    src[len / 2] = 253;
                    src[len / 2 + 3] = 255;
                    src[len / 3] = 252;
                }
            }
            let mut a = vec![0u8; room];
            let mut b = vec![0u8; room];
            let (ia, ja) = below6_run_portable(&src, &mut a);
            let (ib, jb) = below6_run(&src, &mut b);
            prop_assert_eq!((ia, ja), (ib, jb));
            prop_assert_eq!(&a[..ja], &b[..jb]);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("popcnt")
            {
                // SAFETY: AVX2 and POPCNT support was just checked.
                let (ic, jc) = unsafe { below6_run_avx2(&src, &mut b) };
                prop_assert_eq!((ia, ja), (ic, jc));
                prop_assert_eq!(&a[..ja], &b[..jc]);
            }
            // The values are those of successive rejection draws over src[..ia].
            let want: Vec<u8> = src[..ia].iter().filter(|&&s| s < 252).map(|s| s % 6).collect();
            prop_assert_eq!(&a[..ja], &want[..]);
        }

        #[test]
        fn xor_bits_paths_agree(len in 0usize..300, seed in any::<u64>()) {
            let data = bytes(len, seed);
            let bits = bytes(len.div_ceil(8), seed ^ 1);
            let mut a = data.clone();
            xor_bits_portable(&mut a, &bits);
            for (k, (&x, &y)) in a.iter().zip(&data).enumerate() {
                prop_assert_eq!(x, y ^ 0u8.wrapping_sub((bits[k / 8] >> (k % 8)) & 1));
            }
            let mut b = data.clone();
            xor_bits(&mut b, &bits);
            prop_assert_eq!(&a, &b);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut c = data.clone();
                // SAFETY: AVX2 support was just checked; `bits` covers `c`.
                unsafe { xor_bits_avx2(&mut c, &bits) };
                prop_assert_eq!(&a, &c);
            }
        }

        #[test]
        fn shuffle3_paths_agree(pixels in 0usize..200, seed in any::<u64>(), enc in any::<bool>()) {
            let data = bytes(3 * pixels, seed);
            let codes: Vec<u8> = bytes(pixels, seed ^ 2).iter().map(|b| b % 6).collect();
            let sh = if enc { &SHUFFLE_ENC } else { &SHUFFLE_DEC };
            let mut a = data.clone();
            shuffle3_portable(&mut a, &codes, sh);
            let mut b = data.clone();
            shuffle3(&mut b, &codes, sh);
            prop_assert_eq!(&a, &b);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut c = data.clone();
                // SAFETY: AVX2 support was just checked; one code per pixel.
                unsafe { shuffle3_avx2(&mut c, &codes, sh) };
                prop_assert_eq!(&a, &c);
            }
            // The fused XOR and shuffle.
            let bits = bytes(data.len().div_ceil(8), seed ^ 9);
            let mut x = data.clone();
            if enc {
                xor_bits_portable(&mut x, &bits);
                shuffle3_portable(&mut x, &codes, sh);
            } else {
                shuffle3_portable(&mut x, &codes, sh);
                xor_bits_portable(&mut x, &bits);
            }
            let mut y = data.clone();
            let ran = xor_shuffle3(&mut y, &bits, &codes, sh, enc);
            ran_or_declined(ran, &y, &x, &data)?;
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut z = data.clone();
                // SAFETY: AVX2 support was just checked; one code per pixel, `bits` covers
                // `z`.
                unsafe { xor_shuffle3_avx2(&mut z, &bits, &codes, sh, enc) };
                prop_assert_eq!(&x, &z);
            }
            let inv = if enc { &SHUFFLE_DEC } else { &SHUFFLE_ENC };
            shuffle3(&mut b, &codes, inv);
            prop_assert_eq!(b, data);
        }

        #[test]
        fn etc_paths_agree(
            (b, c) in prop_oneof![Just((4usize, 3usize)), Just((3, 3)), Just((5, 3)),
                Just((8, 1)), Just((11, 1)), Just((16, 1))],
            (bh, bw) in (1usize..4, 1usize..4),
            seed in any::<u64>(),
            encrypt in any::<bool>(),
        ) {
            let t = BlockTables::new(b, c).expect("rows fit");
            let (h, w) = (bh * b, bw * b);
            let stride = w * c;
            let n = bh * bw;
            let bases: Vec<u32> = (0..n)
                .map(|i| ((i / bw * b * w + i % bw * b) * c) as u32)
                .collect();
            let perm = perm(n, seed);
            let orient: Vec<u8> = bytes(n, seed ^ 3).iter().map(|b| b % 8).collect();
            let np = bytes(n.div_ceil(8), seed ^ 4);
            let codes: Vec<u8> = if c == 3 {
                bytes(n, seed ^ 5).iter().map(|b| b % 6).collect()
            } else {
                Vec::new()
            };
            let key = EtcBlockKey { perm: &perm, orient: &orient, np: &np, codes: &codes };
            let img = bytes(h * stride, seed ^ 6);
            let mut src = vec![0u8; img.len() + 2 * ROW_PAD];
            src[ROW_PAD..ROW_PAD + img.len()].copy_from_slice(&img);
            let mut a = vec![0u8; img.len()];
            etc_blocks_portable(&t, &src, &mut a, stride, &bases, &key, encrypt);
            let mut b2 = vec![0u8; img.len()];
            etc_blocks(&t, &src, &mut b2, stride, &bases, &key, encrypt);
            prop_assert_eq!(&a, &b2);
            // The AVX2 kernel too where the dispatcher took the AVX-512 one.
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut b3 = vec![0u8; img.len()];
                // SAFETY: AVX2 support was just checked; `src` is padded; `B = 0`.
                unsafe { etc_blocks_avx2::<0>(&t, &src, &mut b3, stride, &bases, &key, encrypt) };
                prop_assert_eq!(&a, &b3);
                if (b, c) == (4, 3) {
                    let mut b4 = vec![0u8; img.len()];
                    // SAFETY: as above; 4×4 RGB tables.
                    unsafe { etc_blocks_4x12_avx2(&t, &src, &mut b4, stride, &bases, &key, encrypt) };
                    prop_assert_eq!(&a, &b4);
                }
            }
            if has_avx512() {
                prop_assert_eq!(wide_rows(b, b * c), !t.ctrl64.is_empty());
            }
            // The other direction undoes it.
            src[ROW_PAD..ROW_PAD + img.len()].copy_from_slice(&a);
            etc_blocks(&t, &src, &mut b2, stride, &bases, &key, !encrypt);
            prop_assert_eq!(b2, img);
        }

        #[test]
        fn le_paths_agree(
            (b, c) in prop_oneof![Just((4usize, 3usize)), Just((3, 3)), Just((5, 3)),
                Just((8, 1)), Just((11, 1)), Just((16, 1))],
            (bh, bw) in (1usize..4, 1usize..4),
            seed in any::<u64>(),
        ) {
            let rb = b * c;
            let d = b * rb;
            let ord = perm(2 * d, seed);
            let rev: Vec<bool> = ord.iter().map(|&q| q as usize > d).collect();
            // The plan the kernels run, and the `pshufb` form as the portable reference.
            let mut plan = NibblePlan::default();
            plan.build(b, rb, &ord, &rev);
            let mut reference = NibblePlan::default();
            reference.build_as(PlanForm::Shuffle, b, rb, &ord, &rev);
            if has_avx512() && wide_rows(b, rb) {
                prop_assert!(!plan.wide.is_empty(), "the wide form where AVX-512 runs");
            } else if (b, rb) == (4, 12) {
                prop_assert!(!plan.pairs.is_empty(), "the row-pair form of 4×4 RGB blocks");
            }
            // The wide form, however built, has the byte-by-byte builder's tables and agrees
            // with the reference.
            if wide_rows(b, rb) {
                let mut wide = NibblePlan::default();
                wide.build_as(PlanForm::Wide, b, rb, &ord, &rev);
                let mut want = [[0u8; 64]; 3];
                let [x0, x1, x2] = &mut want;
                wide_tables_portable((b, rb), &ord, &rev, &wide.at_wide, [x0, x1, x2]);
                prop_assert_eq!(&wide.wide[..], &want[..]);
                let (h, w) = (2 * b, 3 * b);
                let stride = w * c;
                let bases: Vec<u32> = (0..6)
                    .map(|i| ((i / 3 * b * w + i % 3 * b) * c) as u32)
                    .collect();
                let img = bytes(h * stride, seed ^ 7);
                let mut src = vec![0u8; img.len() + 2 * ROW_PAD];
                src[ROW_PAD..ROW_PAD + img.len()].copy_from_slice(&img);
                let mut x = vec![0u8; img.len()];
                let mut y = vec![0u8; img.len()];
                le_blocks_portable(&reference, &src, &mut x, stride, &bases);
                le_blocks_portable(&wide, &src, &mut y, stride, &bases);
                prop_assert_eq!(&x, &y);
            }
            let (h, w) = (bh * b, bw * b);
            let stride = w * c;
            let bases: Vec<u32> = (0..bh * bw)
                .map(|i| ((i / bw * b * w + i % bw * b) * c) as u32)
                .collect();
            let img = bytes(h * stride, seed ^ 6);
            let shape = pixveil_image::Shape::new(h as u32, w as u32, c as u32)
                .expect("valid shape");
            let within = crate::le::block_offsets(shape, b);
            let mut table = Vec::new();
            // The inverse permutation with the forward one's `rev` decrypts.
            let mut inv = vec![0u32; ord.len()];
            for (j, &q) in ord.iter().enumerate() {
                inv[q as usize] = j as u32;
            }
            let mut enc = img.clone();
            for key in [&ord, &inv] {
                plan.build(b, rb, key, &rev);
                reference.build_as(PlanForm::Shuffle, b, rb, key, &rev);
                let mut src = vec![0u8; img.len() + 2 * ROW_PAD];
                src[ROW_PAD..ROW_PAD + img.len()].copy_from_slice(&img);
                let mut a = vec![0u8; img.len()];
                le_blocks_portable(&reference, &src, &mut a, stride, &bases);
                // The `le` Entry tables agree with the reference.
                crate::le::table_into(key, &rev, &within, &mut table);
                let mut e = img.clone();
                crate::le::apply_table(shape, b, &mut e, &table);
                prop_assert_eq!(&a, &e);
                if std::ptr::eq(key, &ord) {
                    enc.clone_from(&a);
                }
                let mut c2 = img.clone();
                let ran = le_blocks_in_place(&plan, &mut c2, stride, &bases);
                ran_or_declined(ran, &c2, &a, &img)?;
                // The AVX2 kernels too where the dispatcher took another one.
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2") {
                    let mut c3 = img.clone();
                    le_in_place_avx2(&reference, &mut c3, stride, &bases);
                    prop_assert_eq!(&a, &c3);
                    if (b, rb) == (4, 12) {
                        let mut pairs = NibblePlan::default();
                        pairs.build_as(PlanForm::Pairs, b, rb, key, &rev);
                        let mut c4 = img.clone();
                        // SAFETY: AVX2 support was just checked; a row-pair plan.
                        unsafe { le_blocks_pairs_avx2(&pairs, &mut c4, stride, &bases) };
                        prop_assert_eq!(&a, &c4);
                    }
                }
            }
            // The inverse undoes the forward key.
            reference.build_as(PlanForm::Shuffle, b, rb, &inv, &rev);
            let mut src = vec![0u8; img.len() + 2 * ROW_PAD];
            src[ROW_PAD..ROW_PAD + img.len()].copy_from_slice(&enc);
            let mut back = vec![0u8; img.len()];
            le_blocks_portable(&reference, &src, &mut back, stride, &bases);
            prop_assert_eq!(back, img);
        }
    }
}
