//! Attacks: known-plaintext ([`kpa`]), chosen-plaintext ([`cpa`]) and ciphertext-only ([`coa`]).
//!
//! # Attacker model (Kerckhoffs)
//! The scheme and its public parameters (block size, shape) are known; the key is not. From the
//! scheme's *structure* the attacker picks a [`Model`] — never the key material:
//!
//! `c[j] = p[π(j)] ⊕ m[j]` on units (bytes, or nibbles within a block), with an unknown
//! permutation `π` and an unknown mask `m`, where:
//! * [`Locality`]: where `π(j)` may lie — `Identity` (`π(j) = j`: pure XOR schemes), `Group(g)`
//!   (inside the same group of `g` units, e.g. the 3 channels of a pixel for paper A's colour
//!   shuffle) or `Global` (anywhere: EtC blocks move across the image);
//! * [`MaskAlphabet`]: `Complement` (`m[j] ∈ {0, 0xFF}` — negative–positive; `{0, 0xF}` for
//!   nibbles) or `Any` (a keystream byte).
//!
//! | scheme | unit | locality | mask |
//! |---|---|---|---|
//! | `pe` (C = 3) | byte | group of 3 (pixel) | complement |
//! | `pe-np`, `pe` on grey | byte | identity | complement |
//! | `logistic`, `grey` chain | byte | identity | any |
//! | `le/b` | nibble, per `b×b` block (same key for all blocks) | global in the block | complement |
//! | `etc/b` | byte | global | complement |
//!
//! The restriction of `Group(3)` for `pe` is the only locality assumption made for speed; it is
//! exactly the scheme's public structure. Every attack reports what it recovers on held-out
//! images: the fraction of values recovered exactly, PSNR and SSIM of the reconstruction.

pub mod coa;
pub mod content;
pub mod cpa;
pub mod kpa;
pub mod oracle;
pub mod stat;

pub use content::{ContentJudge, ContentScore};
pub use oracle::EncryptionOracle;

use pixveil_cipher::SchemeSpec;
use std::path::Path;

use pixveil_image::draw::{self, Canvas};
use pixveil_image::{ImageBatch, Shape};
use rayon::prelude::*;
use serde::Serialize;

use crate::metrics::{psnr, ssim};
use crate::{Error, Result};

/// Where the source of an output unit may lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Locality {
    /// `π(j) = j`.
    Identity,
    /// `π(j)` is in the same aligned group of this many units as `j`.
    Group(usize),
    /// Anywhere in the sample.
    Global,
}

/// Which masks are possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaskAlphabet {
    /// Any unit value (a keystream).
    Any,
    /// `0` or all ones (negative–positive).
    Complement,
}

/// The unit the model works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Bytes; one sample per image (`H·W·C` units).
    Byte,
    /// Nibbles of one `block×block×C` block; one sample per block (`2·block²·C` units: unit
    /// `2k` is the low and `2k+1` the high nibble of the block's `k`-th byte in `HWC` order).
    Nibble {
        /// Block side in pixels.
        block: usize,
    },
}

/// The attacker's structural model of a scheme (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Model {
    /// Unit.
    pub unit: Unit,
    /// Locality of the permutation.
    pub locality: Locality,
    /// Mask alphabet.
    pub mask: MaskAlphabet,
}

impl Model {
    /// The model of `spec` on `shape`, from the scheme's public structure only.
    pub fn for_spec(spec: &SchemeSpec, shape: Shape) -> Model {
        let byte = |locality, mask| Model {
            unit: Unit::Byte,
            locality,
            mask,
        };
        match spec {
            SchemeSpec::Pe { shuffle } if *shuffle && shape.channels() == 3 => {
                byte(Locality::Group(3), MaskAlphabet::Complement)
            }
            SchemeSpec::Pe { .. } => byte(Locality::Identity, MaskAlphabet::Complement),
            SchemeSpec::Logistic { .. } => byte(Locality::Identity, MaskAlphabet::Any),
            SchemeSpec::Le { block } => Model {
                unit: Unit::Nibble {
                    block: *block as usize,
                },
                locality: Locality::Global,
                mask: MaskAlphabet::Complement,
            },
            SchemeSpec::Etc { .. } => byte(Locality::Global, MaskAlphabet::Complement),
            SchemeSpec::Chain { stages } => {
                let models: Vec<Model> = stages.iter().map(|s| Model::for_spec(s, shape)).collect();
                if models.iter().any(|m| m.unit != Unit::Byte) {
                    return byte(Locality::Global, MaskAlphabet::Any);
                }
                let locality = if models.iter().any(|m| m.locality == Locality::Global) {
                    Locality::Global
                } else if models
                    .iter()
                    .any(|m| matches!(m.locality, Locality::Group(_)))
                {
                    // Pixel-local stages compose into pixel-local maps.
                    Locality::Group(shape.channels())
                } else {
                    Locality::Identity
                };
                let mask = if models.len() == 1
                    || models.iter().all(|m| m.mask == MaskAlphabet::Complement)
                {
                    models.first().map_or(MaskAlphabet::Any, |m| m.mask)
                } else {
                    MaskAlphabet::Any
                };
                byte(locality, mask)
            }
            _ => byte(Locality::Global, MaskAlphabet::Any),
        }
    }

    /// All ones in a unit (`0xFF` or `0x0F`).
    pub fn full(&self) -> u8 {
        match self.unit {
            Unit::Byte => 0xFF,
            Unit::Nibble { .. } => 0x0F,
        }
    }

    /// Number of distinct unit values (256 or 16).
    pub fn radix(&self) -> usize {
        usize::from(self.full()) + 1
    }

    /// Units per sample.
    pub fn sample_len(&self, shape: Shape) -> usize {
        match self.unit {
            Unit::Byte => shape.len(),
            Unit::Nibble { block } => 2 * block * block * shape.channels(),
        }
    }

    /// The units `j`'s source may come from, out of `len`.
    pub fn group(&self, j: usize, len: usize) -> std::ops::Range<usize> {
        match self.locality {
            Locality::Identity => j..j + 1,
            Locality::Group(g) => {
                let g = g.max(1);
                let s = j / g * g;
                s..(s + g).min(len)
            }
            Locality::Global => 0..len,
        }
    }

    fn check_blocks(&self, shape: Shape) -> Result<()> {
        if let Unit::Nibble { block } = self.unit {
            if block == 0
                || !shape.height().is_multiple_of(block)
                || !shape.width().is_multiple_of(block)
            {
                return Err(Error::InvalidParameter(format!(
                    "block {block} does not divide the {shape} image"
                )));
            }
        }
        Ok(())
    }

    /// Splits one image into samples of units.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the block does not divide the shape;
    /// [`Error::ShapeMismatch`] if `image` is not one image of `shape`.
    pub fn to_units(&self, image: &[u8], shape: Shape) -> Result<Vec<Vec<u8>>> {
        self.check_blocks(shape)?;
        if image.len() != shape.len() {
            return Err(Error::ShapeMismatch {
                op: "to_units",
                expected: format!("{} bytes ({shape})", shape.len()),
                found: format!("{} bytes", image.len()),
            });
        }
        Ok(match self.unit {
            Unit::Byte => vec![image.to_vec()],
            Unit::Nibble { block: b } => {
                let (h, w, c) = (shape.height(), shape.width(), shape.channels());
                let mut out = Vec::new();
                for by in 0..h / b {
                    for bx in 0..w / b {
                        let mut u = Vec::with_capacity(2 * b * b * c);
                        for r in 0..b {
                            let start = ((by * b + r) * w + bx * b) * c;
                            for &v in &image[start..start + b * c] {
                                u.push(v & 0x0F);
                                u.push(v >> 4);
                            }
                        }
                        out.push(u);
                    }
                }
                out
            }
        })
    }

    /// Inverse of [`Model::to_units`].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the block does not divide the shape;
    /// [`Error::ShapeMismatch`] if `samples` are not the samples of one image of `shape`.
    pub fn from_units(&self, samples: &[Vec<u8>], shape: Shape) -> Result<Vec<u8>> {
        self.check_blocks(shape)?;
        let count = match self.unit {
            Unit::Byte => 1,
            Unit::Nibble { block: b } => (shape.height() / b) * (shape.width() / b),
        };
        let len = self.sample_len(shape);
        if samples.len() != count || samples.iter().any(|u| u.len() != len) {
            return Err(Error::ShapeMismatch {
                op: "from_units",
                expected: format!("{count} samples of {len} units ({shape})"),
                found: format!(
                    "{} samples of {:?} units",
                    samples.len(),
                    samples
                        .iter()
                        .map(Vec::len)
                        .collect::<std::collections::BTreeSet<_>>()
                ),
            });
        }
        Ok(match self.unit {
            Unit::Byte => samples[0].clone(),
            Unit::Nibble { block: b } => {
                let (w, c) = (shape.width(), shape.channels());
                let mut img = vec![0u8; shape.len()];
                // Samples are the blocks in row-major order (as `to_units` makes them).
                for (k, u) in samples.iter().enumerate() {
                    let (by, bx) = (k / (w / b), k % (w / b));
                    for r in 0..b {
                        let start = ((by * b + r) * w + bx * b) * c;
                        for (x, v) in img[start..start + b * c].iter_mut().enumerate() {
                            let i = (r * b * c + x) * 2;
                            *v = (u[i] & 0x0F) | ((u[i + 1] & 0x0F) << 4);
                        }
                    }
                }
                img
            }
        })
    }
}

/// Candidate sources kept per output unit; more candidates mean "unknown".
const CAP: usize = 64;

/// What an attack learned: for each output unit `j`, the candidate `(source i, mask m)` pairs
/// consistent with everything seen, and a prior guess per source unit.
#[derive(Clone, Debug)]
pub(crate) struct Mapping {
    cand: Vec<Vec<(u32, u8)>>,
    prior: Vec<u8>,
}

impl Mapping {
    /// A mapping from explicit candidates (CPA) and a prior.
    pub(crate) fn from_parts(cand: Vec<Vec<(u32, u8)>>, prior: Vec<u8>) -> Self {
        Self { cand, prior }
    }

    /// Learns candidates from samples `(x_s, y_s)` (plain and cipher units, equal lengths): for
    /// every output `j`, every source `i` allowed by the model such that `y_s[j] ⊕ x_s[i]` is
    /// the same mask for every sample (and in the alphabet).
    ///
    /// # Panics
    /// If `xs` is empty or `xs` and `ys` differ in length (the KPA passes ≥ 1 pair).
    pub(crate) fn learn(model: &Model, xs: &[Vec<u8>], ys: &[Vec<u8>]) -> Mapping {
        assert_eq!(xs.len(), ys.len(), "one cipher sample per plain sample");
        let l = xs
            .first()
            .expect("the KPA learns from at least one pair (it checks pairs ≥ 1)")
            .len();
        let s = xs.len();
        // Transposed: unit-major, sample-minor. Every sample has `l` units (`to_units`).
        let mut xt = vec![0u8; l * s];
        let mut yt = vec![0u8; l * s];
        for (k, (x, y)) in xs.iter().zip(ys).enumerate() {
            for i in 0..l {
                xt[i * s + k] = x[i];
                yt[i * s + k] = y[i];
            }
        }
        let full = model.full();
        let cand: Vec<Vec<(u32, u8)>> = (0..l)
            .into_par_iter()
            .map(|j| {
                let yj = &yt[j * s..(j + 1) * s];
                let mut out = Vec::new();
                let Some(&y0) = yj.first() else { return out };
                for i in model.group(j, l) {
                    let xi = &xt[i * s..(i + 1) * s];
                    let m = y0 ^ xi[0];
                    if model.mask == MaskAlphabet::Complement && m != 0 && m != full {
                        continue;
                    }
                    if yj.iter().zip(xi).all(|(a, b)| a ^ b == m) {
                        out.push((i as u32, m));
                        if out.len() > CAP {
                            return Vec::new();
                        }
                    }
                }
                out
            })
            .collect();
        // Prior: the most frequent plain value at each position.
        let radix = model.radix();
        let prior = (0..l)
            .map(|i| {
                let mut h = vec![0u32; radix];
                // Units are below the radix (`to_units` masks nibbles), which is at least 2.
                for &v in &xt[i * s..(i + 1) * s] {
                    h[usize::from(v)] += 1;
                }
                h.iter()
                    .enumerate()
                    .max_by_key(|(v, c)| (**c, std::cmp::Reverse(*v)))
                    .map(|(v, _)| v as u8)
                    .expect("the radix is at least 2")
            })
            .collect();
        Mapping { cand, prior }
    }

    /// Fraction of output units whose source is uniquely determined.
    pub(crate) fn determined_fraction(&self) -> f64 {
        let n = self.cand.len().max(1);
        self.cand.iter().filter(|c| c.len() == 1).count() as f64 / n as f64
    }

    /// For every source unit `i`, the output unit and mask to read it from (best guess), after
    /// propagating uniquely determined sources (a source taken by a determined output is removed
    /// from the others' candidates).
    pub(crate) fn resolve(&self) -> Vec<Option<(u32, u8)>> {
        let l = self.prior.len();
        let mut cand = self.cand.clone();
        for _ in 0..8 {
            let mut taken = vec![false; l];
            for c in &cand {
                // Candidate sources come from `Model::group(j, l)`: all below `l`.
                if let [(i, _)] = c.as_slice() {
                    taken[*i as usize] = true;
                }
            }
            let mut changed = false;
            for c in cand.iter_mut().filter(|c| c.len() > 1) {
                let kept: Vec<(u32, u8)> = c
                    .iter()
                    .copied()
                    .filter(|(i, _)| !taken[*i as usize])
                    .collect();
                if !kept.is_empty() && kept.len() < c.len() {
                    *c = kept;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut order: Vec<usize> = (0..cand.len()).filter(|&j| !cand[j].is_empty()).collect();
        order.sort_by_key(|&j| cand[j].len());
        let mut dest: Vec<Option<(u32, u8)>> = vec![None; l];
        for j in order {
            for &(i, m) in &cand[j] {
                let d = &mut dest[i as usize];
                if d.is_none() {
                    *d = Some((j as u32, m));
                }
            }
        }
        dest
    }

    /// Decrypts one sample `y` (as many units as the mapping's outputs) with the resolved
    /// destinations (prior where unknown).
    pub(crate) fn invert(&self, dest: &[Option<(u32, u8)>], y: &[u8]) -> Vec<u8> {
        dest.iter()
            .zip(&self.prior)
            .map(|(d, &p)| match d {
                Some((j, m)) => y[*j as usize] ^ m,
                None => p,
            })
            .collect()
    }
}

/// One held-out image: original, ciphertext and the attack's reconstruction (`H·W·C` bytes
/// each), for the PNG strip.
#[derive(Clone, Debug)]
pub struct Example {
    /// Image shape.
    pub shape: Shape,
    /// The plain image.
    pub original: Vec<u8>,
    /// Its ciphertext.
    pub ciphertext: Vec<u8>,
    /// The attack's reconstruction.
    pub reconstruction: Vec<u8>,
}

/// Smallest side, in pixels, an image of an [`Example`] panel is upscaled to (by an integer
/// factor, nearest neighbour): 28-pixel images are drawn 5× (140 pixels), 32-pixel ones 4×.
pub const PANEL_MIN_SIDE: usize = 128;
/// Captions of the three images of an [`Example`] panel, left to right.
pub const PANEL_CAPTIONS: [&str; 3] = ["original", "ciphertext", "recovered"];
/// Scale of the panel captions ([`pixveil_image::draw`] font pixels per output pixel side).
const CAPTION_SCALE: i64 = 2;
/// Margin around an [`Example`] panel and gap between its images, in pixels.
const PANEL_GAP: i64 = 12;
/// Height of the caption band above the images, in pixels.
const CAPTION_BAND: i64 = draw::CELL_H * CAPTION_SCALE + 6;

impl Example {
    /// The integer factor the panel upscales the images by: the least that makes the longer
    /// image side at least [`PANEL_MIN_SIDE`] pixels (1 for images that large already).
    pub fn panel_scale(&self) -> usize {
        let side = self.shape.height().max(self.shape.width()).max(1);
        PANEL_MIN_SIDE.div_ceil(side).max(1)
    }

    /// The three images side by side, each under its caption ([`PANEL_CAPTIONS`]: original |
    /// ciphertext | recovered), upscaled by [`Example::panel_scale`] with nearest neighbour, on
    /// white with 12-pixel margins and gaps; grey images drawn grey.
    ///
    /// # Shapes
    /// An RGB image (`C` = 3): `12 + 24 + H·s + 12` pixels high and `12 + 3·(cw + 12)` wide, `s`
    /// the scale and `cw = max(W·s, 118)` (118 pixels: the widest caption).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if an image is not `H·W·C` bytes; an image error if the panel
    /// would be too large (a side over [`pixveil_image::draw::MAX_CANVAS_SIDE`]).
    pub fn panel(&self) -> Result<(Shape, Vec<u8>)> {
        let images = [&self.original, &self.ciphertext, &self.reconstruction];
        for img in images {
            if img.len() != self.shape.len() {
                return Err(Error::ShapeMismatch {
                    op: "example panel",
                    expected: format!("{} bytes ({})", self.shape.len(), self.shape),
                    found: format!("{} bytes", img.len()),
                });
            }
        }
        let too_big = || {
            Error::InvalidParameter(format!(
                "an example panel of {} images is too large",
                self.shape
            ))
        };
        let scale = i64::try_from(self.panel_scale()).map_err(|_| too_big())?;
        let side = |v: usize| i64::try_from(v).ok().and_then(|v| v.checked_mul(scale));
        let (h, w) = (
            side(self.shape.height()).ok_or_else(too_big)?,
            side(self.shape.width()).ok_or_else(too_big)?,
        );
        let caption_w = PANEL_CAPTIONS
            .iter()
            .map(|c| draw::text_width(c, CAPTION_SCALE))
            .max()
            .unwrap_or(0); // no captions: no room needed
        let cell_w = w.max(caption_w);
        let width = PANEL_GAP + 3 * (cell_w + PANEL_GAP);
        let height = PANEL_GAP + CAPTION_BAND + h + PANEL_GAP;
        let as_u32 = |v: i64| u32::try_from(v).map_err(|_| too_big());
        let mut c = Canvas::new(as_u32(width)?, as_u32(height)?, [255; 3])?;
        for (k, (img, caption)) in images.into_iter().zip(PANEL_CAPTIONS).enumerate() {
            let x0 = PANEL_GAP + k as i64 * (cell_w + PANEL_GAP);
            c.text(x0, PANEL_GAP, caption, CAPTION_SCALE, [33; 3]);
            c.blit(x0, PANEL_GAP + CAPTION_BAND, img, self.shape, scale)?;
        }
        Ok(c.into_rgb()?)
    }

    /// Saves [`Example::panel`] as a PNG at `path`, atomically.
    ///
    /// # Errors
    /// As [`Example::panel`]; an image error naming `path` if it cannot be written.
    pub fn save_png(&self, path: &Path) -> Result<()> {
        let (shape, rgb) = self.panel()?;
        Ok(pixveil_image::files::write_png(path, &rgb, shape)?)
    }
}

/// The result of one attack run.
#[derive(Clone, Debug, Serialize)]
pub struct AttackOutcome {
    /// `kpa`, `cpa` or `coa`.
    pub attack: String,
    /// The method (`consistency`, `index-images`, `msb`, `neighbour-48`, `jigsaw`…).
    pub method: String,
    /// Scheme name.
    pub scheme: String,
    /// Key mode.
    pub mode: String,
    /// Fraction of held-out values (bytes) recovered exactly, in `[0, 1]`.
    pub recovered_fraction: f64,
    /// Mean PSNR (dB) of the reconstructions vs the originals (capped at 100 dB for exact
    /// recovery).
    pub psnr_db: f64,
    /// Mean SSIM of the reconstructions vs the originals.
    pub ssim: f64,
    /// Chosen-plaintext queries made.
    pub queries: usize,
    /// Known plaintext–ciphertext pairs used.
    pub pairs: usize,
    /// Held-out images attacked.
    pub held_out: usize,
    /// What "doing nothing" recovers: the fraction of held-out values equal to their
    /// ciphertext value (reference for "near chance"; the same as `baselines.identity`).
    pub identity_fraction: f64,
    /// What trivial guesses recover on the same held-out values: compare
    /// `recovered_fraction` with these, never with 0.
    pub baselines: Baselines,
    /// Does the reconstruction show the content? Filled by a caller that has a classifier
    /// ([`ContentJudge::score`]); `None` otherwise.
    pub content: Option<ContentScore>,
    /// Jigsaw: fraction of blocks placed in their correct position (Dc).
    pub direct_comparison: Option<f64>,
    /// Jigsaw: fraction of correct neighbour pairs (Nc).
    pub neighbour_comparison: Option<f64>,
    /// What was learned / assumed.
    pub notes: String,
    /// The first held-out image, for the PNG.
    #[serde(skip)]
    pub example: Option<Example>,
    /// Every held-out ciphertext and reconstruction, for [`ContentJudge::score`] (which
    /// takes them out); `None` once scored.
    #[serde(skip)]
    pub held_out_images: Option<HeldOut>,
}

/// Every held-out image of one attack run: ciphertexts and reconstructions, in the order of
/// the attacked batch.
#[derive(Clone, Debug)]
pub struct HeldOut {
    /// Index, in the batch the attack was given, of the first held-out image; the held-out
    /// images are that image and the ones following it.
    pub first: usize,
    /// The victim's ciphertexts of the held-out images.
    pub ciphertexts: ImageBatch,
    /// The attack's reconstructions, one per ciphertext.
    pub reconstructions: ImageBatch,
}

/// Trivial baselines of exact recovery on the held-out values: an attack is only worth its
/// margin over the best of these.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Baselines {
    /// The most frequent value among all held-out plain values (0 on MNIST).
    pub most_common_value: u8,
    /// Fraction of held-out values equal to `most_common_value`: what guessing that one value
    /// everywhere recovers, in `[0, 1]`.
    pub most_common: f64,
    /// Fraction of held-out values equal to their ciphertext value (the ciphertext taken as
    /// the plaintext), in `[0, 1]`.
    pub identity: f64,
    /// Expected fraction recovered by drawing each value's mask uniformly from the scheme's
    /// alphabet, where every value has its own mask and stays in place (identity locality):
    /// exactly 1/2 for negative–positive (one of `c`, `c ⊕ 0xFF` is right), 1/256 for a
    /// keystream byte. `None` for schemes that also move values (a random guess is then
    /// worse than `identity`).
    pub coin: Option<f64>,
}

impl Baselines {
    /// The baselines of `held` (plain held-out images) whose identity fraction is `identity`.
    pub(crate) fn measure(model: &Model, held: &[&[u8]], identity: f64) -> Baselines {
        let mut hist = [0u64; 256];
        for img in held {
            for &v in *img {
                hist[usize::from(v)] += 1;
            }
        }
        let total: u64 = hist.iter().sum();
        let (value, count) = hist
            .iter()
            .enumerate()
            .max_by_key(|(v, c)| (**c, std::cmp::Reverse(*v)))
            .map(|(v, c)| (v as u8, *c))
            .expect("256 bins");
        let coin = match (model.unit, model.locality, model.mask) {
            (Unit::Byte, Locality::Identity, MaskAlphabet::Complement) => Some(0.5),
            (Unit::Byte, Locality::Identity, MaskAlphabet::Any) => Some(1.0 / 256.0),
            _ => None,
        };
        Baselines {
            most_common_value: value,
            most_common: count as f64 / total.max(1) as f64,
            identity,
            coin,
        }
    }

    /// The best of the baselines (`most_common`, `identity`, `coin`).
    pub fn best(&self) -> f64 {
        self.most_common
            .max(self.identity)
            // No coin baseline for this model: it cannot raise the best.
            .max(self.coin.unwrap_or(0.0))
    }
}

/// Per-image score: exact values, total values, PSNR, SSIM.
pub(crate) fn score(orig: &[u8], recon: &[u8], shape: Shape) -> (usize, usize, f64, f64) {
    let exact = orig.iter().zip(recon).filter(|(a, b)| a == b).count();
    (
        exact,
        orig.len(),
        psnr(orig, recon),
        ssim(orig, recon, shape),
    )
}

/// Aggregated scores of held-out images.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Totals {
    pub(crate) exact: usize,
    pub(crate) total: usize,
    pub(crate) identity: usize,
    pub(crate) psnr: f64,
    pub(crate) ssim: f64,
    pub(crate) images: usize,
}

impl Totals {
    pub(crate) fn add(&mut self, orig: &[u8], cipher: &[u8], recon: &[u8], shape: Shape) {
        let (e, t, p, s) = score(orig, recon, shape);
        self.exact += e;
        self.total += t;
        self.identity += orig.iter().zip(cipher).filter(|(a, b)| a == b).count();
        self.psnr += p;
        self.ssim += s;
        self.images += 1;
    }
    pub(crate) fn merge(mut self, o: Totals) -> Totals {
        self.exact += o.exact;
        self.total += o.total;
        self.identity += o.identity;
        self.psnr += o.psnr;
        self.ssim += o.ssim;
        self.images += o.images;
        self
    }
    pub(crate) fn fraction(&self) -> f64 {
        self.exact as f64 / self.total.max(1) as f64
    }
    pub(crate) fn identity_fraction(&self) -> f64 {
        self.identity as f64 / self.total.max(1) as f64
    }
    pub(crate) fn mean_psnr(&self) -> f64 {
        self.psnr / self.images.max(1) as f64
    }
    pub(crate) fn mean_ssim(&self) -> f64 {
        self.ssim / self.images.max(1) as f64
    }
}

/// [`attack_held_out`] with the reconstruction a learned [`Mapping`] gives: every
/// ciphertext unit of `model` inverted through the mapping (the KPA and CPA decryptor).
pub(crate) fn attack_held_out_with(
    oracle: &EncryptionOracle<'_>,
    held_out: &[&[u8]],
    model: &Model,
    mapping: &Mapping,
) -> Result<Scored> {
    let shape = oracle.shape();
    let dest = mapping.resolve();
    attack_held_out(oracle, held_out, |c, _| {
        let samples: Vec<Vec<u8>> = model
            .to_units(c, shape)?
            .iter()
            .map(|y| mapping.invert(&dest, y))
            .collect();
        model.from_units(&samples, shape)
    })
}

/// The scores of one attack run on its held-out images.
pub(crate) struct Scored {
    /// Aggregated exact fraction, PSNR, SSIM.
    pub(crate) totals: Totals,
    /// The first image.
    pub(crate) example: Option<Example>,
    /// Trivial baselines on the same values.
    pub(crate) baselines: Baselines,
    /// Every ciphertext and reconstruction (`first` = 0: the caller sets it).
    pub(crate) held: HeldOut,
}

/// What an attack states about itself besides its scores.
pub(crate) struct Meta<'a> {
    /// `kpa`, `cpa`, `coa`, `stat`.
    pub(crate) attack: &'a str,
    /// The method.
    pub(crate) method: &'a str,
    /// Chosen-plaintext queries.
    pub(crate) queries: usize,
    /// Known pairs.
    pub(crate) pairs: usize,
    /// Index of the first held-out image in the attacked batch.
    pub(crate) first: usize,
    /// Notes.
    pub(crate) notes: String,
}

impl Scored {
    /// The outcome of `oracle`'s scheme with these scores.
    pub(crate) fn outcome(self, oracle: &EncryptionOracle<'_>, meta: Meta<'_>) -> AttackOutcome {
        let t = self.totals;
        AttackOutcome {
            attack: meta.attack.into(),
            method: meta.method.into(),
            scheme: oracle.spec().name(),
            mode: oracle.mode().to_string(),
            recovered_fraction: t.fraction(),
            psnr_db: t.mean_psnr(),
            ssim: t.mean_ssim(),
            queries: meta.queries,
            pairs: meta.pairs,
            held_out: t.images,
            identity_fraction: t.identity_fraction(),
            baselines: self.baselines,
            content: None,
            direct_comparison: None,
            neighbour_comparison: None,
            notes: meta.notes,
            example: self.example,
            held_out_images: Some(HeldOut {
                first: meta.first,
                ..self.held
            }),
        }
    }
}

/// Scores reconstructions: `rows[k] = (ciphertext, reconstruction)` of `held_out[k]`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if a ciphertext or reconstruction is not one image of `shape`.
pub(crate) fn score_rows(
    model: &Model,
    shape: Shape,
    held_out: &[&[u8]],
    rows: Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<Scored> {
    if held_out.len() != rows.len() {
        return Err(Error::ShapeMismatch {
            op: "attack scoring",
            expected: format!("{} reconstructions", held_out.len()),
            found: rows.len().to_string(),
        });
    }
    if let Some((c, r)) = rows
        .iter()
        .find(|(c, r)| c.len() != shape.len() || r.len() != shape.len())
    {
        return Err(Error::ShapeMismatch {
            op: "attack scoring",
            expected: format!("{} bytes ({shape})", shape.len()),
            found: format!("{} / {} bytes", c.len(), r.len()),
        });
    }
    let totals = held_out
        .par_iter()
        .zip(&rows)
        .map(|(orig, (c, r))| {
            let mut t = Totals::default();
            t.add(orig, c, r, shape);
            t
        })
        .reduce(Totals::default, Totals::merge);
    let example = held_out
        .first()
        .zip(rows.first())
        .map(|(orig, (c, r))| Example {
            shape,
            original: orig.to_vec(),
            ciphertext: c.clone(),
            reconstruction: r.clone(),
        });
    let (mut cts, mut recs) = (Vec::new(), Vec::new());
    for (c, r) in rows {
        cts.extend_from_slice(&c);
        recs.extend_from_slice(&r);
    }
    let baselines = Baselines::measure(model, held_out, totals.identity_fraction());
    Ok(Scored {
        totals,
        example,
        baselines,
        held: HeldOut {
            first: 0,
            ciphertexts: ImageBatch::new(shape, cts)?,
            reconstructions: ImageBatch::new(shape, recs)?,
        },
    })
}

/// Encrypts every held-out image with the victim (uncounted), reconstructs it with
/// `recon(ciphertext, original)` (the original only resolves the documented global ambiguity
/// of ciphertext-only attacks), and scores.
pub(crate) fn attack_held_out<F>(
    oracle: &EncryptionOracle<'_>,
    held_out: &[&[u8]],
    recon: F,
) -> Result<Scored>
where
    F: Fn(&[u8], &[u8]) -> Result<Vec<u8>> + Sync,
{
    let shape = oracle.shape();
    let rows: Vec<(Vec<u8>, Vec<u8>)> = held_out
        .par_iter()
        .map(|orig| -> Result<(Vec<u8>, Vec<u8>)> {
            let c = oracle.encrypt_uncounted(orig)?;
            let r = recon(&c, orig)?;
            Ok((c, r))
        })
        .collect::<Result<_>>()?;
    score_rows(
        &Model::for_spec(oracle.spec(), shape),
        shape,
        held_out,
        rows,
    )
}

/// Refuses `limit == Some(0)`: an attack on no held-out image would report zeros as if it had
/// run.
pub(crate) fn check_limit(limit: Option<usize>, attack: &str) -> Result<()> {
    if limit == Some(0) {
        return Err(Error::InvalidParameter(format!(
            "--limit 0: the {attack} needs at least one held-out image"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_panel_is_readable() {
        let shape = Shape::new(28, 28, 1).unwrap();
        let ex = Example {
            shape,
            original: vec![200; 784],
            ciphertext: (0..784).map(|i| (i % 251) as u8).collect(),
            reconstruction: vec![7; 784],
        };
        assert_eq!(ex.panel_scale(), 5);
        let (s, px) = ex.panel().unwrap();
        // Was 28 × 88 (the three images 1:1); now 5× with a caption band and margins.
        assert_eq!((s.height(), s.width(), s.channels()), (188, 468, 3));
        assert!(s.height() >= 4 * 28 && s.width() >= 3 * 4 * 28);
        let at = |y: usize, x: usize| &px[(y * s.width() + x) * 3..][..3];
        for k in 0..3 {
            let x0 = 12 + k * 152;
            let ink = (12..36)
                .flat_map(|y| (x0..x0 + 140).map(move |x| (y, x)))
                .filter(|&(y, x)| at(y, x) == [33; 3])
                .count();
            assert!(ink > 50, "caption {k}: {ink} text pixels");
        }
        // Nearest-neighbour blocks: a 5 × 5 square per source pixel.
        assert_eq!(at(36, 12), [200; 3]);
        assert_eq!(at(36 + 139, 12 + 139), [200; 3]);
        assert_eq!(at(36, 12 + 152), [0; 3]);
        assert_eq!(at(36 + 4, 12 + 152 + 4), [0; 3]);
        assert_eq!(at(36, 12 + 152 + 5), [1; 3]);
        assert_eq!(at(40, 12 + 2 * 152), [7; 3]);
        // Large images are not upscaled; a short image is refused.
        let big = Shape::new(300, 200, 3).unwrap();
        let mut ex = Example {
            shape: big,
            original: vec![1; big.len()],
            ciphertext: vec![2; big.len()],
            reconstruction: vec![3; big.len()],
        };
        assert_eq!(ex.panel_scale(), 1);
        assert_eq!(ex.panel().unwrap().0.width(), 12 + 3 * 212);
        ex.reconstruction.pop();
        assert!(matches!(ex.panel(), Err(Error::ShapeMismatch { .. })));
    }

    #[test]
    fn nibble_units_round_trip() {
        let shape = Shape::new(8, 4, 3).unwrap();
        let img: Vec<u8> = (0..shape.len()).map(|i| (i * 7) as u8).collect();
        let m = Model::for_spec(&SchemeSpec::Le { block: 4 }, shape);
        let u = m.to_units(&img, shape).unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].len(), 96);
        assert_eq!(m.from_units(&u, shape).unwrap(), img);
    }
}
