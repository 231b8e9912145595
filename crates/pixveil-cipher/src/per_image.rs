//! Per-image key mode at speed: the per-image streams of key derivation v3.
//!
//! Under derivations v1 and v2, image `n` of a per-image batch is encrypted by the cipher built
//! from the subkey `derive("pixveil/v1/per-image", nonce_n)`: several HKDF calls and every
//! table of the scheme (stencils, gather tables, inverses) allocated and computed for one image.
//! Derivation v3 ([`KdfVersion::V3`](crate::KdfVersion::V3)) keys `pe`, `pe-np`, `le` and
//! `etc` from **one ChaCha20 stream per image** instead, and applies the key while it is read,
//! without building a cipher:
//!
//! 1. Once per batch cipher: `K = derive(LABEL, ctx)` with the scheme's label ([`LABEL_PE`],
//!    [`LABEL_LE`], [`LABEL_ETC`]) and its v2 context (`H ‖ W ‖ C ‖ shuffle` or
//!    `H ‖ W ‖ C ‖ b`, big-endian `u32`s).
//! 2. Per image: `k_n = HChaCha20(K, nonce_n)` ([`hchacha20`]: the subkey step of XChaCha20,
//!    draft-irtf-cfrg-xchacha §2.2, a PRF of the 128-bit nonce), and the stream is the ChaCha20
//!    keystream under `k_n` (block counter from 0, nonce 0: `ChaCha20Rng::from_seed(k_n)`), read
//!    with the draws of the sampler (`docs/schemes.md` §1.1). The stream of image `n` is thus
//!    XChaCha20 under `K` with the 192-bit nonce `nonce_n ‖ 0⁶⁴`.
//! 3. The draws, in stream order:
//!    * `pe`, `pe-np`: `r = bits(H·W·C)` (NP bits), then, only for `pe` on 3 channels,
//!      `s[i] = below_small(6)` for every pixel `i` in row-major order;
//!    * `le`: `key = permutation(2·b²·C)`;
//!    * `etc`: `P = permutation(n)`, then `o[i] = below_small(8)` for `i = 0..n`, then
//!      `np = bits(n)`, then (3 channels only) `s[i] = below_small(6)` for `i = 0..n`.
//!
//!    Each scheme then uses these values exactly as its fixed-key definition does.
//!
//! Other schemes (`logistic`, chains such as `grey`) keep the v2 per-image derivation under v3.
//! The per-image values live in per-thread scratch buffers (`KeyScratch`) and one keystream
//! sampler, reused from image to image (no allocation once they have grown; each image's draws
//! overwrite the last image's values before they are read, so they hold at most one image's
//! key at a time) and wiped when the [`PerImageKeys::apply_batch`] call (or the single image)
//! is done, also on unwinding: one wipe per batch instead of per image (per-image `le` 1.06×
//! in-process, `pe` 1.01×, `etc` unchanged). EtC's padded copy of the image (its blocks move
//! out of it) is one pool buffer per [`PerImageKeys::apply_batch`] call, each image's copy
//! overwriting the last, wiped when the call returns or unwinds (one wipe and one pool round
//! trip per batch instead of per image: per-image `etc` 1.11× in-process).
//!
//! Speed (all results identical to the portable paths, see `kernels`): on AVX2 CPUs
//! [`PerImageKeys::apply_batch`] computes the HChaCha20 subkeys of eight images at once, the
//! stream comes from an eight-block AVX2 ChaCha20, and the draws are applied by AVX2 kernels:
//! the NP bits XORed within the `pshufb` colour shuffle, one pass (`pe`; an XOR pass for
//! `pe-np`), `pshufb` nibble gathers of a per-image plan, block by block in place (`le`),
//! `pshufb` block-row gathers from precomputed per-orientation and per-code controls (`etc`).
//! With AVX-512 (F, BW, VL, VBMI, VBMI2) the first (up to eight) blocks of the eight images'
//! streams come from sixteen-lane calls that mix the keys, longer
//! streams continue sixteen blocks at a time, `pe` XORs and shuffles in one `vpermb` pass,
//! `le` scrambles each block in place with two `vpermi2b` (its plan also built by `vpermi2b`),
//! `etc` moves each block with one `vpermb`, and Fisher–Yates takes its draws straight from
//! the buffered keystream.

use std::cell::RefCell;

use pixveil_core::MasterSecret;
use pixveil_image::Shape;
use pixveil_math::pool;
use zeroize::Zeroize;

use crate::{
    error::check_len,
    etc::orient_source,
    kernels::{
        self, etc_blocks, has_avx2, shuffle3, simd_rows, xor_bits, BlockTables, EtcBlockKey,
        NibblePlan, ROW_PAD, SHUFFLE_DEC, SHUFFLE_ENC,
    },
    le::{self, block_layout, check_block, Entry},
    sample::{context, Sampler, PREFILL_MAX, TABLE1},
    scratch::{with_copy, with_copy_in},
    Cipher, Nonce, Result, SchemeSpec,
};

/// Derivation label of the per-image stream key of `pe` and `pe-np` (v3).
pub const LABEL_PE: &str = "pixveil/v3/per-image/pe";
/// Derivation label of the per-image stream key of `le` (v3).
pub const LABEL_LE: &str = "pixveil/v3/per-image/le";
/// Derivation label of the per-image stream key of `etc` (v3).
pub const LABEL_ETC: &str = "pixveil/v3/per-image/etc";

/// The ChaCha20 quarter round on words `a, b, c, d` of `s`.
#[inline(always)]
fn quarter_round(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

/// HChaCha20 (draft-irtf-cfrg-xchacha-03 §2.2): the ChaCha20 state of constants, `key` and the
/// 16-byte `nonce` (as little-endian words 12–15 in place of counter and nonce), 20 rounds,
/// **no** final addition; the output is words 0–3 then 12–15, little-endian.
pub fn hchacha20(key: &[u8; 32], nonce: &[u8; 16]) -> [u8; 32] {
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut s = [0u32; 16];
    s[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    for (w, k) in s[4..12].iter_mut().zip(key.chunks_exact(4)) {
        *w = word(k);
    }
    for (w, n) in s[12..].iter_mut().zip(nonce.chunks_exact(4)) {
        *w = word(n);
    }
    for _ in 0..10 {
        quarter_round(&mut s, 0, 4, 8, 12);
        quarter_round(&mut s, 1, 5, 9, 13);
        quarter_round(&mut s, 2, 6, 10, 14);
        quarter_round(&mut s, 3, 7, 11, 15);
        quarter_round(&mut s, 0, 5, 10, 15);
        quarter_round(&mut s, 1, 6, 11, 12);
        quarter_round(&mut s, 2, 7, 8, 13);
        quarter_round(&mut s, 3, 4, 9, 14);
    }
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(s[..4].iter().chain(&s[12..])) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    s.zeroize();
    out
}

/// The public layout of a scheme (shape-dependent offsets, no key material).
enum Kind {
    /// `pe` / `pe-np`; `shuffle` only when the image has 3 channels.
    Pe { shuffle: bool },
    /// `le` with block side `b`: `within` are a block's byte offsets (`d = b²·C` of them),
    /// `bases` the blocks' first bytes (row-major); `rows` is `Some(b·C)` when the AVX2 nibble
    /// kernel ([`kernels::le_blocks_in_place`]) runs (rows of 8..=16 bytes on an AVX2 CPU).
    Le {
        b: usize,
        within: Vec<u32>,
        bases: Vec<u32>,
        rows: Option<usize>,
    },
    /// `etc`: `bases` are the blocks' first bytes (row-major), `within[t]` the offset of pixel
    /// `t = r·b + c` of a block, `orient[o][t]` the offset of its source pixel under
    /// orientation `o`; `tables` the row-gather tables of [`kernels::etc_blocks`] when a
    /// block's rows fit them (8..=16 bytes).
    Etc {
        bases: Vec<u32>,
        within: Vec<u32>,
        orient: Box<[Vec<u32>; 8]>,
        tables: Option<BlockTables>,
    },
}

/// The per-image key material of one image: reused buffers (no allocation once they have
/// grown), each fully overwritten by an image's draws before it is read, zeroed when a batch
/// (or a single image) is done.
#[derive(Default)]
struct KeyScratch {
    bits: Vec<u8>,
    perm: Vec<u32>,
    inv: Vec<u32>,
    rev: Vec<bool>,
    table: Vec<Entry>,
    orient: Vec<u8>,
    codes: Vec<u8>,
    plan: NibblePlan,
}

impl KeyScratch {
    fn wipe(&mut self) {
        kernels::wipe(&mut self.bits);
        kernels::wipe(&mut self.perm);
        kernels::wipe(&mut self.inv);
        kernels::wipe(&mut self.rev);
        kernels::wipe(&mut self.table);
        kernels::wipe(&mut self.orient);
        kernels::wipe(&mut self.codes);
        self.plan.wipe();
    }
}

/// Makes `v` hold `n` elements. When the length is already `n` (the next image of a batch)
/// nothing is written here: `v` keeps the last image's values, which the caller's draws
/// overwrite in full.
fn size_to<T: Copy + Default>(v: &mut Vec<T>, n: usize) {
    if v.len() != n {
        v.clear();
        v.resize(n, T::default());
    }
}

thread_local! {
    static KEYS: RefCell<KeyScratch> = RefCell::new(KeyScratch::default());
}

/// Wipes the key scratch it borrows when dropped: after the image and on unwinding alike.
struct WipeOnDrop<'a>(&'a mut KeyScratch);

impl Drop for WipeOnDrop<'_> {
    fn drop(&mut self) {
        self.0.wipe();
    }
}

/// Runs `f` with this thread's key scratch (a fresh one if it is in use), then wipes it —
/// also when `f` panics.
fn with_keys<R>(f: impl FnOnce(&mut KeyScratch) -> R) -> R {
    KEYS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut k) => {
            let guard = WipeOnDrop(&mut k);
            f(&mut *guard.0)
        }
        Err(_) => {
            let mut k = KeyScratch::default();
            let guard = WipeOnDrop(&mut k);
            f(&mut *guard.0)
        }
    })
}

/// Derivation-v3 per-image keying of one scheme and shape: the stream key `K` and the public
/// layout. Built once per batch cipher; [`PerImageKeys::apply`] encrypts or decrypts one image
/// under one nonce.
///
/// Invariant: `key` (wiped on drop) is `derive(label, ctx)` of the scheme; the layout fits
/// `shape` (the block size divides its sides).
pub struct PerImageKeys {
    shape: Shape,
    kind: Kind,
    key: MasterSecret,
}

impl PerImageKeys {
    /// The v3 per-image keying of `spec` on `shape` under `secret`, or `None` for a scheme that
    /// keeps the v2 per-image derivation (`logistic`, chains).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] if a block size does not divide the image sides.
    pub fn new(spec: &SchemeSpec, shape: Shape, secret: &MasterSecret) -> Result<Option<Self>> {
        let (label, ctx, kind) = match spec {
            SchemeSpec::Pe { shuffle } => (
                LABEL_PE,
                context(shape, &[u32::from(*shuffle)]),
                Kind::Pe {
                    shuffle: *shuffle && shape.channels() == 3,
                },
            ),
            SchemeSpec::Le { block } => {
                let b = check_block("le", shape, *block)?;
                let (within, bases) = block_layout(shape, b);
                let c = shape.channels();
                let rows = (has_avx2() && simd_rows(b, c)).then_some(b * c);
                (
                    LABEL_LE,
                    context(shape, &[*block]),
                    Kind::Le {
                        b,
                        within,
                        bases,
                        rows,
                    },
                )
            }
            SchemeSpec::Etc { block } => {
                let b = check_block("etc", shape, *block)?;
                let (w, c) = (shape.width(), shape.channels());
                let (_, bases) = block_layout(shape, b);
                let at = |r: usize, col: usize| ((r * w + col) * c) as u32;
                let within = (0..b * b).map(|t| at(t / b, t % b)).collect();
                let orient = Box::new(std::array::from_fn(|o| {
                    (0..b * b)
                        .map(|t| {
                            let (r2, c2) = orient_source(o as u8, b, t / b, t % b);
                            at(r2, c2)
                        })
                        .collect()
                }));
                (
                    LABEL_ETC,
                    context(shape, &[*block]),
                    Kind::Etc {
                        bases,
                        within,
                        orient,
                        tables: BlockTables::new(b, c),
                    },
                )
            }
            SchemeSpec::Logistic { .. } | SchemeSpec::Chain { .. } => return Ok(None),
        };
        Ok(Some(Self {
            shape,
            kind,
            key: secret.derive(label, &ctx),
        }))
    }

    /// The image shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Encrypts (`encrypt`) or decrypts one image in place under `nonce`.
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] if `image` is not one image of the shape.
    pub fn apply(&self, nonce: &Nonce, image: &mut [u8], encrypt: bool) -> Result<()> {
        check_len(self.shape, image)?;
        self.apply_seeded(hchacha20(self.key.expose_bytes(), &nonce.0), image, encrypt);
        Ok(())
    }

    /// Encrypts (`encrypt`) or decrypts the images of `images` (whole images of the shape,
    /// concatenated) in place, image `i` under `nonces[i]`: what [`PerImageKeys::apply`] does
    /// image by image, with the HChaCha20 subkeys of eight images computed at once on AVX2
    /// CPUs.
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] if `images` is not `nonces.len()` images of the shape.
    pub fn apply_batch(&self, nonces: &[Nonce], images: &mut [u8], encrypt: bool) -> Result<()> {
        let len = self.shape.len();
        if images.len() != nonces.len() * len {
            return Err(crate::Error::ShapeMismatch {
                expected: format!("{} images of {}", nonces.len(), self.shape),
                found: format!("{} bytes", images.len()),
            });
        }
        let key = self.key.expose_bytes();
        let mut groups = images.chunks_exact_mut(8 * len).zip(nonces.chunks_exact(8));
        // Wiped on drop, also when a panic unwinds through the loop.
        let mut seeds = zeroize::Zeroizing::new([[0u8; 32]; 8]);
        // The first `pre` blocks of the eight streams, from sixteen-lane AVX-512 calls (none
        // without AVX-512: each sampler computes its stream).
        let pre = if kernels::has_avx512() {
            self.prefill_blocks()
        } else {
            0
        };
        // The key words of the eight seeds, and the streams' first blocks: every byte is
        // written by the calls before it is read; given back to the pool as a secret (wiped),
        // also on unwinding. Only where they are used.
        let mut multi = (pre > 0 && nonces.len() >= 8).then(|| {
            (
                zeroize::Zeroizing::new([[0u32; 8]; kernels::MULTI_KEYS]),
                pool::Scratch::<u8>::dirty(1024 * (8 * pre).div_ceil(16)),
            )
        });
        // EtC moves blocks out of a padded copy of the image: one copy buffer for the batch,
        // each image's copy overwriting the last, given back to the pool as a secret (wiped)
        // when the batch is done, also on unwinding (one wipe per batch instead of one per
        // image).
        let mut copy = matches!(
            self.kind,
            Kind::Etc {
                tables: Some(_),
                ..
            }
        )
        .then(|| pool::Scratch::<u8>::dirty(len + 2 * ROW_PAD));
        // One sampler and this thread's key scratch for the batch (see the module docs):
        // wiped when the batch is done, also on unwinding.
        with_keys(|keys| {
            let mut sampler: Option<Sampler> = None;
            for (group, n) in &mut groups {
                let n: [[u8; 16]; 8] = std::array::from_fn(|l| n[l].0);
                if !kernels::hchacha20_x8(key, &n, &mut seeds) {
                    for (seed, nonce) in seeds.iter_mut().zip(&n) {
                        *seed = hchacha20(key, nonce);
                    }
                }
                if let Some((words, streams)) = &mut multi {
                    for (w, seed) in words.iter_mut().zip(seeds.iter()) {
                        for (v, b) in w.iter_mut().zip(seed.chunks_exact(4)) {
                            *v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                        }
                    }
                    // Lane u of the calls: block u mod pre of image ⌊u / pre⌋, so each image's
                    // blocks are consecutive in `streams` (lanes past the eighth image: ignored).
                    let (mut m, mut c) = (0u32, 0u32);
                    for chunk in streams.chunks_exact_mut(1024) {
                        let mut img = [0u32; 16];
                        let mut ctr = [0u32; 16];
                        for (i, k) in img.iter_mut().zip(&mut ctr) {
                            (*i, *k) = (m, c);
                            c += 1;
                            if c as usize == pre {
                                (m, c) = (m + 1, 0);
                            }
                        }
                        let out: &mut [u8; 1024] = chunk.try_into().expect("1024 bytes");
                        let done = kernels::chacha20_multi16(words, &img, &ctr, out);
                        assert!(done, "the AVX-512 kernel runs when chosen");
                    }
                }
                for (m, (image, seed)) in group.chunks_exact_mut(len).zip(seeds.iter()).enumerate()
                {
                    // The sampler wipes its buffer and key when dropped, as `seeds` and
                    // `multi` are.
                    let s = match &mut sampler {
                        Some(s) => {
                            s.reseed(*seed);
                            s
                        }
                        None => sampler.insert(Sampler::from_seed(*seed)),
                    };
                    if let Some((_, streams)) = &multi {
                        s.prefill(&streams[64 * pre * m..][..64 * pre]);
                    }
                    self.apply_with(s, keys, image, encrypt, copy.as_deref_mut());
                }
            }
        });
        drop((seeds, multi));
        let done = nonces.len() / 8 * 8;
        for (image, nonce) in images[done * len..]
            .chunks_exact_mut(len)
            .zip(&nonces[done..])
        {
            self.apply(nonce, image, encrypt)?;
        }
        Ok(())
    }

    /// Keystream blocks of an image's stream that [`PerImageKeys::apply_batch`] computes ahead
    /// for eight images at once (at most [`PREFILL_MAX`] bytes), from the bytes its draws read
    /// on average with a margin (for `pe` the rejected bytes of the colour codes).
    fn prefill_blocks(&self) -> usize {
        let len = self.shape.len();
        // About 256/252 bytes a code (`below_small(6)`), plus a margin.
        let codes = |n: usize| n + n / 63 + 16;
        let bytes = match &self.kind {
            Kind::Pe { shuffle } => len.div_ceil(8) + if *shuffle { codes(len / 3) } else { 0 },
            Kind::Le { within, .. } => 4 * (2 * within.len()).saturating_sub(1),
            Kind::Etc { bases, .. } => {
                let n = bases.len();
                let c = self.shape.channels();
                4 * n.saturating_sub(1) + n + n.div_ceil(8) + if c == 3 { codes(n) } else { 0 }
            }
        };
        // Streams longer than the prefill continue sixteen blocks at a time: prefill the
        // remainder (e.g. `pe` on 32×32×3: 7 + 16 blocks, not 8 + 16).
        let (t, max) = (bytes.div_ceil(64), PREFILL_MAX / 64);
        match t % 16 {
            _ if t <= max => t,
            r if r != 0 && r <= max => r,
            _ => max,
        }
    }

    /// [`PerImageKeys::apply`] on an image of the shape with its stream seed (the HChaCha20
    /// subkey of its nonce).
    fn apply_seeded(&self, seed: [u8; 32], image: &mut [u8], encrypt: bool) {
        with_keys(|k| self.apply_with(&mut Sampler::from_seed(seed), k, image, encrypt, None));
    }

    /// [`PerImageKeys::apply`] on an image of the shape reading the stream of `s`; `copy` is
    /// the buffer for EtC's padded copy of the image (`len + 2·ROW_PAD` bytes, wiped by the
    /// caller), or `None` for one from the pool.
    fn apply_with(
        &self,
        s: &mut Sampler,
        k: &mut KeyScratch,
        image: &mut [u8],
        encrypt: bool,
        copy: Option<&mut [u8]>,
    ) {
        match &self.kind {
            Kind::Pe { shuffle } => pe(s, k, image, *shuffle, encrypt),
            Kind::Le {
                b,
                within,
                bases,
                rows,
            } => {
                let d = within.len();
                s.permutation_into(2 * d, &mut k.perm);
                size_to(&mut k.rev, k.perm.len());
                kernels::above(&k.perm, d as u32, &mut k.rev);
                let ord = if encrypt {
                    &k.perm
                } else {
                    k.inv.clear();
                    k.inv.resize(k.perm.len(), 0);
                    for (j, &q) in k.perm.iter().enumerate() {
                        // `perm` is a permutation of 0..2d (Fisher–Yates from the identity).
                        k.inv[q as usize] = j as u32;
                    }
                    &k.inv
                };
                if let Some(rb) = rows {
                    k.plan.build(*b, *rb, ord, &k.rev);
                    let stride = self.shape.width() * self.shape.channels();
                    let done = kernels::le_blocks_in_place(&k.plan, image, stride, bases);
                    assert!(done, "`rows` is set only where the AVX2 kernels run");
                } else {
                    le::table_into(ord, &k.rev, within, &mut k.table);
                    le::apply_table(self.shape, *b, image, &k.table);
                }
            }
            Kind::Etc {
                bases,
                within,
                orient,
                tables,
            } => etc(
                s,
                k,
                image,
                (bases, within, &**orient),
                (tables.as_ref(), copy),
                self.shape,
                encrypt,
            ),
        }
    }
}

/// `pe` / `pe-np` under one image's stream (see the module docs for the draws): the NP bits
/// as one XOR pass ([`xor_bits`]), then (3 channels) the colour codes as one shuffle pass
/// ([`shuffle3`]); decryption undoes the shuffle first. With SIMD kernels the two passes are
/// one ([`kernels::xor_shuffle3`]).
fn pe(s: &mut Sampler, k: &mut KeyScratch, image: &mut [u8], shuffle: bool, encrypt: bool) {
    size_to(&mut k.bits, image.len().div_ceil(8));
    s.fill(&mut k.bits);
    if !shuffle {
        xor_bits(image, &k.bits);
        return;
    }
    size_to(&mut k.codes, image.len() / 3);
    s.below6_into(&mut k.codes);
    let sh = if encrypt { &SHUFFLE_ENC } else { &SHUFFLE_DEC };
    if kernels::xor_shuffle3(image, &k.bits, &k.codes, sh, encrypt) {
        return;
    }
    if encrypt {
        xor_bits(image, &k.bits);
        shuffle3(image, &k.codes, &SHUFFLE_ENC);
    } else {
        shuffle3(image, &k.codes, &SHUFFLE_DEC);
        xor_bits(image, &k.bits);
    }
}

/// `etc` under one image's stream: block permutation, orientations, NP bits, colour codes.
/// With block tables the blocks move out of a padded copy of the image, made in `copy` when
/// given (see [`PerImageKeys::apply_with`]), else in a buffer from the pool.
fn etc(
    s: &mut Sampler,
    k: &mut KeyScratch,
    image: &mut [u8],
    (bases, within, orient): (&[u32], &[u32], &[Vec<u32>; 8]),
    (tables, copy): (Option<&BlockTables>, Option<&mut [u8]>),
    shape: Shape,
    encrypt: bool,
) {
    // The image is first read after its key has been drawn (the copy below): asking for its
    // lines now lets them arrive while the keystream and the permutation are computed.
    // (Measured on per-image `etc`, 32×32×3, AVX2: 1.07× faster; `pe` and `le` gained
    // nothing from it.)
    kernels::prefetch(image);
    let n = bases.len();
    let c = shape.channels();
    s.permutation_into(n, &mut k.perm);
    // `below_small(8)` rejects nothing: it is the next byte mod 8.
    size_to(&mut k.orient, n);
    s.fill(&mut k.orient);
    for o in &mut k.orient {
        *o &= 7;
    }
    size_to(&mut k.bits, n.div_ceil(8));
    s.fill(&mut k.bits);
    size_to(&mut k.codes, if c == 3 { n } else { 0 });
    s.below6_into(&mut k.codes);
    let k = &*k;
    if let Some(t) = tables {
        let key = EtcBlockKey {
            perm: &k.perm,
            orient: &k.orient,
            np: &k.bits,
            codes: &k.codes,
        };
        let stride = shape.width() * c;
        let run =
            |src: &[u8], out: &mut [u8]| etc_blocks(t, src, out, stride, bases, &key, encrypt);
        match copy {
            Some(buf) => with_copy_in(buf, image, ROW_PAD, run),
            None => with_copy(image, ROW_PAD, run),
        }
        return;
    }
    with_copy(image, 0, |src, out| {
        // `perm` is a permutation of 0..n, orientations are < 8, codes < 6, and every offset
        // stays inside a block: no index below can be out of range.
        for (i, &ob) in bases.iter().enumerate() {
            let ob = ob as usize;
            let ib = bases[k.perm[i] as usize] as usize;
            let m = 0u8.wrapping_sub((k.bits[i / 8] >> (i % 8)) & 1);
            let off = &orient[usize::from(k.orient[i])];
            if c == 3 {
                let [t0, t1, t2] = TABLE1[usize::from(k.codes[i])].map(usize::from);
                for (&w, &o) in within.iter().zip(off) {
                    let (d, f) = (ob + w as usize, ib + o as usize);
                    if encrypt {
                        out[d] = src[f + t0] ^ m;
                        out[d + 1] = src[f + t1] ^ m;
                        out[d + 2] = src[f + t2] ^ m;
                    } else {
                        out[f + t0] = src[d] ^ m;
                        out[f + t1] = src[d + 1] ^ m;
                        out[f + t2] = src[d + 2] ^ m;
                    }
                }
            } else {
                for (&w, &o) in within.iter().zip(off) {
                    let (d, f) = (ob + w as usize, ib + o as usize);
                    for ch in 0..c {
                        if encrypt {
                            out[d + ch] = src[f + ch] ^ m;
                        } else {
                            out[f + ch] = src[d + ch] ^ m;
                        }
                    }
                }
            }
        }
    });
}

/// One image's cipher in v3 per-image mode: [`PerImageKeys`] bound to a nonce (what
/// [`crate::BatchCipher::cipher_for`] returns for these schemes).
pub struct PerImageCipher<'a> {
    keys: &'a PerImageKeys,
    nonce: Nonce,
}

impl<'a> PerImageCipher<'a> {
    /// `keys` under `nonce`.
    pub fn new(keys: &'a PerImageKeys, nonce: Nonce) -> Self {
        Self { keys, nonce }
    }
}

impl Cipher for PerImageCipher<'_> {
    fn shape(&self) -> Shape {
        self.keys.shape
    }

    fn encrypt(&self, image: &mut [u8]) -> Result<()> {
        self.keys.apply(&self.nonce, image, true)
    }

    fn decrypt(&self, image: &mut [u8]) -> Result<()> {
        self.keys.apply(&self.nonce, image, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic while an image's key is in the scratch still wipes it (the guard's drop).
    #[test]
    fn key_scratch_is_wiped_when_the_image_panics() {
        let caught = std::panic::catch_unwind(|| {
            with_keys(|k| {
                k.bits.extend_from_slice(&[0xA5; 48]);
                k.perm.extend_from_slice(&[7; 16]);
                panic!("a kernel bug");
            })
        });
        assert!(caught.is_err());
        KEYS.with(|cell| {
            let k = cell.borrow();
            assert_eq!(k.bits, vec![0u8; 48], "key bits left behind");
            assert_eq!(k.perm, vec![0u32; 16], "permutation left behind");
        });
    }

    /// A batch leaves no key material in this thread's key scratch (wiped once, when the
    /// batch is done).
    #[test]
    fn key_scratch_is_wiped_after_a_batch() {
        let secret = MasterSecret::from_bytes([5; 32]);
        let shape = Shape::new(32, 32, 3).expect("valid shape");
        for spec in [
            SchemeSpec::Pe { shuffle: true },
            SchemeSpec::Le { block: 4 },
            SchemeSpec::Etc { block: 4 },
        ] {
            let keys = PerImageKeys::new(&spec, shape, &secret)
                .expect("scheme builds")
                .expect("scheme has a stream");
            let nonces: Vec<Nonce> = (0..16).map(|i| Nonce([i as u8 + 3; 16])).collect();
            let mut img = vec![77u8; 16 * shape.len()];
            keys.apply_batch(&nonces, &mut img, true)
                .expect("the batch");
            KEYS.with(|cell| {
                let k = cell.borrow();
                let zero = |v: &[u8]| v.iter().all(|&b| b == 0);
                assert!(
                    zero(&k.bits) && zero(&k.codes) && zero(&k.orient),
                    "{}",
                    spec.name()
                );
                assert!(k.perm.iter().all(|&v| v == 0), "{}", spec.name());
                assert!(
                    !(k.bits.is_empty() && k.perm.is_empty()),
                    "{}: scratch used",
                    spec.name()
                );
            });
        }
    }

    /// draft-irtf-cfrg-xchacha-03 §2.2.1, the HChaCha20 test vector.
    #[test]
    fn hchacha20_test_vector() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let nonce = [
            0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x4a, 0x00, 0x00, 0x00, 0x00, 0x31, 0x41,
            0x59, 0x27,
        ];
        assert_eq!(
            hex::encode(hchacha20(&key, &nonce)),
            "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
        );
    }

    /// The batch path (eight subkeys at a time and, with AVX-512, the streams' first blocks
    /// for eight images at once; then the rest one by one) equals `apply`, for streams shorter
    /// and longer than the prefilled part.
    #[test]
    fn apply_batch_is_apply_image_by_image() {
        let secret = MasterSecret::from_bytes([4; 32]);
        for (shape, spec) in [(8, 8, 3), (32, 32, 3), (64, 48, 3), (28, 28, 1)]
            .into_iter()
            .flat_map(|(h, w, c)| {
                let shape = Shape::new(h, w, c).expect("valid shape");
                [
                    SchemeSpec::Pe { shuffle: true },
                    SchemeSpec::Pe { shuffle: false },
                    SchemeSpec::Le { block: 4 },
                    SchemeSpec::Etc { block: 4 },
                ]
                .map(|spec| (shape, spec))
            })
        {
            let keys = PerImageKeys::new(&spec, shape, &secret)
                .expect("scheme builds")
                .expect("scheme has a stream");
            let n = 19;
            let nonces: Vec<Nonce> = (0..n).map(|i| Nonce([i as u8 * 7 + 1; 16])).collect();
            let img: Vec<u8> = (0..n * shape.len()).map(|i| (i * 29 % 253) as u8).collect();
            let mut want = img.clone();
            for (im, nonce) in want.chunks_exact_mut(shape.len()).zip(&nonces) {
                keys.apply(nonce, im, true).expect("one image");
            }
            let mut got = img.clone();
            keys.apply_batch(&nonces, &mut got, true)
                .expect("the batch");
            assert_eq!(got, want, "{} {shape}", spec.name());
            keys.apply_batch(&nonces, &mut got, false)
                .expect("the batch");
            assert_eq!(got, img, "{} {shape}", spec.name());
            assert!(keys.apply_batch(&nonces[1..], &mut got, true).is_err());
        }
    }

    /// Per-image `etc`: the block path (row-gather tables) equals the general path for the
    /// same stream, both directions, for every block row length the kernel handles.
    #[test]
    fn etc_block_path_matches_the_general_one() {
        let secret = MasterSecret::from_bytes([6; 32]);
        for (h, w, c, b) in crate::etc::KERNEL_SHAPES {
            let shape = Shape::new(h, w, c).expect("valid shape");
            let keys = PerImageKeys::new(&SchemeSpec::Etc { block: b }, shape, &secret)
                .expect("etc builds")
                .expect("etc has a stream");
            let Kind::Etc {
                bases,
                within,
                orient,
                tables,
            } = &keys.kind
            else {
                panic!("an etc key");
            };
            assert!(tables.is_some(), "{shape} b={b}: the block path runs");
            let img: Vec<u8> = (0..shape.len()).map(|i| (i * 89 % 247) as u8).collect();
            for encrypt in [true, false] {
                let run = |t: Option<&BlockTables>| {
                    let mut im = img.clone();
                    let mut s = Sampler::from_seed([9; 32]);
                    with_keys(|k| {
                        etc(
                            &mut s,
                            k,
                            &mut im,
                            (bases, within, &**orient),
                            (t, None),
                            shape,
                            encrypt,
                        );
                    });
                    im
                };
                assert_eq!(
                    run(tables.as_ref()),
                    run(None),
                    "{shape} b={b} encrypt={encrypt}"
                );
            }
        }
    }

    /// Each scheme's per-image cipher equals the fixed-key construction on the values the
    /// stream gives (checked through the same draws, read back by a second sampler).
    #[test]
    fn pe_follows_the_documented_stream() {
        let shape = Shape::new(5, 7, 3).expect("valid shape");
        let secret = MasterSecret::from_bytes([8; 32]);
        let keys = PerImageKeys::new(&SchemeSpec::Pe { shuffle: true }, shape, &secret)
            .expect("pe builds")
            .expect("pe has a stream");
        let nonce = Nonce([5; 16]);
        let img: Vec<u8> = (0..shape.len()).map(|i| (i * 37 % 251) as u8).collect();
        let mut got = img.clone();
        keys.apply(&nonce, &mut got, true).expect("one image");
        let k = secret.derive(LABEL_PE, &context(shape, &[1]));
        let mut s = Sampler::from_seed(hchacha20(k.expose_bytes(), &nonce.0));
        let bits = s.bits(shape.len());
        let mut want = img.clone();
        for (i, px) in want.chunks_exact_mut(3).enumerate() {
            let y: Vec<u8> = (0..3)
                .map(|c| img[3 * i + c] ^ if bits[3 * i + c] { 0xFF } else { 0 })
                .collect();
            let t = TABLE1[usize::from(s.below_small(6))];
            for c in 0..3 {
                px[c] = y[usize::from(t[c])];
            }
        }
        assert_eq!(got, want);
        keys.apply(&nonce, &mut got, false).expect("one image");
        assert_eq!(got, img);
    }
}
