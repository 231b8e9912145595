//! Scheme descriptions: the public parameters of a cipher, as stored in key files.

use pixveil_core::MasterSecret;
use pixveil_image::Shape;
use serde::{Deserialize, Serialize};

use crate::{Cipher, Error, Result};

/// Version of the key derivation: the HKDF contexts under which each scheme derives its masks,
/// keystreams and permutations from a secret. Stored in key files (`"kdf"`), so a key keeps
/// reproducing what it encrypted when a later pixveil derives differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KdfVersion {
    /// Key files without a `"kdf"` field (pixveil before issue 15): contexts `H ‖ W ‖ C`
    /// (`‖ b` for block schemes). Misses parameters: the logistic `burn_in` (burn-ins `b` and
    /// `b + k` give shifted copies of one orbit) and `pe`'s `shuffle` flag (`pe` and `pe-np`
    /// share one NP mask); chain stage `i` is keyed by the one byte `i`.
    V1,
    /// Every parameter in its context: `pe` appends `shuffle` (`u32` 0/1), `logistic` appends
    /// `burn_in`, chain stage `i` of `n` is keyed by `i ‖ n` (`u32`s, big-endian). LE and EtC
    /// are unchanged (shape and block size were already their only parameters).
    V2,
    /// Fixed mode exactly as [`KdfVersion::V2`]. Per-image mode keys `pe`, `pe-np`, `le` and
    /// `etc` from one ChaCha20 stream per image, `HChaCha20(derive(label, ctx), nonce)`, read
    /// as the image's tables are applied ([`crate::per_image`]; issue 12, item 6); `logistic`
    /// and chains keep the v2 per-image derivation.
    V3,
}

impl KdfVersion {
    /// The version new keys use.
    pub const CURRENT: KdfVersion = KdfVersion::V3;

    /// The number stored in key files.
    pub fn number(self) -> u32 {
        match self {
            KdfVersion::V1 => 1,
            KdfVersion::V2 => 2,
            KdfVersion::V3 => 3,
        }
    }

    /// The version of a stored number.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for an unknown number (a key from a newer pixveil).
    pub fn from_number(n: u32) -> Result<Self> {
        match n {
            1 => Ok(KdfVersion::V1),
            2 => Ok(KdfVersion::V2),
            3 => Ok(KdfVersion::V3),
            other => Err(Error::InvalidKey(format!(
                "key-derivation version {other} is not supported (this pixveil knows 1 to 3); upgrade pixveil"
            ))),
        }
    }
}

/// Most non-chain stages one scheme may have in all, nested chains included (a non-chain scheme
/// is one stage). Bounds the work of building a key: each stage derives tables as large as the
/// image.
pub const MAX_STAGES: usize = 16;
/// Deepest nesting of chains (a chain of non-chain schemes has depth 1).
pub const MAX_CHAIN_DEPTH: usize = 4;
/// Upper bound on the bytes of tables one key builds ([`SchemeSpec::table_bytes`]): 512 MiB.
/// Every standard scheme fits at the largest key shape
/// ([`MAX_KEY_IMAGE_BYTES`](crate::keyfile::MAX_KEY_IMAGE_BYTES)); a chain of several
/// permuting stages at that shape does not. In per-image mode each worker thread builds one
/// key's tables at a time.
pub const MAX_TABLE_BYTES: u64 = 512 << 20;

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

    /// An upper bound on the bytes of tables (masks, keystreams, permutations, gather tables)
    /// that building this scheme for `shape` allocates, `L = H·W·C`: `pe` `L` (NP only or grey)
    /// or `14·L` (with the colour shuffle: mask, codes, two five-way stencils); `logistic` `6·L`
    /// (raw orbit, `u32` permutation, keystream); `le` `48·d` with `d = b²·C` (block-local
    /// tables, independent of the image size); `etc` `11·L` (two gather tables); a chain the sum
    /// of its stages.
    pub fn table_bytes(&self, shape: Shape) -> u64 {
        let l = shape.len() as u64;
        match self {
            SchemeSpec::Pe { shuffle } if *shuffle && shape.channels() == 3 => 14 * l,
            SchemeSpec::Pe { .. } => l,
            SchemeSpec::Logistic { .. } => 6 * l,
            SchemeSpec::Le { block } => u64::from(*block)
                .saturating_mul(u64::from(*block))
                .saturating_mul(shape.channels() as u64)
                .saturating_mul(48),
            SchemeSpec::Etc { .. } => 11 * l,
            SchemeSpec::Chain { stages } => stages
                .iter()
                .fold(0u64, |acc, s| acc.saturating_add(s.table_bytes(shape))),
        }
    }

    /// Checks the bounds that keep a hostile key file from exhausting memory or time: at most
    /// [`MAX_STAGES`] stages in all and [`MAX_CHAIN_DEPTH`] levels of chains, no empty chain, a
    /// logistic burn-in of at most [`MAX_BURN_IN`](crate::logistic::MAX_BURN_IN), and at most
    /// [`MAX_TABLE_BYTES`] of tables for `shape`. Cheap: it stops at the first excess, before
    /// anything is derived.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the bound.
    pub fn check_limits(&self, shape: Shape) -> Result<()> {
        let mut stages = 0;
        check_walk(std::slice::from_ref(self), 0, &mut stages)?;
        let bytes = self.table_bytes(shape);
        if bytes > MAX_TABLE_BYTES {
            return Err(Error::InvalidParameter {
                scheme: "any",
                reason: format!(
                    "{} on {shape} images needs about {} MiB of tables, more than the limit of {} MiB",
                    self.name(),
                    bytes >> 20,
                    MAX_TABLE_BYTES >> 20
                ),
            });
        }
        Ok(())
    }

    /// Checks that the parameters fit `shape` and stay within [`SchemeSpec::check_limits`],
    /// without deriving anything: the parameter errors of [`SchemeSpec::build_with`], at none
    /// of its cost (what loading a key file or preparing a per-image batch cipher needs).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`], as [`SchemeSpec::build_with`] would return it.
    pub fn check(&self, shape: Shape) -> Result<()> {
        self.check_limits(shape)?;
        self.check_fit(shape)
    }

    /// The shape checks of the constructors (the block schemes' block size), for every stage.
    fn check_fit(&self, shape: Shape) -> Result<()> {
        match self {
            SchemeSpec::Pe { .. } | SchemeSpec::Logistic { .. } => Ok(()),
            SchemeSpec::Le { block } => crate::le::check_block("le", shape, *block).map(drop),
            SchemeSpec::Etc { block } => crate::le::check_block("etc", shape, *block).map(drop),
            SchemeSpec::Chain { stages } => stages.iter().try_for_each(|s| s.check_fit(shape)),
        }
    }

    /// Builds the cipher for `shape` keyed by `secret`, with the current key derivation
    /// ([`KdfVersion::CURRENT`]). All masks, keystreams and permutations are derived here, once.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the parameters do not fit the shape or exceed a bound of
    /// [`SchemeSpec::check_limits`].
    pub fn build(&self, shape: Shape, secret: &MasterSecret) -> Result<Box<dyn Cipher>> {
        self.build_with(shape, secret, KdfVersion::CURRENT)
    }

    /// Builds the cipher for `shape` keyed by `secret` under derivation version `kdf` (that of
    /// the key file; [`SchemeSpec::build`] for new keys).
    ///
    /// # Errors
    /// As [`SchemeSpec::build`].
    pub fn build_with(
        &self,
        shape: Shape,
        secret: &MasterSecret,
        kdf: KdfVersion,
    ) -> Result<Box<dyn Cipher>> {
        self.check_limits(shape)?;
        Ok(match self {
            SchemeSpec::Pe { shuffle } => {
                Box::new(crate::pe::Pe::with_kdf(shape, secret, *shuffle, kdf)?)
            }
            SchemeSpec::Logistic { burn_in } => Box::new(crate::logistic::Logistic::with_kdf(
                shape, secret, *burn_in, kdf,
            )?),
            SchemeSpec::Chain { stages } => {
                Box::new(crate::chain::Chain::with_kdf(shape, secret, stages, kdf)?)
            }
            SchemeSpec::Le { block } => Box::new(crate::le::Le::new(shape, secret, *block)?),
            SchemeSpec::Etc { block } => Box::new(crate::etc::Etc::new(shape, secret, *block)?),
        })
    }
}

/// The stage-count, depth and burn-in checks of [`SchemeSpec::check_limits`] over `specs` at
/// chain depth `depth`; `stages` counts the non-chain stages seen so far.
pub(crate) fn check_walk(specs: &[SchemeSpec], depth: usize, stages: &mut usize) -> Result<()> {
    let limit = |reason: String| {
        Err(Error::InvalidParameter {
            scheme: "chain",
            reason,
        })
    };
    for spec in specs {
        match spec {
            SchemeSpec::Chain { stages: inner } => {
                if depth + 1 > MAX_CHAIN_DEPTH {
                    return limit(format!("chains nested more than {MAX_CHAIN_DEPTH} deep"));
                }
                if inner.is_empty() {
                    return limit("a chain needs at least one stage".into());
                }
                check_walk(inner, depth + 1, stages)?;
            }
            other => {
                if let SchemeSpec::Logistic { burn_in } = other {
                    crate::logistic::check_burn_in(*burn_in)?;
                }
                *stages += 1;
                if *stages > MAX_STAGES {
                    return limit(format!("more than {MAX_STAGES} stages in all"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod check_tests {
    use super::*;

    /// `check` accepts exactly what `build_with` accepts, with the same message, over every
    /// scheme, awkward block sizes, limits and nesting, on shapes that do and do not divide.
    #[test]
    fn check_agrees_with_build() {
        let secret = MasterSecret::from_bytes([7; 32]);
        let mut specs = vec![
            SchemeSpec::Pe { shuffle: true },
            SchemeSpec::Pe { shuffle: false },
            SchemeSpec::Logistic { burn_in: 0 },
            SchemeSpec::Logistic {
                burn_in: crate::logistic::MAX_BURN_IN + 1,
            },
            SchemeSpec::Chain { stages: vec![] },
        ];
        for block in [0, 1, 2, 3, 4, 5, 7, 8, 16, 29] {
            specs.push(SchemeSpec::Le { block });
            specs.push(SchemeSpec::Etc { block });
        }
        let singles = specs.clone();
        for s in &singles {
            specs.push(SchemeSpec::Chain {
                stages: vec![SchemeSpec::Pe { shuffle: true }, s.clone()],
            });
        }
        specs.push(SchemeSpec::Chain {
            stages: vec![SchemeSpec::Chain {
                stages: vec![SchemeSpec::Chain {
                    stages: vec![SchemeSpec::Chain {
                        stages: vec![SchemeSpec::Pe { shuffle: true }],
                    }],
                }],
            }],
        });
        let shapes = [(28, 28, 1), (32, 32, 3), (30, 30, 3), (8, 12, 1), (1, 1, 3)];
        let (mut ok, mut err) = (0, 0);
        for (h, w, c) in shapes {
            let shape = Shape::new(h, w, c).expect("valid shape");
            for spec in &specs {
                let built = spec.build_with(shape, &secret, KdfVersion::CURRENT);
                let checked = spec.check(shape);
                match (&built, &checked) {
                    (Ok(_), Ok(())) => ok += 1,
                    (Err(a), Err(b)) => {
                        assert_eq!(a.to_string(), b.to_string(), "{spec:?} on {shape}");
                        err += 1;
                    }
                    _ => panic!(
                        "{spec:?} on {shape}: build {:?}, check {checked:?}",
                        built.map(|_| ())
                    ),
                }
            }
        }
        assert!(
            ok > 50 && err > 50,
            "both outcomes covered: {ok} ok, {err} errors"
        );
    }
}
