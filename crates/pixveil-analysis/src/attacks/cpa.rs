//! Chosen-plaintext attack: a few images that encode each position's index in their values.
//!
//! With the [`Model`] `c[j] = p[π(j)] ⊕ m[j]` and `π(j)` inside a group of `g`
//! units:
//! * **complement masks** (`m ∈ {0, full}`): query `t` sets every unit `i` to
//!   `1 + digit_t(i mod g)` in base `B = full/2` (127 for bytes, 7 for nibbles). Values
//!   `1..=B` and their complements are disjoint, so each output reveals its mask bit and one
//!   digit of its source: `⌈log_B g⌉` queries (at least one). Paper A with colour shuffle
//!   (`g = 3`): **one** query, the image whose every pixel is `(1, 2, 3)` (Chang & Case);
//!   EtC on 32×32×3 (`g = 3072`): 2; LE (`g = 96` nibbles): 3 (Chang & Case used 16).
//! * **any masks** (XOR keystream): the all-zero image gives `m` directly, then
//!   `⌈log_256 g⌉` index images (none for pure XOR schemes): 1 query for `logistic`.
//!
//! Every query goes through the [`EncryptionOracle`], which counts it. With per-image keys each
//! query is encrypted under a fresh key: what is learned does not apply to the targets.

use pixveil_image::ImageBatch;

use super::{
    attack_held_out_with, AttackOutcome, EncryptionOracle, Mapping, MaskAlphabet, Meta, Model,
};
use crate::{Error, Result};

/// Queries and the unit images behind them.
fn digits_needed(base: usize, g: usize) -> usize {
    let mut t = 0;
    let mut reach = 1usize;
    while reach < g {
        reach = reach.saturating_mul(base);
        t += 1;
    }
    t
}

/// Runs the chosen-plaintext attack and decrypts the first `limit` images of `targets` (all if
/// `None`).
///
/// # Shapes
/// `targets`: plain images of the oracle's shape (`N ≥ 1`), used only as held-out victims.
///
/// # Errors
/// [`Error::NotEnoughImages`] without a target; [`Error::InvalidParameter`] for
/// `limit == Some(0)`; cipher errors.
pub fn run(
    oracle: &EncryptionOracle<'_>,
    targets: &ImageBatch,
    limit: Option<usize>,
) -> Result<AttackOutcome> {
    super::check_limit(limit, "chosen-plaintext attack")?;
    let shape = oracle.shape();
    if targets.shape() != shape {
        return Err(Error::ShapeMismatch {
            op: "cpa",
            expected: shape.to_string(),
            found: targets.shape().to_string(),
        });
    }
    if targets.is_empty() {
        return Err(Error::NotEnoughImages("no target image".into()));
    }
    let model = Model::for_spec(oracle.spec(), shape);
    let l = model.sample_len(shape);
    let g = model.group(0, l).len().max(1);
    let full = model.full();
    let samples_per_image = model.to_units(&vec![0u8; shape.len()], shape)?.len().max(1);
    // Every answer holds `samples_per_image ≥ 1` samples of `l` units each (`to_units` of an
    // image of `shape`), so `answer[0][j]` below is in range for every `j < l`.
    // One chosen image from one sample-level pattern (tiled over every block for nibbles).
    let query = |units: Vec<u8>| -> Result<Vec<Vec<u8>>> {
        let img = model.from_units(&vec![units; samples_per_image], shape)?;
        let c = oracle.query(&img)?;
        model.to_units(&c, shape)
    };
    let mut cand: Vec<Vec<(u32, u8)>> = vec![Vec::new(); l];
    match model.mask {
        MaskAlphabet::Complement => {
            let base = usize::from(full / 2);
            let t = digits_needed(base, g).max(1);
            let mut answers = Vec::new();
            for q in 0..t {
                let div = base.pow(q as u32);
                let units: Vec<u8> = (0..l).map(|i| (1 + (i % g) / div % base) as u8).collect();
                answers.push(query(units)?);
            }
            for (j, cj) in cand.iter_mut().enumerate() {
                let start = model.group(j, l).start;
                let mut src = 0usize;
                let mut mask = None;
                let mut ok = true;
                for (q, ans) in answers.iter().enumerate() {
                    let y = ans[0][j];
                    let (m, v) = if (1..=full / 2).contains(&y) {
                        (0, y)
                    } else {
                        (full, full ^ y)
                    };
                    if !(1..=full / 2).contains(&v) || mask.is_some_and(|mm| mm != m) {
                        ok = false;
                        break;
                    }
                    mask = Some(m);
                    src += usize::from(v - 1) * base.pow(q as u32);
                }
                if let (true, Some(m)) = (ok, mask) {
                    if start + src < l && src < g {
                        cj.push(((start + src) as u32, m));
                    }
                }
            }
        }
        MaskAlphabet::Any => {
            let zero = query(vec![0u8; l])?;
            let base = model.radix();
            let t = digits_needed(base, g);
            let mut answers = Vec::new();
            for q in 0..t {
                let div = base.pow(q as u32);
                let units: Vec<u8> = (0..l).map(|i| ((i % g) / div % base) as u8).collect();
                answers.push(query(units)?);
            }
            for (j, cj) in cand.iter_mut().enumerate() {
                let start = model.group(j, l).start;
                let m = zero[0][j];
                let mut src = 0usize;
                for (q, ans) in answers.iter().enumerate() {
                    let y = ans[0][j];
                    src += usize::from(y ^ m) * base.pow(q as u32);
                }
                if start + src < l && src < g {
                    cj.push(((start + src) as u32, m));
                }
            }
        }
    }
    let mapping = Mapping::from_parts(cand, vec![0; l]);
    let queries = oracle.queries();
    let limit = limit.unwrap_or(usize::MAX);
    let held: Vec<&[u8]> = targets.images().take(limit).collect();
    let scored = attack_held_out_with(oracle, &held, &model, &mapping)?;
    Ok(scored.outcome(
        oracle,
        Meta {
            attack: "cpa",
            method: "index-images",
            queries,
            pairs: 0,
            first: 0,
            notes: format!(
                "model {:?}/{:?}/{:?}; {queries} chosen images; {:.1}% of units determined",
                model.unit,
                model.locality,
                model.mask,
                100.0 * mapping.determined_fraction()
            ),
        },
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn digits() {
        assert_eq!(super::digits_needed(127, 3), 1);
        assert_eq!(super::digits_needed(127, 3072), 2);
        assert_eq!(super::digits_needed(7, 96), 3);
        assert_eq!(super::digits_needed(256, 1), 0);
    }
}
