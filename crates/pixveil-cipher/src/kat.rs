//! Known-answer vectors: SHA-256 digests of fixed-key ciphertexts of deterministic inputs.
//!
//! The standard set ([`standard_vectors`]) encrypts two synthetic batches with the master secret
//! [`KAT_SECRET`] (bytes `0, 1, …, 31`) in fixed-key mode:
//!
//! * 16 images of 32×32×3, bytes = the keystream of `ChaCha20Rng::from_seed([3; 32])`
//!   (`fill_bytes` over the whole batch, `N·H·W·C` bytes in batch order);
//! * 16 images of 28×28×1, bytes = the keystream of `ChaCha20Rng::from_seed([1; 32])`.
//!
//! The committed vectors live in `crates/pixveil-cipher/tests/kat/vectors.json` (current key
//! derivation, [`KdfVersion::CURRENT`]) and `vectors-v1.json` (derivation v1, the regression
//! vectors of key files written before issue 15, which must keep decrypting what they
//! encrypted); regenerate with `cargo run -p pixveil-cipher --example kat [-- 1]`. A test fails
//! if any scheme's output changes.

use pixveil_core::MasterSecret;
use pixveil_image::{ImageBatch, Shape};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{BatchCipher, Error, KdfVersion, KeyMode, Nonce, Result, SchemeSpec};

/// The master secret of the known-answer vectors: bytes `0..32`.
pub const KAT_SECRET: [u8; 32] = {
    let mut s = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        s[i] = i as u8;
        i += 1;
    }
    s
};

/// One known-answer vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KatVector {
    /// Short scheme name ([`SchemeSpec::name`]).
    pub scheme: String,
    /// The scheme and its parameters.
    pub spec: SchemeSpec,
    /// Image shape, `HxWxC`.
    pub shape: String,
    /// How the input batch is generated.
    pub input: String,
    /// SHA-256 (hex) of the input batch bytes.
    pub input_sha256: String,
    /// SHA-256 (hex) of the fixed-key ciphertext batch bytes.
    pub sha256: String,
}

/// `n` images of `shape` filled with the keystream of `ChaCha20Rng::from_seed(seed)`.
pub fn synthetic_batch(shape: Shape, n: usize, seed: [u8; 32]) -> ImageBatch {
    let mut data = vec![0u8; shape.len() * n];
    ChaCha20Rng::from_seed(seed).fill_bytes(&mut data);
    ImageBatch::new(shape, data).expect("the length is a whole number of images by construction")
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 (hex) of the fixed-key encryption of `batch` under `spec`, `shape` and `secret`
/// (current key derivation).
///
/// # Errors
/// [`Error::InvalidParameter`] if the scheme does not fit `shape`, [`Error::ShapeMismatch`] if
/// the batch has another shape.
pub fn kat_digest(
    spec: &SchemeSpec,
    shape: Shape,
    secret: &MasterSecret,
    batch: &ImageBatch,
) -> Result<String> {
    kat_digest_with(spec, shape, secret, batch, KdfVersion::CURRENT)
}

/// As [`kat_digest`], under derivation version `kdf`.
///
/// # Errors
/// As [`kat_digest`].
pub fn kat_digest_with(
    spec: &SchemeSpec,
    shape: Shape,
    secret: &MasterSecret,
    batch: &ImageBatch,
    kdf: KdfVersion,
) -> Result<String> {
    let cipher = BatchCipher::with_kdf(spec.clone(), shape, KeyMode::Fixed, secret, kdf)?;
    let mut ct = batch.clone();
    cipher.encrypt_batch(&mut ct, None, &|_| {})?;
    Ok(sha256_hex(ct.as_bytes()))
}

/// The standard inputs: `(shape, batch, description)`.
pub fn standard_inputs() -> Result<Vec<(Shape, ImageBatch, String)>> {
    let rgb = Shape::new(32, 32, 3).map_err(|e| Error::InvalidParameter {
        scheme: "kat",
        reason: e.to_string(),
    })?;
    let grey = Shape::new(28, 28, 1).map_err(|e| Error::InvalidParameter {
        scheme: "kat",
        reason: e.to_string(),
    })?;
    let mut inputs = vec![
        (
            rgb,
            synthetic_batch(rgb, 16, [3; 32]),
            "16 images, ChaCha20Rng::from_seed([3; 32]) keystream".into(),
        ),
        (
            grey,
            synthetic_batch(grey, 16, [1; 32]),
            "16 images, ChaCha20Rng::from_seed([1; 32]) keystream".into(),
        ),
    ];
    // The built-in sample (the first 256 test images of each dataset, shipped in the repo).
    for kind in pixveil_image::DatasetKind::ALL {
        let ds = pixveil_image::sample::load(kind).map_err(|e| Error::InvalidParameter {
            scheme: "kat",
            reason: e.to_string(),
        })?;
        let n = ds.images.len();
        inputs.push((
            ds.images.shape(),
            ds.images,
            format!("built-in sample: {kind}, first {n} test images"),
        ));
    }
    Ok(inputs)
}

/// The schemes of the standard set for a shape: every name in [`SchemeSpec::NAMES`] (block 4),
/// plus block sizes 2 and (where it divides) 8, and a non-collapsing chain.
pub fn standard_specs(shape: Shape) -> Result<Vec<SchemeSpec>> {
    let mut specs = SchemeSpec::NAMES
        .iter()
        .map(|n| SchemeSpec::from_name(n, None))
        .collect::<Result<Vec<_>>>()?;
    specs.push(SchemeSpec::Le { block: 2 });
    specs.push(SchemeSpec::Etc { block: 2 });
    if shape.height().is_multiple_of(8) && shape.width().is_multiple_of(8) {
        specs.push(SchemeSpec::Le { block: 8 });
        specs.push(SchemeSpec::Etc { block: 8 });
    }
    specs.push(SchemeSpec::Chain {
        stages: vec![
            SchemeSpec::Pe { shuffle: true },
            SchemeSpec::Etc { block: 4 },
        ],
    });
    Ok(specs)
}

/// Computes the standard known-answer vectors (current key derivation).
///
/// # Errors
/// Only if a standard scheme fails to build (a bug).
pub fn standard_vectors() -> Result<Vec<KatVector>> {
    standard_vectors_with(KdfVersion::CURRENT)
}

/// Computes the standard known-answer vectors under derivation version `kdf`.
///
/// # Errors
/// Only if a standard scheme fails to build (a bug).
pub fn standard_vectors_with(kdf: KdfVersion) -> Result<Vec<KatVector>> {
    let secret = MasterSecret::from_bytes(KAT_SECRET);
    let mut out = Vec::new();
    for (shape, batch, input) in standard_inputs()? {
        let input_sha256 = sha256_hex(batch.as_bytes());
        for spec in standard_specs(shape)? {
            out.push(KatVector {
                scheme: spec.name(),
                sha256: kat_digest_with(&spec, shape, &secret, &batch, kdf)?,
                spec,
                shape: shape.to_string(),
                input: input.clone(),
                input_sha256: input_sha256.clone(),
            });
        }
    }
    Ok(out)
}

/// One per-image known-answer vector: the per-image-mode encryption of a synthetic batch of the
/// standard set under the nonces of [`kat_nonces`], with the first image's ciphertext in full
/// (so a test can decrypt committed ciphertext bytes, not only recompute a digest).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerImageVector {
    /// Short scheme name ([`SchemeSpec::name`]).
    pub scheme: String,
    /// The scheme and its parameters.
    pub spec: SchemeSpec,
    /// Image shape, `HxWxC`.
    pub shape: String,
    /// Key-derivation version ([`KdfVersion::number`]).
    pub kdf: u32,
    /// How the input batch is generated.
    pub input: String,
    /// SHA-256 (hex) of the input batch bytes.
    pub input_sha256: String,
    /// The per-image nonces, hex, one per image in batch order.
    pub nonces: Vec<String>,
    /// SHA-256 (hex) of the per-image ciphertext batch bytes.
    pub sha256: String,
    /// The ciphertext of the first image, hex.
    pub first_ciphertext: String,
}

/// The nonces of the per-image vectors: `n` consecutive 16-byte pieces of the keystream of
/// `ChaCha20Rng::from_seed([9; 32])`.
pub fn kat_nonces(n: usize) -> Vec<Nonce> {
    let mut bytes = vec![0u8; 16 * n];
    ChaCha20Rng::from_seed([9; 32]).fill_bytes(&mut bytes);
    bytes
        .chunks_exact(16)
        .map(|c| Nonce(c.try_into().expect("chunks_exact(16) gives 16 bytes")))
        .collect()
}

/// The per-image known-answer vectors under derivation version `kdf`: every scheme of
/// [`standard_specs`] on the two synthetic batches of [`standard_inputs`], secret
/// [`KAT_SECRET`], nonces [`kat_nonces`].
///
/// # Errors
/// Only if a standard scheme fails to build (a bug).
pub fn per_image_vectors_with(kdf: KdfVersion) -> Result<Vec<PerImageVector>> {
    let secret = MasterSecret::from_bytes(KAT_SECRET);
    let mut out = Vec::new();
    for (shape, batch, input) in standard_inputs()?.into_iter().take(2) {
        let nonces = kat_nonces(batch.len());
        let input_sha256 = sha256_hex(batch.as_bytes());
        for spec in standard_specs(shape)? {
            let cipher =
                BatchCipher::with_kdf(spec.clone(), shape, KeyMode::PerImage, &secret, kdf)?;
            let mut ct = batch.clone();
            cipher.encrypt_batch(&mut ct, Some(&nonces), &|_| {})?;
            out.push(PerImageVector {
                scheme: spec.name(),
                spec,
                shape: shape.to_string(),
                kdf: kdf.number(),
                input: input.clone(),
                input_sha256: input_sha256.clone(),
                nonces: nonces.iter().map(Nonce::to_hex).collect(),
                sha256: sha256_hex(ct.as_bytes()),
                first_ciphertext: hex::encode(&ct.as_bytes()[..shape.len()]),
            });
        }
    }
    Ok(out)
}
