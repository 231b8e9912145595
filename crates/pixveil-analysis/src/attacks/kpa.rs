//! Known-plaintext attack: learn `π` and `m` of `c[j] = p[π(j)] ⊕ m[j]` from `k` pairs by
//! consistency, then decrypt held-out ciphertexts.
//!
//! For every output unit `j` the attacker keeps the sources `i` (allowed by the
//! [`Model`]'s locality) for which `c_t[j] ⊕ p_t[i]` is one constant mask, in the
//! alphabet, over all `k` pairs. Sources determined uniquely are removed from the other
//! candidate lists; a held-out ciphertext is decrypted by reading each source from its
//! (best-guess) output unit; where nothing is known, the most frequent plain value seen at that
//! position is guessed.
//!
//! Theory, fixed key: paper A with NP only / on grey images and the XOR schemes fall to **one**
//! pair (every mask value is revealed); paper A's colour shuffle needs the three values of a
//! pixel to be distinct and non-complementary, so a second pair fixes most of the rest; block
//! permutations (EtC) and LE's nibble permutation need enough pairs to make every position's
//! value sequence unique. With per-image keys the pairs describe unrelated keys and the attack
//! decrypts held-out images with the wrong key.

use pixveil_image::ImageBatch;

use super::{attack_held_out_with, AttackOutcome, EncryptionOracle, Mapping, Meta, Model};
use crate::{Error, Result};

/// Runs the known-plaintext attack: images `0..pairs` of `images` are the known pairs (the
/// victim encrypts them), the next `limit` images (all the rest if `None`) are the held-out
/// targets.
///
/// # Shapes
/// `images`: `N` plain images of the oracle's shape, `N > pairs`.
///
/// # Errors
/// [`Error::NotEnoughImages`] if `pairs == 0` or no image is left to attack;
/// [`Error::InvalidParameter`] for `limit == Some(0)`; cipher errors.
pub fn run(
    oracle: &EncryptionOracle<'_>,
    images: &ImageBatch,
    pairs: usize,
    limit: Option<usize>,
) -> Result<AttackOutcome> {
    super::check_limit(limit, "known-plaintext attack")?;
    let shape = oracle.shape();
    if images.shape() != shape {
        return Err(Error::ShapeMismatch {
            op: "kpa",
            expected: shape.to_string(),
            found: images.shape().to_string(),
        });
    }
    if pairs == 0 || images.len() <= pairs {
        return Err(Error::NotEnoughImages(format!(
            "the known-plaintext attack needs at least one pair and one held-out image \
             ({} images, {pairs} pairs)",
            images.len()
        )));
    }
    let model = Model::for_spec(oracle.spec(), shape);
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for p in images.images().take(pairs) {
        let c = oracle.encrypt_uncounted(p)?;
        xs.extend(model.to_units(p, shape)?);
        ys.extend(model.to_units(&c, shape)?);
    }
    let mapping = Mapping::learn(&model, &xs, &ys);
    let held: Vec<&[u8]> = images
        .images()
        .skip(pairs)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    let scored = attack_held_out_with(oracle, &held, &model, &mapping)?;
    Ok(scored.outcome(
        oracle,
        Meta {
            attack: "kpa",
            method: "consistency",
            queries: 0,
            pairs,
            first: pairs,
            notes: format!(
                "model {:?}/{:?}/{:?}; {:.1}% of units uniquely determined from {} samples",
                model.unit,
                model.locality,
                model.mask,
                100.0 * mapping.determined_fraction(),
                xs.len()
            ),
        },
    ))
}
