//! The data owner's side: holds the CKKS secret key, makes the public evaluation keys,
//! packs and encrypts images, decrypts the scores.
//!
//! Needs only the public [`PlanSpec`] (never the weights). Inputs are encrypted under the
//! secret key (a seeded `c₁`, half the upload of public-key encryption). Scores are
//! returned rounded to [`SCORE_BITS`] fractional bits: a CKKS decryption with its exact
//! noise reveals information about the secret key to whoever sees it (Li–Micciancio), so
//! the default path never hands that noise to the caller.

use std::sync::Arc;

use pixveil_ckks::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};
use rayon::prelude::*;

use crate::plan::{Mode, PlanSpec};
use crate::wire::{Encrypted, EvaluationKeys};
use crate::{Error, Result};

/// Fractional bits kept by [`Client::decrypt_scores`] (scores are rounded to multiples of
/// 2^-10 ≈ 0.001, coarser than the CKKS noise of the shipped plans, so the noise does not
/// reach the caller).
pub const SCORE_BITS: u32 = 10;

/// The client: secret key, encoder, the plan's public description.
#[derive(Debug)]
pub struct Client {
    spec: PlanSpec,
    id: [u8; 16],
    params: Arc<Parameters>,
    encoder: Encoder,
    keygen: KeyGenerator,
}

impl Client {
    /// A client with a fresh secret key for `spec`.
    ///
    /// # Errors
    /// [`Error::Ckks`] if the spec's parameters are invalid or not 128-bit secure.
    pub fn new<R: RngCore + CryptoRng>(spec: PlanSpec, rng: &mut R) -> Result<Self> {
        let params = spec.parameters()?;
        Self::with_parameters(spec, params, rng)
    }

    /// A client for `spec` with already validated parameters (tests use insecure rings).
    ///
    /// # Errors
    /// [`Error::Mismatch`] if `params` is not the spec's parameter set.
    pub fn with_parameters<R: RngCore + CryptoRng>(
        spec: PlanSpec,
        params: Arc<Parameters>,
        rng: &mut R,
    ) -> Result<Self> {
        if params.literal() != &spec.params {
            return Err(Error::Mismatch("parameters differ from the plan's".into()));
        }
        Ok(Self {
            id: spec.id(),
            encoder: Encoder::new(&params)?,
            keygen: KeyGenerator::new(&params, rng)?,
            params,
            spec,
        })
    }

    /// A client for `spec` with a secret key saved by [`Client::secret_key_bytes`].
    ///
    /// # Errors
    /// [`Error::Ckks`] if the spec's parameters are invalid or not 128-bit secure, or the
    /// key bytes are damaged or were made for other parameters.
    pub fn from_secret_key_bytes(spec: PlanSpec, secret_key: &[u8]) -> Result<Self> {
        let params = spec.parameters()?;
        let sk = SecretKey::from_bytes(&params, secret_key)?;
        Ok(Self {
            id: spec.id(),
            encoder: Encoder::new(&params)?,
            keygen: KeyGenerator::from_secret_key(&params, sk)?,
            params,
            spec,
        })
    }

    /// The secret key, serialized (wiped when the returned buffer is dropped). Store it as a
    /// secret; never send it.
    pub fn secret_key_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new(self.keygen.secret_key().to_bytes())
    }

    /// The plan's public description.
    pub fn spec(&self) -> &PlanSpec {
        &self.spec
    }

    /// The plan id objects are bound to.
    pub fn plan_id(&self) -> &[u8; 16] {
        &self.id
    }

    /// The parameters.
    pub fn params(&self) -> &Arc<Parameters> {
        &self.params
    }

    /// Public evaluation keys for `mode`: a relinearization key, plus in latency mode the
    /// Galois keys of exactly the plan's rotation steps, each trimmed to the level it is
    /// used at.
    ///
    /// # Errors
    /// Never for validated parameters.
    pub fn evaluation_keys<R: RngCore + CryptoRng>(
        &self,
        mode: Mode,
        rng: &mut R,
    ) -> Result<EvaluationKeys> {
        let relin = self.keygen.relin_key(rng)?;
        let galois = match mode {
            Mode::Latency => {
                let steps: Vec<(i64, usize)> = self
                    .spec
                    .galois_keys
                    .iter()
                    .map(|k| (k.step, k.level))
                    .collect();
                Some(self.keygen.galois_keys_at_levels(&steps, rng)?)
            }
            Mode::Throughput => None,
        };
        Ok(EvaluationKeys { relin, galois })
    }

    fn check_image(&self, image: &[f64]) -> Result<()> {
        let len: usize = self.spec.input_shape.iter().product();
        if image.len() != len {
            return Err(Error::Mismatch(format!(
                "an image of {len} values ({:?} C,H,W) expected, got {}",
                self.spec.input_shape,
                image.len()
            )));
        }
        if let Some(v) = image.iter().find(|v| !v.is_finite()) {
            return Err(Error::Mismatch(format!("non-finite input value {v}")));
        }
        Ok(())
    }

    /// The im2col slot vectors of one `CHW` image (values in `[0, 1]`), one per ciphertext.
    ///
    /// # Errors
    /// [`Error::Mismatch`] for a wrong length or non-finite values.
    pub fn pack_image(&self, image: &[f64]) -> Result<Vec<Vec<f64>>> {
        self.check_image(image)?;
        let l = &self.spec.input;
        let geometry = l.geometry();
        let slots = self.params.slots();
        Ok((0..l.ciphertexts)
            .map(|t| {
                let mut v = vec![0.0; slots];
                for j in 0..l.groups {
                    let e = t * l.groups + j;
                    if e >= l.kernel_len {
                        break;
                    }
                    for win in 0..l.windows {
                        // No pixel: the tap lies in the zero padding.
                        let value = geometry.pixel(win, e).map_or(0.0, |p| image[p]);
                        for o in 0..l.out_channels {
                            v[j * l.period + o * l.windows + win] = value;
                        }
                    }
                }
                v
            })
            .collect())
    }

    fn encrypt_vectors<R: RngCore + CryptoRng>(
        &self,
        vectors: &[Vec<f64>],
        rng: &mut R,
    ) -> Result<Vec<Ciphertext>> {
        let l = &self.spec.input;
        // One seed per ciphertext from the caller's CSPRNG, then encryption in parallel.
        let seeds: Vec<[u8; 32]> = vectors
            .iter()
            .map(|_| {
                let mut s = [0u8; 32];
                rng.fill_bytes(&mut s);
                s
            })
            .collect();
        let encryptor = Encryptor::with_secret_key(&self.params, self.keygen.secret_key())?;
        vectors
            .par_iter()
            .zip(seeds)
            .map(|(v, seed)| {
                let pt = self.encoder.encode_real(v, l.level, l.scale)?;
                Ok(encryptor.encrypt(&pt, &mut ChaCha20Rng::from_seed(seed))?)
            })
            .collect()
    }

    /// Encrypts one `CHW` image (values in `[0, 1]`) for latency mode.
    ///
    /// # Errors
    /// [`Error::Mismatch`] for a wrong length or non-finite values.
    pub fn encrypt_image<R: RngCore + CryptoRng>(
        &self,
        image: &[f64],
        rng: &mut R,
    ) -> Result<Encrypted> {
        let vectors = self.pack_image(image)?;
        Ok(Encrypted {
            mode: Mode::Latency,
            images: 1,
            ciphertexts: self.encrypt_vectors(&vectors, rng)?,
        })
    }

    /// Encrypts up to `batch_images` `CHW` images for throughput mode: ciphertext `p` holds
    /// value `p` of every image, slot `i` for image `i`.
    ///
    /// # Errors
    /// [`Error::Mismatch`] for no images, too many, or a malformed one.
    pub fn encrypt_batch<R: RngCore + CryptoRng>(
        &self,
        images: &[&[f64]],
        rng: &mut R,
    ) -> Result<Encrypted> {
        if images.is_empty() || images.len() > self.spec.batch_images {
            return Err(Error::Mismatch(format!(
                "a batch holds 1..={} images, got {}",
                self.spec.batch_images,
                images.len()
            )));
        }
        for im in images {
            self.check_image(im)?;
        }
        let len: usize = self.spec.input_shape.iter().product();
        let vectors: Vec<Vec<f64>> = (0..len)
            .map(|p| images.iter().map(|im| im[p]).collect())
            .collect();
        Ok(Encrypted {
            mode: Mode::Throughput,
            images: images.len(),
            ciphertexts: self.encrypt_vectors(&vectors, rng)?,
        })
    }

    /// Decrypts scores into one logit vector per image, each value rounded to
    /// [`SCORE_BITS`] fractional bits.
    ///
    /// # Errors
    /// As [`Client::decrypt_scores_unrounded`].
    pub fn decrypt_scores(&self, scores: &Encrypted) -> Result<Vec<Vec<f64>>> {
        self.decrypt_scores_with(scores, |dec, ct| {
            Ok(dec
                .decrypt_decode(ct, &self.encoder, SCORE_BITS)?
                .into_iter()
                .map(|z| z.re)
                .collect())
        })
    }

    /// Decrypts any ciphertext of the plan's parameters into its slots **with their CKKS
    /// noise** (tracing a plan layer by layer). The same warning as for
    /// [`Client::decrypt_scores_unrounded`] applies.
    ///
    /// # Errors
    /// [`Error::Ckks`] for a ciphertext of other parameters.
    pub fn decrypt_slots_unrounded(&self, ct: &Ciphertext) -> Result<Vec<f64>> {
        let dec = Decryptor::new(&self.params, self.keygen.secret_key())?;
        Ok(self.encoder.decode_real(&dec.decrypt_raw(ct)?)?)
    }

    /// Decrypts scores **with their CKKS noise** (for precision measurements). Never
    /// release these values to anyone who also sees the ciphertexts: they leak information
    /// about the secret key.
    ///
    /// # Errors
    /// [`Error::Mismatch`] if the ciphertext count, level or mode does not fit the plan;
    /// [`Error::Ckks`] for ciphertexts of other parameters.
    pub fn decrypt_scores_unrounded(&self, scores: &Encrypted) -> Result<Vec<Vec<f64>>> {
        self.decrypt_scores_with(scores, |dec, ct| {
            Ok(self.encoder.decode_real(&dec.decrypt_raw(ct)?)?)
        })
    }

    /// Checks the scores against the plan and decodes every ciphertext with `decode`.
    fn decrypt_scores_with(
        &self,
        scores: &Encrypted,
        decode: impl Fn(&Decryptor, &Ciphertext) -> Result<Vec<f64>> + Sync,
    ) -> Result<Vec<Vec<f64>>> {
        let classes = self.spec.classes;
        let (count, images) = match scores.mode {
            Mode::Latency => (1, 1),
            Mode::Throughput => (classes, scores.images),
        };
        if scores.ciphertexts.len() != count
            || scores.images != images
            || images == 0
            || images > self.spec.batch_images
        {
            return Err(Error::Mismatch(format!(
                "{} scores: {} ciphertexts for {} images",
                scores.mode.name(),
                scores.ciphertexts.len(),
                scores.images
            )));
        }
        let dec = Decryptor::new(&self.params, self.keygen.secret_key())?;
        let slots = scores
            .ciphertexts
            .par_iter()
            .map(|ct| {
                if ct.level() != self.spec.output.level {
                    return Err(Error::Mismatch(format!(
                        "scores at level {}, the plan ends at level {}",
                        ct.level(),
                        self.spec.output.level
                    )));
                }
                decode(&dec, ct)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(match scores.mode {
            Mode::Latency => vec![slots[0][..classes].to_vec()],
            Mode::Throughput => (0..images)
                .map(|i| slots.iter().map(|s| s[i]).collect())
                .collect(),
        })
    }
}
