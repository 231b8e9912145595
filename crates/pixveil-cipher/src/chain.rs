//! Composition of schemes (paper C's "two pixel-based techniques", generalised).
//!
//! # Algorithm
//! A chain of stages `S₀ … S_{k−1}` (any [`SchemeSpec`]s, including nested chains) encrypts by
//! applying `S₀` first and `S_{k−1}` last; decryption undoes `S_{k−1}` first and `S₀` last.
//! Stage `i` of `n` is keyed by the independent subkey
//! `secret.derive("pixveil/v1/chain", i ‖ n)` (HKDF-SHA-256, context the stage index and the
//! stage count as big-endian `u32`s: derivation [`KdfVersion::V2`]; [`KdfVersion::V1`] key
//! files use the one byte `i`), so two stages of the same scheme never share key material.
//! At most [`MAX_STAGES`](crate::spec::MAX_STAGES) stages in all and
//! [`MAX_CHAIN_DEPTH`](crate::spec::MAX_CHAIN_DEPTH) levels of nesting; an empty chain is
//! rejected ([`Error::InvalidParameter`]).
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

use zeroize::Zeroizing;

use crate::{
    error::check_len,
    sample::xor_into,
    spec::{check_walk, KdfVersion},
    Cipher, Error, Result, SchemeSpec,
};

/// Derivation label of the stage subkeys.
pub const LABEL_STAGE: &str = "pixveil/v1/chain";

enum Stage {
    /// A pure XOR pad of `H·W·C` bytes (possibly several merged XOR stages), wiped on drop.
    Xor(Zeroizing<Vec<u8>>),
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

/// The subkey of stage `i` of `n` under `kdf` (see the module docs).
pub(crate) fn stage_key(
    secret: &MasterSecret,
    i: usize,
    n: usize,
    kdf: KdfVersion,
) -> MasterSecret {
    match kdf {
        // v1 chains had at most 256 stages, so the index fits its one byte.
        KdfVersion::V1 => secret.derive(LABEL_STAGE, &[i as u8]),
        KdfVersion::V2 | KdfVersion::V3 => {
            let mut ctx = [0u8; 8];
            ctx[..4].copy_from_slice(&(i as u32).to_be_bytes());
            ctx[4..].copy_from_slice(&(n as u32).to_be_bytes());
            secret.derive(LABEL_STAGE, &ctx)
        }
    }
}

/// The XOR pad of a stage when it is a pure XOR, else the built cipher.
fn build_stage(
    spec: &SchemeSpec,
    shape: Shape,
    key: &MasterSecret,
    kdf: KdfVersion,
) -> Result<Stage> {
    Ok(match spec {
        SchemeSpec::Pe { shuffle } => {
            let pe = crate::pe::Pe::with_kdf(shape, key, *shuffle, kdf)?;
            if pe.is_xor_only() {
                Stage::Xor(pe.into_mask())
            } else {
                Stage::General(Box::new(pe))
            }
        }
        SchemeSpec::Logistic { burn_in } => Stage::Xor(
            crate::logistic::Logistic::with_kdf(shape, key, *burn_in, kdf)?.into_keystream(),
        ),
        other => Stage::General(other.build_with(shape, key, kdf)?),
    })
}

impl Chain {
    /// Builds the chain of `stages` (encryption order) for `shape` with the current key
    /// derivation.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an empty chain, more stages or deeper nesting than the
    /// limits of [`SchemeSpec::check_limits`], or a stage whose parameters do not fit `shape`.
    pub fn new(shape: Shape, secret: &MasterSecret, stages: &[SchemeSpec]) -> Result<Self> {
        Self::with_kdf(shape, secret, stages, KdfVersion::CURRENT)
    }

    /// As [`Chain::new`], under derivation version `kdf`.
    ///
    /// # Errors
    /// As [`Chain::new`].
    pub fn with_kdf(
        shape: Shape,
        secret: &MasterSecret,
        stages: &[SchemeSpec],
        kdf: KdfVersion,
    ) -> Result<Self> {
        if stages.is_empty() {
            return Err(Error::InvalidParameter {
                scheme: "chain",
                reason: "a chain needs at least one stage".into(),
            });
        }
        check_walk(stages, 1, &mut 0)?;
        let mut built: Vec<Stage> = Vec::with_capacity(stages.len());
        for (i, spec) in stages.iter().enumerate() {
            let key = stage_key(secret, i, stages.len(), kdf);
            let stage = build_stage(spec, shape, &key, kdf)?;
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
            s.build(shape, &stage_key(&secret, i, stages.len(), KdfVersion::V2))
                .unwrap()
                .encrypt(&mut b)
                .unwrap();
        }
        assert_eq!(a, b);
    }

    #[test]
    fn stage_keys_follow_the_version() {
        let secret = MasterSecret::from_bytes([5; 32]);
        assert_eq!(
            stage_key(&secret, 1, 2, KdfVersion::V1),
            secret.derive(LABEL_STAGE, &[1])
        );
        assert_eq!(
            stage_key(&secret, 1, 2, KdfVersion::V2),
            secret.derive(LABEL_STAGE, &[0, 0, 0, 1, 0, 0, 0, 2])
        );
        // v2: the stage count is in the context, so [A] and [A, B] key A differently.
        assert_ne!(
            stage_key(&secret, 0, 1, KdfVersion::V2),
            stage_key(&secret, 0, 2, KdfVersion::V2)
        );
    }

    #[test]
    fn stage_count_and_depth_are_bounded() {
        use crate::spec::{MAX_CHAIN_DEPTH, MAX_STAGES};
        let shape = Shape::new(4, 4, 1).unwrap();
        let secret = MasterSecret::from_bytes([5; 32]);
        let np = SchemeSpec::Pe { shuffle: false };
        assert!(Chain::new(shape, &secret, &vec![np.clone(); MAX_STAGES]).is_ok());
        let err = Chain::new(shape, &secret, &vec![np.clone(); MAX_STAGES + 1])
            .err()
            .unwrap();
        assert!(err.to_string().contains("stages in all"), "{err}");
        // The count is over the whole tree: 5 chains of 4 stages nested in one chain.
        let four = SchemeSpec::Chain {
            stages: vec![np.clone(); 4],
        };
        assert!(Chain::new(shape, &secret, &vec![four.clone(); 4]).is_ok());
        assert!(Chain::new(shape, &secret, &vec![four; 5]).is_err());
        // Depth: MAX_CHAIN_DEPTH levels build, one more does not.
        let mut nested = np;
        for _ in 0..MAX_CHAIN_DEPTH {
            nested = SchemeSpec::Chain {
                stages: vec![nested],
            };
        }
        assert!(nested.build(shape, &secret).is_ok());
        let deeper = SchemeSpec::Chain {
            stages: vec![nested],
        };
        let err = deeper.build(shape, &secret).err().unwrap();
        assert!(err.to_string().contains("nested"), "{err}");
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
