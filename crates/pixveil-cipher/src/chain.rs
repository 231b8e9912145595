//! Composition of schemes (paper C's "two pixel-based techniques", generalised).
//!
//! # Algorithm
//! A chain of stages `S₀ … S_{k−1}` (any [`SchemeSpec`]s, including nested chains) encrypts by
//! applying `S₀` first and `S_{k−1}` last; decryption undoes `S_{k−1}` first and `S₀` last.
//! Stage `i` is keyed by the independent subkey
//! `secret.derive("pixveil/v1/chain", &[i as u8])` (HKDF-SHA-256, context = one byte, the stage
//! index), so two stages of the same scheme never share key material. At most 256 stages.
//! An empty chain is rejected ([`Error::InvalidParameter`]).
//!
//! # The default grey-scale chain ([`default_grey`])
//! Paper C's text is not available; its abstract says it integrates "two prevalent image
//! encryption techniques" for grey-scale images. pixveil's default is
//! `[Pe { shuffle: false }, Logistic { burn_in: DEFAULT_BURN_IN }]`: NP, then the logistic
//! keystream. **Honest note:** NP is an XOR with `0xFF·r` and the logistic stage an XOR with a
//! keystream, so this particular chain *collapses to a single XOR pad* `m ⊕ s` — it is no
//! stronger than either stage alone against known plaintext (one pair reveals the pad). The
//! implementation exploits this: adjacent XOR-only stages are merged into one pad at
//! construction. The chain mechanism is general: a chain with a permuting stage (colour shuffle,
//! LE, EtC) does not collapse.

use pixveil_core::MasterSecret;
use pixveil_image::Shape;

use crate::{error::check_len, sample::xor_into, Cipher, Error, Result, SchemeSpec};

/// Derivation label of the stage subkeys.
pub const LABEL_STAGE: &str = "pixveil/v1/chain";

enum Stage {
    /// A pure XOR pad of `H·W·C` bytes (possibly several merged XOR stages).
    Xor(Vec<u8>),
    /// Any other cipher.
    General(Box<dyn Cipher>),
}

/// A composition of ciphers for one shape.
pub struct Chain {
    shape: Shape,
    stages: Vec<Stage>,
}

/// Paper C's grey-scale idea as pixveil's default: NP then the logistic keystream (see the
/// module docs for why this particular pair collapses to one XOR pad).
pub fn default_grey() -> SchemeSpec {
    SchemeSpec::Chain {
        stages: vec![
            SchemeSpec::Pe { shuffle: false },
            SchemeSpec::Logistic {
                burn_in: crate::logistic::DEFAULT_BURN_IN,
            },
        ],
    }
}

/// The XOR pad of a stage when it is a pure XOR, else the built cipher.
fn build_stage(spec: &SchemeSpec, shape: Shape, key: &MasterSecret) -> Result<Stage> {
    Ok(match spec {
        SchemeSpec::Pe { shuffle } => {
            let pe = crate::pe::Pe::new(shape, key, *shuffle)?;
            if pe.is_xor_only() {
                Stage::Xor(pe.into_mask())
            } else {
                Stage::General(Box::new(pe))
            }
        }
        SchemeSpec::Logistic { burn_in } => {
            Stage::Xor(crate::logistic::Logistic::new(shape, key, *burn_in)?.into_keystream())
        }
        other => Stage::General(other.build(shape, key)?),
    })
}

impl Chain {
    /// Builds the chain of `stages` (encryption order) for `shape`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an empty chain, more than 256 stages, or a stage whose
    /// parameters do not fit `shape`.
    pub fn new(shape: Shape, secret: &MasterSecret, stages: &[SchemeSpec]) -> Result<Self> {
        if stages.is_empty() {
            return Err(Error::InvalidParameter {
                scheme: "chain",
                reason: "a chain needs at least one stage".into(),
            });
        }
        if stages.len() > 256 {
            return Err(Error::InvalidParameter {
                scheme: "chain",
                reason: format!("at most 256 stages, got {}", stages.len()),
            });
        }
        let mut built: Vec<Stage> = Vec::with_capacity(stages.len());
        for (i, spec) in stages.iter().enumerate() {
            let key = secret.derive(LABEL_STAGE, &[i as u8]);
            let stage = build_stage(spec, shape, &key)?;
            match (built.last_mut(), stage) {
                (Some(Stage::Xor(acc)), Stage::Xor(pad)) => xor_into(acc, &pad),
                (_, stage) => built.push(stage),
            }
        }
        Ok(Self {
            shape,
            stages: built,
        })
    }

    /// Number of kernels actually applied per image after merging adjacent XOR stages.
    pub fn kernel_count(&self) -> usize {
        self.stages.len()
    }
}

impl Cipher for Chain {
    fn shape(&self) -> Shape {
        self.shape
    }

    fn encrypt(&self, image: &mut [u8]) -> Result<()> {
        check_len(self.shape, image)?;
        for stage in &self.stages {
            match stage {
                Stage::Xor(pad) => xor_into(image, pad),
                Stage::General(c) => c.encrypt(image)?,
            }
        }
        Ok(())
    }

    fn decrypt(&self, image: &mut [u8]) -> Result<()> {
        check_len(self.shape, image)?;
        for stage in self.stages.iter().rev() {
            match stage {
                Stage::Xor(pad) => xor_into(image, pad),
                Stage::General(c) => c.decrypt(image)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_collapses_and_matches_stages() {
        let shape = Shape::new(8, 8, 1).unwrap();
        let secret = MasterSecret::from_bytes([5; 32]);
        let SchemeSpec::Chain { stages } = default_grey() else {
            unreachable!()
        };
        let chain = Chain::new(shape, &secret, &stages).unwrap();
        assert_eq!(chain.kernel_count(), 1);
        // Same result as applying the two stages one after the other with their subkeys.
        let img: Vec<u8> = (0..64).collect();
        let mut a = img.clone();
        chain.encrypt(&mut a).unwrap();
        let mut b = img.clone();
        for (i, s) in stages.iter().enumerate() {
            s.build(shape, &secret.derive(LABEL_STAGE, &[i as u8]))
                .unwrap()
                .encrypt(&mut b)
                .unwrap();
        }
        assert_eq!(a, b);
    }

    #[test]
    fn empty_chain_rejected() {
        let shape = Shape::new(4, 4, 1).unwrap();
        let secret = MasterSecret::from_bytes([5; 32]);
        assert!(matches!(
            Chain::new(shape, &secret, &[]),
            Err(Error::InvalidParameter { .. })
        ));
    }

    #[test]
    fn non_xor_chain_keeps_order() {
        let shape = Shape::new(8, 8, 3).unwrap();
        let secret = MasterSecret::from_bytes([6; 32]);
        let stages = [
            SchemeSpec::Pe { shuffle: true },
            SchemeSpec::Le { block: 4 },
        ];
        let chain = Chain::new(shape, &secret, &stages).unwrap();
        assert_eq!(chain.kernel_count(), 2);
        let img: Vec<u8> = (0..192).map(|i| (i * 7) as u8).collect();
        let mut c = img.clone();
        chain.encrypt(&mut c).unwrap();
        assert_ne!(c, img);
        chain.decrypt(&mut c).unwrap();
        assert_eq!(c, img);
    }
}
