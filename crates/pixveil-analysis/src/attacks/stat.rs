//! Ciphertext-only attack on a fixed key with public statistics (`stat`).
//!
//! The attacker holds the victim's ciphertexts (all under one fixed key) and public plain images
//! of the same kind (another split of the dataset) — no pair, no chosen image. From the public
//! images it estimates, for every position, the histogram of plain values; then, for every
//! position, it chooses the key hypothesis under which the decrypted ciphertexts are most
//! likely under those histograms (maximum likelihood, independent positions):
//!
//! `score(h) = Σ_images log P_pos(decrypt_h(c)[pos])`, computed from the ciphertexts' own
//! per-position histograms (`Σ_v count_c[v] · log P(v ⊕ m)`).
//!
//! | scheme | hypotheses, per position | solved by |
//! |---|---|---|
//! | `pe-np`, `pe` on grey | NP flip `m ∈ {0, 0xFF}` per byte | argmax per byte |
//! | `pe` (RGB) | per pixel: channel order (6) × a flip per channel | assignment in the pixel |
//! | `logistic`, `grey` (chains of byte XOR/NP) | XOR byte `m ∈ 0..256` per byte | argmax per byte |
//! | `le/b` | per nibble position of the block (same key in every block): source nibble × flip | assignment of the `2b²C` nibbles |
//! | `etc/b` | per block position: source block × orientation (8) × colour order (6) × NP | assignment of the blocks |
//!
//! Assignments (a permutation is a set of per-position choices that must not collide) are
//! solved exactly (Hungarian algorithm) on the per-pair best scores. Histograms have 256 bins
//! per byte, 16 per nibble, and 32 per byte for EtC (values `>> 3`; NP maps bin `k` to
//! `31 − k`, so flips stay exact), smoothed with ½ a count per bin.
//!
//! Theory (papers.md §8): every fixed-key pixel scheme is a fixed per-position map, so the
//! attack needs only that positions differ in their statistics; it fails when the public
//! images come from another distribution than the victim's (MNIST statistics against
//! Fashion-MNIST ciphertexts), and against per-image keys (there is no one key to fit).

use pixveil_cipher::SchemeSpec;
use pixveil_image::{ImageBatch, Shape};
use rayon::prelude::*;

use super::coa::orient;
use super::{
    score_rows, AttackOutcome, EncryptionOracle, Locality, MaskAlphabet, Meta, Model, Unit,
};
use crate::{Error, Result};

/// Half a count per bin of smoothing.
const SMOOTHING: f64 = 0.5;

/// Per-position histograms: `counts[pos·bins + bin]`.
struct Hist {
    bins: usize,
    counts: Vec<u32>,
}

impl Hist {
    /// Histograms of the samples of `images` under `model`, `positions` per image, with
    /// values shifted right by `shift`.
    fn of(model: &Model, images: &ImageBatch, bins: usize, shift: u32) -> Result<Hist> {
        let shape = images.shape();
        let positions = match model.unit {
            Unit::Byte => shape.len(),
            Unit::Nibble { .. } => 2 * shape.len(),
        };
        let chunks: Vec<Vec<u32>> = images
            .as_bytes()
            .par_chunks(shape.len() * 256)
            .map(|chunk| -> Result<Vec<u32>> {
                let mut counts = vec![0u32; positions * bins];
                for img in chunk.chunks_exact(shape.len()) {
                    let units: Vec<u8> = model.to_units(img, shape)?.concat();
                    for (p, &v) in units.iter().enumerate() {
                        counts[p * bins + usize::from(v >> shift)] += 1;
                    }
                }
                Ok(counts)
            })
            .collect::<Result<_>>()?;
        let mut counts = vec![0u32; positions * bins];
        for c in chunks {
            for (a, b) in counts.iter_mut().zip(c) {
                *a += b;
            }
        }
        Ok(Hist { bins, counts })
    }

    fn row(&self, pos: usize) -> &[u32] {
        &self.counts[pos * self.bins..(pos + 1) * self.bins]
    }

    /// Smoothed log-probabilities of the same layout.
    fn log_probs(&self, images: usize) -> Vec<f64> {
        let denom = (images as f64 + SMOOTHING * self.bins as f64).ln();
        self.counts
            .iter()
            .map(|&c| (f64::from(c) + SMOOTHING).ln() - denom)
            .collect()
    }
}

/// `Σ_v cnt[v] · logp[v ⊕ m]`: log-likelihood of ciphertext histogram `cnt` decrypted with
/// bin mask `m` under the plain log-probabilities `logp`.
fn pair_score(cnt: &[u32], logp: &[f64], m: usize) -> f64 {
    cnt.iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(v, &c)| f64::from(c) * logp[v ^ m])
        .sum()
}

/// The best mask of `masks` (bin masks) for one pair: `(score, index into masks)`.
fn best_mask(cnt: &[u32], logp: &[f64], masks: &[usize]) -> (f64, usize) {
    masks
        .iter()
        .enumerate()
        .map(|(k, &m)| (pair_score(cnt, logp, m), k))
        .fold((f64::NEG_INFINITY, 0), |a, b| if b.0 > a.0 { b } else { a })
}

/// Minimum-cost perfect assignment of the `n×n` row-major `cost` matrix (Hungarian algorithm,
/// `O(n³)`): `col[row]`. Costs must be finite.
pub(crate) fn assign(cost: &[f64], n: usize) -> Vec<usize> {
    assert_eq!(cost.len(), n * n, "assignment needs an n×n matrix");
    assert!(
        cost.iter().all(|c| c.is_finite()),
        "assignment costs must be finite"
    );
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; n + 1];
    let mut p = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=n {
                if !used[j] {
                    let cur = cost[(i0 - 1) * n + j - 1] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut col = vec![0; n];
    for j in 1..=n {
        if p[j] != 0 {
            col[p[j] - 1] = j - 1;
        }
    }
    col
}

/// All permutations of `0..n` (`n ≤ 4`).
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for k in 0..n {
            let mut q = p.clone();
            q.insert(k, n - 1);
            out.push(q);
        }
    }
    out
}

/// The key the attack recovered: plain unit `i` of every sample is ciphertext unit `src[i]`
/// XOR `mask[i]` (units and samples as in [`Model`]: bytes of the image, or nibbles of each
/// LE block).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatKey {
    /// The unit model of the samples.
    pub model: Model,
    /// Source unit per plain unit (a permutation of the sample's units).
    pub src: Vec<u32>,
    /// Mask per plain unit.
    pub mask: Vec<u8>,
    /// Hypothesis space, for notes.
    pub method: &'static str,
}

impl StatKey {
    /// Decrypts one ciphertext (`H·W·C` bytes of `shape`) with the recovered key.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `cipher` is not one image of `shape` or the key is for
    /// another sample length.
    pub fn decrypt(&self, cipher: &[u8], shape: Shape) -> Result<Vec<u8>> {
        let mismatch = |found: String| Error::ShapeMismatch {
            op: "stat decrypt",
            expected: format!(
                "{} bytes ({shape}), samples of {}",
                shape.len(),
                self.src.len()
            ),
            found,
        };
        if cipher.len() != shape.len() {
            return Err(mismatch(format!("{} bytes", cipher.len())));
        }
        let samples = self.model.to_units(cipher, shape)?;
        let out: Vec<Vec<u8>> = samples
            .iter()
            .map(|y| {
                if y.len() != self.src.len() {
                    return Err(mismatch(format!("samples of {}", y.len())));
                }
                Ok(self
                    .src
                    .iter()
                    .zip(&self.mask)
                    .map(|(&j, &m)| y[j as usize] ^ m)
                    .collect())
            })
            .collect::<Result<_>>()?;
        self.model.from_units(&out, shape)
    }
}

/// Fits a key of `spec` to `ciphertexts` (all under one key) by maximum likelihood under the
/// per-position statistics of `public` (plain images of the same shape).
///
/// # Errors
/// [`Error::ShapeMismatch`] if the two batches differ in shape; [`Error::NotEnoughImages`] if
/// either is empty; [`Error::InvalidParameter`] for a scheme whose key is not a fixed
/// per-position map this attack models (a chain that moves bytes across the image) or a block
/// that does not divide the shape.
pub fn fit(spec: &SchemeSpec, ciphertexts: &ImageBatch, public: &ImageBatch) -> Result<StatKey> {
    let shape = ciphertexts.shape();
    if public.shape() != shape {
        return Err(Error::ShapeMismatch {
            op: "stat",
            expected: format!("public images of the victims' shape {shape}"),
            found: public.shape().to_string(),
        });
    }
    if ciphertexts.is_empty() || public.is_empty() {
        return Err(Error::NotEnoughImages(format!(
            "the statistical attack needs ciphertexts and public images ({} and {})",
            ciphertexts.len(),
            public.len()
        )));
    }
    let model = Model::for_spec(spec, shape);
    match (spec, model.unit, model.locality) {
        (SchemeSpec::Etc { block }, _, _) => fit_blocks(*block as usize, ciphertexts, public),
        (_, Unit::Nibble { .. }, _) => fit_nibbles(model, ciphertexts, public),
        (_, Unit::Byte, Locality::Identity) => fit_groups(model, 1, ciphertexts, public),
        (_, Unit::Byte, Locality::Group(g)) => fit_groups(model, g.max(1), ciphertexts, public),
        (_, Unit::Byte, Locality::Global) => Err(Error::InvalidParameter(format!(
            "the statistical attack has no model for {}: it moves bytes across the image",
            spec.name()
        ))),
    }
}

/// Bin masks of an alphabet: `[0, full]` or every value.
fn bin_masks(model: &Model, bins: usize) -> Vec<usize> {
    match model.mask {
        MaskAlphabet::Complement => vec![0, bins - 1],
        MaskAlphabet::Any => (0..bins).collect(),
    }
}

/// Byte schemes whose bytes stay inside aligned groups of `g` (1: in place).
fn fit_groups(
    model: Model,
    g: usize,
    ciphertexts: &ImageBatch,
    public: &ImageBatch,
) -> Result<StatKey> {
    let l = ciphertexts.shape().len();
    let cnt = Hist::of(&model, ciphertexts, 256, 0)?;
    let logp = Hist::of(&model, public, 256, 0)?.log_probs(public.len());
    let masks = bin_masks(&model, 256);
    let groups: Vec<(Vec<u32>, Vec<u8>)> = (0..l.div_ceil(g))
        .into_par_iter()
        .map(|k| {
            let start = k * g;
            let n = g.min(l - start);
            // best[i·n + j]: plain unit start+i from cipher unit start+j.
            let best: Vec<(f64, usize)> = (0..n * n)
                .map(|ij| {
                    let (i, j) = (ij / n, ij % n);
                    best_mask(
                        cnt.row(start + j),
                        &logp[(start + i) * 256..(start + i + 1) * 256],
                        &masks,
                    )
                })
                .collect();
            let col = if n == 1 {
                vec![0]
            } else {
                assign(&best.iter().map(|b| -b.0).collect::<Vec<_>>(), n)
            };
            col.iter()
                .enumerate()
                .map(|(i, &j)| ((start + j) as u32, masks[best[i * n + j].1] as u8))
                .unzip()
        })
        .collect();
    let (mut src, mut mask) = (Vec::with_capacity(l), Vec::with_capacity(l));
    for (s, m) in groups {
        src.extend(s);
        mask.extend(m);
    }
    Ok(StatKey {
        model,
        src,
        mask,
        method: if g == 1 {
            "per-value mask"
        } else {
            "per-pixel channel order and flips"
        },
    })
}

/// LE: one nibble permutation with flips shared by every block.
fn fit_nibbles(model: Model, ciphertexts: &ImageBatch, public: &ImageBatch) -> Result<StatKey> {
    let l = model.sample_len(ciphertexts.shape());
    let cnt = Hist::of(&model, ciphertexts, 16, 0)?;
    let logp = Hist::of(&model, public, 16, 0)?.log_probs(public.len());
    let blocks = 2 * ciphertexts.shape().len() / l;
    let masks = bin_masks(&model, 16);
    let best: Vec<(f64, usize)> = (0..l * l)
        .into_par_iter()
        .map(|ij| {
            let (i, j) = (ij / l, ij % l);
            let mut s = [0.0f64; 2];
            for b in 0..blocks {
                let lp = &logp[(b * l + i) * 16..(b * l + i + 1) * 16];
                for (sk, &m) in s.iter_mut().zip(&masks) {
                    *sk += pair_score(cnt.row(b * l + j), lp, m);
                }
            }
            if s[1] > s[0] {
                (s[1], 1)
            } else {
                (s[0], 0)
            }
        })
        .collect();
    let col = assign(&best.iter().map(|b| -b.0).collect::<Vec<_>>(), l);
    let (src, mask) = col
        .iter()
        .enumerate()
        .map(|(i, &j)| (j as u32, masks[best[i * l + j].1] as u8))
        .unzip();
    Ok(StatKey {
        model,
        src,
        mask,
        method: "nibble permutation and flips",
    })
}

/// EtC: block permutation, and per block an orientation, a colour order and an NP flip.
fn fit_blocks(b: usize, ciphertexts: &ImageBatch, public: &ImageBatch) -> Result<StatKey> {
    let shape = ciphertexts.shape();
    let (h, w, c) = (shape.height(), shape.width(), shape.channels());
    if b == 0 || h % b != 0 || w % b != 0 {
        return Err(Error::InvalidParameter(format!(
            "block {b} does not divide the {shape} image"
        )));
    }
    let model = Model {
        unit: Unit::Byte,
        locality: Locality::Global,
        mask: MaskAlphabet::Complement,
    };
    const BINS: usize = 32;
    let cnt = Hist::of(&model, ciphertexts, BINS, 3)?;
    let logp = Hist::of(&model, public, BINS, 3)?.log_probs(public.len());
    let (gh, gw) = (h / b, w / b);
    let nb = gh * gw;
    let pos = |blk: usize, r: usize, x: usize, ch: usize| {
        (((blk / gw) * b + r) * w + (blk % gw) * b + x) * c + ch
    };
    let perms = permutations(c);
    // For plain block P and cipher block Q: (score, orientation, colour order, flip).
    let best: Vec<(f64, usize, usize, bool)> = (0..nb * nb)
        .into_par_iter()
        .map(|pq| {
            let (p, q) = (pq / nb, pq % nb);
            let mut top = (f64::NEG_INFINITY, 0, 0, false);
            for o in 0..8 {
                // t[(k·c + s)·2 + f]: plain channel k from cipher channel s with flip f.
                let mut t = vec![0.0f64; c * c * 2];
                for r in 0..b {
                    for x in 0..b {
                        let (sr, sx) = orient(o, r, x, b);
                        for k in 0..c {
                            let pi = pos(p, r, x, k);
                            let lp = &logp[pi * BINS..(pi + 1) * BINS];
                            for s in 0..c {
                                let row = cnt.row(pos(q, sr, sx, s));
                                t[(k * c + s) * 2] += pair_score(row, lp, 0);
                                t[(k * c + s) * 2 + 1] += pair_score(row, lp, BINS - 1);
                            }
                        }
                    }
                }
                for (pi, perm) in perms.iter().enumerate() {
                    for f in [false, true] {
                        let s: f64 = perm
                            .iter()
                            .enumerate()
                            .map(|(k, &s)| t[(k * c + s) * 2 + usize::from(f)])
                            .sum();
                        if s > top.0 {
                            top = (s, o, pi, f);
                        }
                    }
                }
            }
            top
        })
        .collect();
    let col = assign(&best.iter().map(|t| -t.0).collect::<Vec<_>>(), nb);
    let mut src = vec![0u32; shape.len()];
    let mut mask = vec![0u8; shape.len()];
    for (p, &q) in col.iter().enumerate() {
        let (_, o, pi, f) = best[p * nb + q];
        let perm = &perms[pi];
        for r in 0..b {
            for x in 0..b {
                let (sr, sx) = orient(o, r, x, b);
                for (k, &s) in perm.iter().enumerate() {
                    src[pos(p, r, x, k)] = pos(q, sr, sx, s) as u32;
                    mask[pos(p, r, x, k)] = if f { 0xFF } else { 0 };
                }
            }
        }
    }
    Ok(StatKey {
        model: Model {
            unit: Unit::Byte,
            locality: Locality::Global,
            mask: MaskAlphabet::Complement,
        },
        src,
        mask,
        method: "block permutation, orientation, colour order and flip",
    })
}

/// Runs the statistical attack: the victim encrypts the first `limit` images of `victims` (all
/// if `None`); the attacker fits a key to those ciphertexts with the statistics of `public`
/// and decrypts them. Queries 0, pairs 0.
///
/// # Shapes
/// `victims` and `public`: images of the oracle's shape.
///
/// # Errors
/// [`Error::InvalidParameter`] for `limit == Some(0)` or a scheme [`fit`] cannot model;
/// [`Error::ShapeMismatch`]; [`Error::NotEnoughImages`] for an empty batch; cipher errors.
pub fn run(
    oracle: &EncryptionOracle<'_>,
    victims: &ImageBatch,
    public: &ImageBatch,
    limit: Option<usize>,
) -> Result<AttackOutcome> {
    let shape = oracle.shape();
    if limit == Some(0) {
        return Err(Error::InvalidParameter(
            "--limit 0: the statistical attack needs at least one ciphertext".into(),
        ));
    }
    for (what, batch) in [("victim", victims), ("public", public)] {
        if batch.shape() != shape {
            return Err(Error::ShapeMismatch {
                op: "stat",
                expected: format!("{what} images of the key's shape {shape}"),
                found: batch.shape().to_string(),
            });
        }
        if batch.is_empty() {
            return Err(Error::NotEnoughImages(format!("no {what} image")));
        }
    }
    let held: Vec<&[u8]> = victims.images().take(limit.unwrap_or(usize::MAX)).collect();
    let cts: Vec<Vec<u8>> = held
        .par_iter()
        .map(|p| oracle.encrypt_uncounted(p))
        .collect::<Result<_>>()?;
    let batch = ImageBatch::new(shape, cts.concat())?;
    let key = fit(oracle.spec(), &batch, public)?;
    let rows: Vec<(Vec<u8>, Vec<u8>)> = cts
        .into_par_iter()
        .map(|c| -> Result<_> {
            let r = key.decrypt(&c, shape)?;
            Ok((c, r))
        })
        .collect::<Result<_>>()?;
    let model = Model::for_spec(oracle.spec(), shape);
    let scored = score_rows(&model, shape, &held, rows)?;
    Ok(scored.outcome(
        oracle,
        Meta {
            attack: "stat",
            method: "max-likelihood",
            queries: 0,
            pairs: 0,
            first: 0,
            notes: format!(
                "{} fitted to {} victim ciphertexts with the per-position histograms of {} \
                 public images; no pair, no query",
                key.method,
                held.len(),
                public.len()
            ),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixveil_cipher::{BatchCipher, KeyMode};
    use pixveil_core::MasterSecret;

    /// A tiny deterministic generator (xorshift64*), enough for synthetic test images.
    struct Rng(u64);
    impl Rng {
        fn new(seed: u64) -> Self {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn byte(&mut self) -> u8 {
            (self.next() >> 56) as u8
        }
    }

    /// `n` images whose value at each position is that position's own typical value plus a
    /// small skewed noise (0 most likely): positions differ, and no histogram is symmetric.
    fn synthetic(shape: Shape, n: usize, seed: u64, typical: &[u8]) -> ImageBatch {
        let mut rng = Rng::new(seed);
        let mut data = Vec::with_capacity(n * shape.len());
        for _ in 0..n {
            for &t in typical {
                let noise = [0u8, 0, 0, 0, 1, 1, 2, 3][usize::from(rng.byte() % 8)];
                data.push(t.saturating_add(noise));
            }
        }
        ImageBatch::new(shape, data).unwrap()
    }

    fn typical(shape: Shape, seed: u64) -> Vec<u8> {
        let mut rng = Rng::new(seed);
        (0..shape.len()).map(|_| rng.byte()).collect()
    }

    #[test]
    fn assignment_is_optimal() {
        // Brute force over all 4! assignments.
        let cost = [
            4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0, 1.0, 7.0, 3.0, 6.0, 2.0, 0.0, 9.0,
        ];
        let col = assign(&cost, 4);
        let total = |c: &[usize]| {
            c.iter()
                .enumerate()
                .map(|(i, &j)| cost[i * 4 + j])
                .sum::<f64>()
        };
        let best = permutations(4)
            .iter()
            .map(|p| total(p))
            .fold(f64::INFINITY, f64::min);
        assert_eq!(total(&col), best);
        let mut sorted = col.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_fixed_np_mask_is_recovered_exactly() {
        let shape = Shape::new(6, 6, 1).unwrap();
        let t = typical(shape, 1);
        let public = synthetic(shape, 400, 2, &t);
        let victims = synthetic(shape, 300, 3, &t);
        let mut rng = Rng::new(4);
        let mask: Vec<u8> = (0..shape.len())
            .map(|_| if rng.byte() & 1 == 1 { 0xFF } else { 0 })
            .collect();
        let mut cts = victims.clone();
        for img in cts.images_mut() {
            for (v, m) in img.iter_mut().zip(&mask) {
                *v ^= m;
            }
        }
        let key = fit(&SchemeSpec::Pe { shuffle: false }, &cts, &public).unwrap();
        assert_eq!(key.mask, mask);
        assert_eq!(key.src, (0..shape.len() as u32).collect::<Vec<_>>());
        for (c, p) in cts.images().zip(victims.images()) {
            assert_eq!(key.decrypt(c, shape).unwrap(), p);
        }
    }

    /// The attack against the real cipher of every scheme, fixed key, on synthetic images.
    #[test]
    fn every_fixed_key_scheme_falls_on_synthetic_images() {
        for (name, shape) in [
            ("pe-np", "8x8x1"),
            ("pe", "8x8x3"),
            ("logistic", "8x8x1"),
            ("grey", "8x8x1"),
            ("le", "8x8x3"),
            ("etc", "8x8x3"),
            ("etc", "8x8x1"),
        ] {
            let shape: Shape = shape.parse().unwrap();
            let spec = SchemeSpec::from_name(name, Some(4)).unwrap();
            let t = typical(shape, 10);
            let public = synthetic(shape, 2000, 11, &t);
            let victims = synthetic(shape, 2000, 12, &t);
            let secret = MasterSecret::from_bytes([7; 32]);
            let bc = BatchCipher::new(spec, shape, KeyMode::Fixed, &secret).unwrap();
            let o = run(&EncryptionOracle::new(&bc), &victims, &public, None).unwrap();
            assert_eq!(o.attack, "stat");
            assert_eq!((o.queries, o.pairs, o.held_out), (0, 0, 2000));
            assert!(
                o.recovered_fraction > 0.99,
                "{name} {shape}: {}",
                o.recovered_fraction
            );
            assert!(o.recovered_fraction > o.baselines.best(), "{name}");
        }
    }

    #[test]
    fn another_distribution_defeats_it() {
        // The public images are the inverse of the victim's kind: every NP flip is chosen
        // wrong, so almost nothing is recovered.
        let shape = Shape::new(6, 6, 1).unwrap();
        let t = typical(shape, 1);
        let inv: Vec<u8> = t.iter().map(|v| 255 - v.saturating_add(3)).collect();
        let public = synthetic(shape, 400, 2, &inv);
        let victims = synthetic(shape, 300, 3, &t);
        let secret = MasterSecret::from_bytes([9; 32]);
        let bc = BatchCipher::new(
            SchemeSpec::Pe { shuffle: false },
            shape,
            KeyMode::Fixed,
            &secret,
        )
        .unwrap();
        let o = run(&EncryptionOracle::new(&bc), &victims, &public, None).unwrap();
        assert!(o.recovered_fraction < 0.05, "{}", o.recovered_fraction);
    }

    #[test]
    fn per_image_keys_defeat_it() {
        let shape = Shape::new(6, 6, 1).unwrap();
        let t = typical(shape, 1);
        let public = synthetic(shape, 400, 2, &t);
        let victims = synthetic(shape, 400, 3, &t);
        let secret = MasterSecret::from_bytes([5; 32]);
        let bc = BatchCipher::new(
            SchemeSpec::Pe { shuffle: false },
            shape,
            KeyMode::PerImage,
            &secret,
        )
        .unwrap();
        let o = run(&EncryptionOracle::new(&bc), &victims, &public, None).unwrap();
        // A per-value coin: about half, never close to all.
        assert!(o.recovered_fraction < 0.75, "{}", o.recovered_fraction);
    }

    #[test]
    fn bad_input_is_an_error() {
        let shape = Shape::new(4, 4, 1).unwrap();
        let other = Shape::new(4, 4, 3).unwrap();
        let secret = MasterSecret::from_bytes([1; 32]);
        let bc = BatchCipher::new(
            SchemeSpec::Pe { shuffle: false },
            shape,
            KeyMode::Fixed,
            &secret,
        )
        .unwrap();
        let oracle = EncryptionOracle::new(&bc);
        let imgs = ImageBatch::zeros(shape, 3);
        assert!(matches!(
            run(&oracle, &imgs, &imgs, Some(0)),
            Err(Error::InvalidParameter(_))
        ));
        assert!(matches!(
            run(&oracle, &imgs, &ImageBatch::zeros(other, 3), None),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            run(&oracle, &imgs, &ImageBatch::zeros(shape, 0), None),
            Err(Error::NotEnoughImages(_))
        ));
        let key = fit(&SchemeSpec::Pe { shuffle: false }, &imgs, &imgs).unwrap();
        assert!(key.decrypt(&[0; 3], shape).is_err());
    }
}
