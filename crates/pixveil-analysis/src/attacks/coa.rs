//! Ciphertext-only attacks.
//!
//! * **Pixel schemes** (Chang & Case, papers.md §8.1):
//!   - [`CoaMethod::Msb`]: negative–positive flips the most significant bit, so mapping every
//!     value to the half with MSB 0 (`v ≥ 128 → 255 − v`) undoes NP wherever the plain value
//!     was below 128.
//!   - [`CoaMethod::Neighbour`]: scanning pixels row-major, choose among the candidates of each
//!     ciphertext pixel — 48 for RGB (8 NP masks × 6 channel orders), 2 for grey — the one
//!     closest (L1) to the already-decoded left and upper neighbours.
//! * **Block scrambling** ([`CoaMethod::Jigsaw`], for EtC): a greedy jigsaw-puzzle solver.
//!   Edge compatibility is the squared difference of NP- and channel-shuffle-invariant features
//!   (per pixel: the sorted `|v − 127.5|` of its channels) across the abutting edges, over the
//!   8 orientations (rotations/flips) of every block. Starting from the most textured block,
//!   the solver repeatedly places the (block, orientation, free slot) of lowest mean
//!   dissimilarity with its placed neighbours, inside an `H/b × W/b` bounding box. Then each
//!   block's NP/channel variant (48 or 2) is chosen row-major to best continue its left and
//!   upper neighbours. Reported with Dc (fraction of block positions holding the right block)
//!   and Nc (fraction of adjacent pairs in the solution that are adjacent, the same way, in the
//!   original); both compare block contents, so interchangeable blocks (e.g. MNIST's blank
//!   ones) count as correct.
//!
//! **Global ambiguity.** A ciphertext-only attacker can at best recover the image up to a global
//! transform (inversion; for RGB, a global channel order and per-channel inversion; for the
//! jigsaw, also a global rotation/flip), which a human resolves at a glance. Scores are the best
//! over those global transforms (2, 48, or 8×2 / 8×48 for the jigsaw).

use std::collections::HashMap;

use pixveil_cipher::{pe::TABLE1, SchemeSpec};
use pixveil_image::{ImageBatch, Shape};
use rayon::prelude::*;

use super::{score_rows, AttackOutcome, EncryptionOracle, Meta, Model};
use crate::metrics::psnr;
use crate::{Error, Result};

/// Which ciphertext-only attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoaMethod {
    /// Jigsaw for `etc`, neighbour search otherwise.
    Auto,
    /// MSB heuristic.
    Msb,
    /// 48-candidate (2 for grey) neighbour-smoothness search.
    Neighbour,
    /// Greedy jigsaw solver (block schemes).
    Jigsaw,
}

impl CoaMethod {
    fn name(self) -> &'static str {
        match self {
            CoaMethod::Auto => "auto",
            CoaMethod::Msb => "msb",
            CoaMethod::Neighbour => "neighbour-48",
            CoaMethod::Jigsaw => "jigsaw",
        }
    }
}

/// The pixel-value variants of one pixel (or global transforms): `(channel order, flip mask)`
/// pairs; 48 for RGB, 2 for grey.
fn variants(c: usize) -> Vec<([usize; 3], [u8; 3])> {
    let mut out = Vec::new();
    if c == 3 {
        for perm in TABLE1 {
            for f in 0..8u8 {
                let fl = |b: u8| if f >> b & 1 == 1 { 0xFF } else { 0 };
                out.push((perm.map(usize::from), [fl(0), fl(1), fl(2)]));
            }
        }
    } else {
        out.push(([0, 0, 0], [0, 0, 0]));
        out.push(([0, 0, 0], [0xFF, 0, 0]));
    }
    out
}

/// `out = variant v of pixel px` (`out.len() == px.len()`, 1 or 3 channels).
fn apply_variant(px: &[u8], v: &([usize; 3], [u8; 3]), out: &mut [u8]) {
    for (k, o) in out.iter_mut().enumerate() {
        let src = if px.len() == 3 { v.0[k] } else { k };
        *o = px[src] ^ v.1[k];
    }
}

/// The reconstruction closest to `orig` (PSNR) among the global value transforms of `r`.
fn best_global(orig: &[u8], r: &[u8], c: usize) -> Vec<u8> {
    let mut best = (f64::NEG_INFINITY, r.to_vec());
    let mut buf = vec![0u8; r.len()];
    for v in variants(c) {
        for (o, px) in buf.chunks_exact_mut(c).zip(r.chunks_exact(c)) {
            apply_variant(px, &v, o);
        }
        let p = psnr(orig, &buf);
        if p > best.0 {
            best = (p, buf.clone());
        }
    }
    best.1
}

/// MSB heuristic: `v ≥ 128 → 255 − v`.
pub fn msb(cipher: &[u8]) -> Vec<u8> {
    cipher
        .iter()
        .map(|&v| if v >= 128 { 255 - v } else { v })
        .collect()
}

/// Neighbour-smoothness search over each pixel's 48 (RGB) or 2 (grey) candidates.
///
/// # Shapes
/// `cipher`: `H·W·C` bytes; returns the same.
///
/// # Panics
/// If `cipher.len() != shape.len()` (a caller bug: [`run`] checks the shapes first).
pub fn neighbour_search(cipher: &[u8], shape: Shape) -> Vec<u8> {
    assert_eq!(
        cipher.len(),
        shape.len(),
        "cipher must be one image of shape"
    );
    let (h, w, c) = (shape.height(), shape.width(), shape.channels());
    let vars = variants(c);
    let mut out = vec![0u8; shape.len()];
    let mut cand = vec![0u8; c];
    for y in 0..h {
        for x in 0..w {
            let k = (y * w + x) * c;
            let px = &cipher[k..k + c];
            let mut best = (u32::MAX, msb(px));
            if x > 0 || y > 0 {
                for v in &vars {
                    apply_variant(px, v, &mut cand);
                    let mut cost = 0u32;
                    for nb in [(x > 0).then(|| k - c), (y > 0).then(|| k - w * c)]
                        .into_iter()
                        .flatten()
                    {
                        let n = &out[nb..nb + c];
                        cost += n
                            .iter()
                            .zip(&cand)
                            .map(|(a, b)| u32::from(a.abs_diff(*b)))
                            .sum::<u32>();
                    }
                    if cost < best.0 {
                        best = (cost, cand.clone());
                    }
                }
            }
            out[k..k + c].copy_from_slice(&best.1);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Jigsaw solver.

/// `(row, col)` in a `b×b` block of output orientation `o` → source `(row, col)`.
pub(crate) fn orient(o: usize, r: usize, c: usize, b: usize) -> (usize, usize) {
    let (r, c) = if o & 4 != 0 { (r, b - 1 - c) } else { (r, c) };
    match o & 3 {
        0 => (r, c),
        1 => (b - 1 - c, r),
        2 => (b - 1 - r, b - 1 - c),
        _ => (c, b - 1 - r),
    }
}

/// Block `(by, bx)` of `img` in orientation `o`: `b·b·C` bytes.
fn block(img: &[u8], shape: Shape, b: usize, by: usize, bx: usize, o: usize) -> Vec<u8> {
    let (w, c) = (shape.width(), shape.channels());
    let mut out = Vec::with_capacity(b * b * c);
    for r in 0..b {
        for x in 0..b {
            let (sr, sc) = orient(o, r, x, b);
            let k = ((by * b + sr) * w + bx * b + sc) * c;
            out.extend_from_slice(&img[k..k + c]);
        }
    }
    out
}

fn put_block(img: &mut [u8], shape: Shape, b: usize, by: usize, bx: usize, data: &[u8]) {
    let (w, c) = (shape.width(), shape.channels());
    for r in 0..b {
        let k = ((by * b + r) * w + bx * b) * c;
        img[k..k + b * c].copy_from_slice(&data[r * b * c..(r + 1) * b * c]);
    }
}

/// Invariant feature of a pixel: sorted `|2v − 255|` of its channels.
fn feature(px: &[u8]) -> [i32; 3] {
    let mut f = [0i32; 3];
    for (o, &v) in f.iter_mut().zip(px) {
        *o = (2 * i32::from(v) - 255).abs();
    }
    f[..px.len()].sort_unstable();
    f
}

/// Edges of one oriented block as feature rows: left, right, top, bottom; each side holds the
/// boundary row of `b` features followed by the row next to it (for prediction).
fn edges(blk: &[u8], b: usize, c: usize) -> [Vec<[i32; 3]>; 4] {
    let px = |r: usize, x: usize| feature(&blk[(r * b + x) * c..(r * b + x + 1) * c]);
    let inner = usize::from(b > 1);
    let side = |f: &dyn Fn(usize, usize) -> [i32; 3]| -> Vec<[i32; 3]> {
        (0..b)
            .map(|k| f(k, 0))
            .chain((0..b).map(|k| f(k, inner)))
            .collect()
    };
    [
        side(&|k, d| px(k, d)),
        side(&|k, d| px(k, b - 1 - d)),
        side(&|k, d| px(d, k)),
        side(&|k, d| px(b - 1 - d, k)),
    ]
}

/// Prediction-based dissimilarity of two abutting edges (`a` ends where `b` starts): each side's
/// linear extrapolation across the boundary is compared with the other side's boundary row
/// (Pomeranz et al.'s "prediction" compatibility), summed squared.
fn edge_cost(a: &[[i32; 3]], b: &[[i32; 3]]) -> u64 {
    let n = a.len() / 2;
    let mut s = 0u64;
    for k in 0..n {
        for ch in 0..3 {
            let (a0, a1) = (a[k][ch], a[n + k][ch]);
            let (b0, b1) = (b[k][ch], b[n + k][ch]);
            let d1 = 2 * a0 - a1 - b0;
            let d2 = 2 * b0 - b1 - a0;
            s += (d1 * d1 + d2 * d2) as u64;
        }
    }
    s
}

/// The solver's arrangement: for each grid cell (row-major), the cipher block index and its
/// orientation.
fn solve_layout(cipher: &[u8], shape: Shape, b: usize) -> Vec<(usize, usize)> {
    let (gh, gw, c) = (shape.height() / b, shape.width() / b, shape.channels());
    let nb = gh * gw;
    let pv = nb * 8;
    let blocks: Vec<Vec<u8>> = (0..pv)
        .map(|k| block(cipher, shape, b, k / 8 / gw, k / 8 % gw, k % 8))
        .collect();
    let e: Vec<[Vec<[i32; 3]>; 4]> = blocks.iter().map(|blk| edges(blk, b, c)).collect();
    // dr[a·pv + b]: a left of b; dd[a·pv + b]: a above b.
    let dr: Vec<u64> = (0..pv * pv)
        .into_par_iter()
        .map(|k| edge_cost(&e[k / pv][1], &e[k % pv][0]))
        .collect();
    let dd: Vec<u64> = (0..pv * pv)
        .into_par_iter()
        .map(|k| edge_cost(&e[k / pv][3], &e[k % pv][2]))
        .collect();
    // Seed: the most textured block.
    let seed = (0..nb)
        .max_by_key(|&p| {
            let f: Vec<i32> = blocks[p * 8].chunks(c).map(|px| feature(px)[0]).collect();
            let m = f.iter().sum::<i32>() as f64 / f.len().max(1) as f64;
            (f.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() * 1000.0) as u64
        })
        .expect("b divides H and W, so there is at least one block");
    let (ch, cw) = (2 * gh + 1, 2 * gw + 1);
    let mut canvas: Vec<Option<usize>> = vec![None; ch * cw];
    let mut used = vec![false; nb];
    let (mut r0, mut r1, mut c0, mut c1) = (gh, gh, gw, gw);
    canvas[gh * cw + gw] = Some(seed * 8);
    used[seed] = true;
    for _ in 1..nb {
        let mut best: Option<(u64, usize, usize, usize)> = None; // (cost·4/n, n, slot, pv)
        for r in r0.saturating_sub(1)..=(r1 + 1).min(ch - 1) {
            for x in c0.saturating_sub(1)..=(c1 + 1).min(cw - 1) {
                if canvas[r * cw + x].is_some()
                    || r1.max(r) - r0.min(r) + 1 > gh
                    || c1.max(x) - c0.min(x) + 1 > gw
                {
                    continue;
                }
                let nbrs = [
                    (x > 0).then(|| canvas[r * cw + x - 1]).flatten(),
                    (x + 1 < cw).then(|| canvas[r * cw + x + 1]).flatten(),
                    (r > 0).then(|| canvas[(r - 1) * cw + x]).flatten(),
                    (r + 1 < ch).then(|| canvas[(r + 1) * cw + x]).flatten(),
                ];
                let n = nbrs.iter().flatten().count();
                if n == 0 {
                    continue;
                }
                for p in (0..nb).filter(|&p| !used[p]) {
                    for o in 0..8 {
                        let q = p * 8 + o;
                        let mut cost = 0u64;
                        if let Some(a) = nbrs[0] {
                            cost += dr[a * pv + q];
                        }
                        if let Some(a) = nbrs[1] {
                            cost += dr[q * pv + a];
                        }
                        if let Some(a) = nbrs[2] {
                            cost += dd[a * pv + q];
                        }
                        if let Some(a) = nbrs[3] {
                            cost += dd[q * pv + a];
                        }
                        let norm = cost * 12 / n as u64;
                        let better = match best {
                            None => true,
                            Some((bc, bn, _, _)) => norm < bc || (norm == bc && n > bn),
                        };
                        if better {
                            best = Some((norm, n, r * cw + x, q));
                        }
                    }
                }
            }
        }
        let Some((_, _, slot, q)) = best else { break };
        canvas[slot] = Some(q);
        used[q / 8] = true;
        let (r, x) = (slot / cw, slot % cw);
        (r0, r1, c0, c1) = (r0.min(r), r1.max(r), c0.min(x), c1.max(x));
    }
    let mut layout = Vec::with_capacity(nb);
    let mut spare = (0..nb).filter(|&p| !used[p]);
    for r in r0..r0 + gh {
        for x in c0..c0 + gw {
            // The placed blocks fit this gh×gw window, so its empty cells are exactly as many
            // as the unused blocks: `spare` runs out only on a bug.
            let q = canvas[r * cw + x]
                .or_else(|| spare.next().map(|p| p * 8))
                .expect("an unused block for every empty cell");
            layout.push((q / 8, q % 8));
        }
    }
    layout
}

/// Solves the jigsaw on one EtC ciphertext: arrangement, orientations, then per-block value
/// variants. Returns the reconstruction (before the global-ambiguity fix).
///
/// # Shapes
/// `cipher`: `H·W·C` bytes with `b | H` and `b | W`.
///
/// # Panics
/// If `cipher.len() != shape.len()` or `b` does not divide `H` and `W` (a caller bug: [`run`]
/// checks both first).
pub fn jigsaw(cipher: &[u8], shape: Shape, b: usize) -> Vec<u8> {
    assert_eq!(
        cipher.len(),
        shape.len(),
        "cipher must be one image of shape"
    );
    assert!(
        b > 0 && shape.height().is_multiple_of(b) && shape.width().is_multiple_of(b),
        "b must divide H and W"
    );
    let (gh, gw, c) = (shape.height() / b, shape.width() / b, shape.channels());
    let layout = solve_layout(cipher, shape, b);
    let vars = variants(c);
    let mut out = cipher.to_vec();
    let mut tmp = vec![0u8; b * b * c];
    for (cell, &(p, o)) in layout.iter().enumerate() {
        let (by, bx) = (cell / gw, cell % gw);
        let raw = block(cipher, shape, b, p / gw, p % gw, o);
        let mut best = (u64::MAX, raw.clone());
        if cell == 0 {
            best.1 = msb(&raw);
        } else {
            for v in &vars {
                for (d, px) in tmp.chunks_exact_mut(c).zip(raw.chunks_exact(c)) {
                    apply_variant(px, v, d);
                }
                let mut cost = 0u64;
                let w = shape.width();
                for r in 0..b {
                    for x in 0..b {
                        let here = &tmp[(r * b + x) * c..(r * b + x + 1) * c];
                        let mut nb = Vec::new();
                        if x == 0 && bx > 0 {
                            nb.push(((by * b + r) * w + bx * b - 1) * c);
                        }
                        if r == 0 && by > 0 {
                            nb.push(((by * b - 1) * w + bx * b + x) * c);
                        }
                        for k in nb {
                            let n = &out[k..k + c];
                            cost += n
                                .iter()
                                .zip(here)
                                .map(|(a, z)| u64::from(a.abs_diff(*z)))
                                .sum::<u64>();
                        }
                    }
                }
                if cost < best.0 {
                    best = (cost, tmp.clone());
                }
            }
        }
        put_block(&mut out, shape, b, by, bx, &best.1);
    }
    let _ = gh;
    out
}

/// Whole-image orientation `o` (only those keeping the shape: all 8 for square images).
fn orient_image(img: &[u8], shape: Shape, o: usize) -> Option<Vec<u8>> {
    let (h, w, c) = (shape.height(), shape.width(), shape.channels());
    if h != w && o & 1 == 1 {
        return None;
    }
    let mut out = vec![0u8; img.len()];
    for r in 0..h {
        for x in 0..w {
            let (sr, sc) = if h == w {
                orient(o, r, x, h)
            } else {
                let (r2, x2) = if o & 4 != 0 { (r, w - 1 - x) } else { (r, x) };
                if o & 3 == 2 {
                    (h - 1 - r2, w - 1 - x2)
                } else {
                    (r2, x2)
                }
            };
            let (d, s) = ((r * w + x) * c, (sr * w + sc) * c);
            out[d..d + c].copy_from_slice(&img[s..s + c]);
        }
    }
    Some(out)
}

/// Dc and Nc of a reconstruction, by block contents up to each block's value variant (blocks
/// are compared through the NP- and channel-invariant features, so Dc/Nc measure placement and
/// orientation; the value variants are scored by the recovered fraction and PSNR).
fn dc_nc(orig: &[u8], recon: &[u8], shape: Shape, b: usize) -> (f64, f64) {
    let (gh, gw) = (shape.height() / b, shape.width() / b);
    let c = shape.channels();
    let inv = |img: &[u8]| -> Vec<u8> {
        img.chunks_exact(c)
            .flat_map(|px| {
                feature(px)[..c]
                    .iter()
                    .map(|&v| v as u8)
                    .collect::<Vec<u8>>()
            })
            .collect()
    };
    let (orig, recon) = (&inv(orig)[..], &inv(recon)[..]);
    let mut index: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
    for k in 0..gh * gw {
        index
            .entry(block(orig, shape, b, k / gw, k % gw, 0))
            .or_default()
            .push(k);
    }
    let sets: Vec<Vec<usize>> = (0..gh * gw)
        .map(|k| {
            // A reconstructed block found nowhere in the original: no candidate position.
            index
                .get(&block(recon, shape, b, k / gw, k % gw, 0))
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let dc = sets
        .iter()
        .enumerate()
        .filter(|(k, s)| s.contains(k))
        .count() as f64
        / (gh * gw).max(1) as f64;
    let (mut good, mut total) = (0usize, 0usize);
    for k in 0..gh * gw {
        let (r, x) = (k / gw, k % gw);
        for (ok, nk, step) in [(x + 1 < gw, k + 1, 1usize), (r + 1 < gh, k + gw, gw)] {
            if !ok {
                continue;
            }
            total += 1;
            let hit = sets[k].iter().any(|&o| {
                let valid = if step == 1 {
                    (o % gw) + 1 < gw
                } else {
                    o / gw + 1 < gh
                };
                valid && sets[nk].contains(&(o + step))
            });
            good += usize::from(hit);
        }
    }
    (dc, good as f64 / total.max(1) as f64)
}

/// Runs a ciphertext-only attack on the first `limit` images of `targets` (all if `None`).
///
/// # Errors
/// [`Error::InvalidParameter`] for the jigsaw on a scheme without blocks or for
/// `limit == Some(0)`; cipher errors.
pub fn run(
    oracle: &EncryptionOracle<'_>,
    targets: &ImageBatch,
    limit: Option<usize>,
    method: CoaMethod,
) -> Result<AttackOutcome> {
    super::check_limit(limit, "ciphertext-only attack")?;
    let shape = oracle.shape();
    if targets.shape() != shape || targets.is_empty() {
        return Err(Error::ShapeMismatch {
            op: "coa",
            expected: shape.to_string(),
            found: format!("{} images of {}", targets.len(), targets.shape()),
        });
    }
    let block = match oracle.spec() {
        SchemeSpec::Etc { block } | SchemeSpec::Le { block } => Some(*block as usize),
        _ => None,
    };
    let method = match (method, oracle.spec()) {
        (CoaMethod::Auto, SchemeSpec::Etc { .. }) => CoaMethod::Jigsaw,
        (CoaMethod::Auto, _) => CoaMethod::Neighbour,
        (m, _) => m,
    };
    let b = match (method, block) {
        (CoaMethod::Jigsaw, Some(b))
            if b > 0 && shape.height().is_multiple_of(b) && shape.width().is_multiple_of(b) =>
        {
            b
        }
        (CoaMethod::Jigsaw, _) => {
            return Err(Error::InvalidParameter(format!(
                "the jigsaw solver needs a block scheme; {} has no blocks",
                oracle.spec().name()
            )))
        }
        _ => 0,
    };
    let c = shape.channels();
    let held: Vec<&[u8]> = targets.images().take(limit.unwrap_or(usize::MAX)).collect();
    type Row = (Vec<u8>, Vec<u8>, Option<(f64, f64)>);
    let rows: Vec<Row> = held
        .par_iter()
        .map(|orig| -> Result<_> {
            let ct = oracle.encrypt_uncounted(orig)?;
            let (r, dcnc) = match method {
                CoaMethod::Msb => (best_global(orig, &msb(&ct), c), None),
                CoaMethod::Jigsaw => {
                    let raw = jigsaw(&ct, shape, b);
                    let mut best = (f64::NEG_INFINITY, raw.clone());
                    for o in 0..8 {
                        if let Some(img) = orient_image(&raw, shape, o) {
                            let g = best_global(orig, &img, c);
                            let p = psnr(orig, &g);
                            if p > best.0 {
                                best = (p, g);
                            }
                        }
                    }
                    let d = dc_nc(orig, &best.1, shape, b);
                    (best.1, Some(d))
                }
                _ => (best_global(orig, &neighbour_search(&ct, shape), c), None),
            };
            Ok((ct, r, dcnc))
        })
        .collect::<Result<_>>()?;
    let dcnc: Vec<(f64, f64)> = rows.iter().filter_map(|r| r.2).collect();
    let nd = dcnc.len();
    let (dc, nc) = dcnc
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let scored = score_rows(
        &Model::for_spec(oracle.spec(), shape),
        shape,
        &held,
        rows.into_iter().map(|(ct, r, _)| (ct, r)).collect(),
    )?;
    let nd_f = nd.max(1) as f64;
    let mut outcome = scored.outcome(
        oracle,
        Meta {
            attack: "coa",
            method: method.name(),
            queries: 0,
            pairs: 0,
            first: 0,
            notes:
                "scored up to the best global transform (inversion / channel order / orientation)"
                    .into(),
        },
    );
    outcome.direct_comparison = (nd > 0).then(|| dc / nd_f);
    outcome.neighbour_comparison = (nd > 0).then(|| nc / nd_f);
    Ok(outcome)
}
