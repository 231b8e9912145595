//! Scheme descriptions: the public parameters of a cipher, as stored in key files.

use pixveil_core::MasterSecret;
use pixveil_image::Shape;
use serde::{Deserialize, Serialize};

use crate::{Cipher, Error, Result};

/// A scheme and its public parameters. Serialised (JSON, tagged by `"scheme"`) into key files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum SchemeSpec {
    /// Paper A (Sirichotedumrong et al., ICIP 2019): per-pixel, per-channel negative–positive
    /// transform, plus (if `shuffle`) a per-pixel colour-component shuffle with the six codes of
    /// A's Table 1.
    Pe {
        /// Apply the colour-component shuffle (step 3 of paper A). Ignored for grey images.
        shuffle: bool,
    },
    /// Paper B (Ahmad & Shin, 2022): XOR of every value with a logistic-map byte keystream whose
    /// positions are shuffled by a permutation drawn from a second key.
    Logistic {
        /// Logistic-map iterations discarded before the first output byte.
        burn_in: u32,
    },
    /// A composition: `stages[0]` is applied first on encryption (and undone last on decryption).
    /// Paper C's grey-scale scheme is a chain of two pixel-level techniques.
    Chain {
        /// The stages, in encryption order. At least one.
        stages: Vec<SchemeSpec>,
    },
    /// Tanaka's learnable encryption (ICCE-TW 2018): in every `block×block` block, split each
    /// byte into nibbles and apply one secret nibble permutation with reversal (same key for
    /// every block).
    Le {
        /// Block side in pixels (Tanaka: 4). Must divide the image height and width.
        block: u32,
    },
    /// Encryption-then-compression block scrambling (Kurihara, Chuman, Kiya): block permutation,
    /// per-block rotation/flip, per-block negative–positive, per-block colour shuffle.
    Etc {
        /// Block side in pixels. Must divide the image height and width.
        block: u32,
    },
}

impl SchemeSpec {
    /// The scheme for a CLI name: `pe` (NP + colour shuffle), `pe-np` (NP only), `logistic`,
    /// `grey` (the default grey-scale chain), `le`, `etc`. `block` applies to block schemes
    /// (default 4).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an unknown name.
    pub fn from_name(name: &str, block: Option<u32>) -> Result<Self> {
        let block = block.unwrap_or(4);
        Ok(match name {
            "pe" => SchemeSpec::Pe { shuffle: true },
            "pe-np" => SchemeSpec::Pe { shuffle: false },
            "logistic" => SchemeSpec::Logistic {
                burn_in: crate::logistic::DEFAULT_BURN_IN,
            },
            "grey" | "gray" => SchemeSpec::grey(),
            "le" => SchemeSpec::Le { block },
            "etc" => SchemeSpec::Etc { block },
            other => {
                return Err(Error::InvalidParameter {
                    scheme: "any",
                    reason: format!(
                        "unknown scheme {other:?}; expected one of {}",
                        Self::NAMES.join(", ")
                    ),
                })
            }
        })
    }

    /// Names accepted by [`SchemeSpec::from_name`].
    pub const NAMES: &'static [&'static str] = &["pe", "pe-np", "logistic", "grey", "le", "etc"];

    /// The default grey-scale scheme (paper C's idea): see [`crate::chain`] for the choice.
    pub fn grey() -> Self {
        crate::chain::default_grey()
    }

    /// A short human-readable name (`pe`, `pe-np`, `logistic`, `le/4`, `chain(pe-np,logistic)`…).
    pub fn name(&self) -> String {
        match self {
            SchemeSpec::Pe { shuffle: true } => "pe".into(),
            SchemeSpec::Pe { shuffle: false } => "pe-np".into(),
            SchemeSpec::Logistic { .. } => "logistic".into(),
            SchemeSpec::Chain { stages } if *self == Self::grey() => {
                let _ = stages;
                "grey".into()
            }
            SchemeSpec::Chain { stages } => format!(
                "chain({})",
                stages
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            SchemeSpec::Le { block } => format!("le/{block}"),
            SchemeSpec::Etc { block } => format!("etc/{block}"),
        }
    }

    /// Builds the cipher for `shape` keyed by `secret`. All masks, keystreams and permutations
    /// are derived here, once.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the parameters do not fit the shape.
    pub fn build(&self, shape: Shape, secret: &MasterSecret) -> Result<Box<dyn Cipher>> {
        Ok(match self {
            SchemeSpec::Pe { shuffle } => Box::new(crate::pe::Pe::new(shape, secret, *shuffle)?),
            SchemeSpec::Logistic { burn_in } => {
                Box::new(crate::logistic::Logistic::new(shape, secret, *burn_in)?)
            }
            SchemeSpec::Chain { stages } => {
                Box::new(crate::chain::Chain::new(shape, secret, stages)?)
            }
            SchemeSpec::Le { block } => Box::new(crate::le::Le::new(shape, secret, *block)?),
            SchemeSpec::Etc { block } => Box::new(crate::etc::Etc::new(shape, secret, *block)?),
        })
    }
}
