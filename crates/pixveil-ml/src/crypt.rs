//! Encryption and decryption of a data file or folder with a key (`pixveil encrypt` and
//! `pixveil decrypt`).
//!
//! Encrypting writes the ciphertext in the input's format and, beside it, its manifest
//! (`<output>.pxv`: scheme, shape, key mode, key id, image count, file names and, in per-image
//! mode, the nonces). Decrypting checks that manifest against the key and the data before
//! anything is written, and removes a stale manifest beside the plaintext output.

use std::path::Path;
use std::time::Instant;

use pixveil_cipher::manifest::{self, Manifest};
use pixveil_cipher::{KeyFile, KeyMode, Nonce};
use pixveil_image::input::{self, InputMeta};
use serde::Serialize;

use crate::error::{invalid, key_mismatch, Context, Error, IoContext, Result};

/// Which way to go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Plain → cipher.
    Encrypt,
    /// Cipher → plain.
    Decrypt,
}

impl Direction {
    /// `"encrypt"` or `"decrypt"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Encrypt => "encrypt",
            Direction::Decrypt => "decrypt",
        }
    }
}

/// One encryption or decryption of a data file or folder.
#[derive(Clone, Copy, Debug)]
pub struct CryptRequest<'a> {
    /// Which way to go.
    pub direction: Direction,
    /// The key.
    pub key: &'a KeyFile,
    /// Where the key was read from (named in messages).
    pub key_path: &'a Path,
    /// Input: IDX images or CIFAR-10 batch (raw or gzip), an image file or a folder of images.
    pub input: &'a Path,
    /// Output, written in the input's format; must not be the input.
    pub output: &'a Path,
}

/// What an encryption or decryption did. Serialises to the JSON summary of the CLI (without
/// the warnings).
#[derive(Clone, Debug, Serialize)]
pub struct CryptSummary {
    /// Which way it went.
    pub direction: Direction,
    /// Scheme name.
    pub scheme: String,
    /// Key mode (`fixed` or `per-image`).
    pub mode: String,
    /// Public id of the key.
    pub key_id: String,
    /// Number of images.
    pub images: usize,
    /// Image shape, `HxWxC`.
    pub shape: String,
    /// Format of the input (and output).
    pub format: String,
    /// Seconds spent in the cipher only (reading, decompressing, compressing and writing
    /// excluded; see `total_seconds`).
    pub seconds: f64,
    /// Throughput of the cipher: megabytes of pixels per `seconds`.
    pub mb_s: f64,
    /// Seconds of the whole job the caller waits for: reading and decompressing the input,
    /// the cipher, compressing and writing the output and its manifest.
    pub total_seconds: f64,
    /// The output path.
    pub output: String,
    /// Warnings for the user (e.g. no manifest beside a fixed-key ciphertext: the key could not
    /// be checked).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// Encrypts or decrypts `req.input` into `req.output` (see the [module docs](self)).
///
/// `progress(done, total)` is called once with `done = 0` before the work starts (so that a
/// progress bar knows `total`), then with the number of images just finished, from worker
/// threads.
///
/// # Errors
/// The output is the input ([`Error::Invalid`]); an unreadable input or unwritable output; a
/// key for another image shape ([`Error::KeyMismatch`]); on decryption, a manifest of another
/// key, scheme, shape or mode ([`Error::KeyMismatch`]), of another image count or file names,
/// or a missing manifest in per-image mode ([`Error::Invalid`]). An encrypted output whose
/// manifest cannot be written is removed.
pub fn crypt_file(
    req: &CryptRequest<'_>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<CryptSummary> {
    let total = Instant::now();
    let key = req.key;
    if same_file(req.input, req.output) {
        invalid!(
            "the output {} is the input; choose another path",
            req.output.display()
        );
    }
    let (data, mut images) = input::read_input(req.input)?.into_parts();
    if images.shape() != key.shape() {
        key_mismatch!(
            "shape mismatch: the key {} is for {} images, {} holds {} images",
            req.key_path.display(),
            key.shape(),
            req.input.display(),
            images.shape()
        );
    }
    let n = images.len();
    let cipher = key.batch_cipher()?;
    let mut warnings = Vec::new();
    // Checked before any work: a wrong key must not cost a full pass.
    let nonces_in = match req.direction {
        Direction::Encrypt => None,
        Direction::Decrypt => {
            let manifest = Manifest::read_beside(req.input)?;
            check_manifest(manifest.as_ref(), req, &data, &mut warnings)?
        }
    };
    progress(0, n);
    let tick = |k: usize| progress(k, n);
    let start = Instant::now();
    let manifest_out = match req.direction {
        Direction::Encrypt => {
            let nonces = match key.mode() {
                KeyMode::Fixed => Vec::new(),
                KeyMode::PerImage => Nonce::fresh(n)?,
            };
            let nonce_arg = (key.mode() == KeyMode::PerImage).then_some(nonces.as_slice());
            cipher.encrypt_batch(&mut images, nonce_arg, &tick)?;
            Some(Manifest {
                spec: key.spec().clone(),
                shape: key.shape(),
                mode: key.mode(),
                key_id: key.key_id(),
                count: n as u64,
                names: data.names.clone(),
                nonces,
            })
        }
        Direction::Decrypt => {
            cipher.decrypt_batch(&mut images, nonces_in.as_deref(), &tick)?;
            None
        }
    };
    let seconds = start.elapsed().as_secs_f64();

    input::write_output(&data, &images, req.output).context_with(|| "cannot write the output")?;
    match manifest_out {
        None => {
            // A plaintext output must not keep a stale manifest from an earlier ciphertext.
            let stale = manifest::path_for(req.output);
            if stale.is_file() {
                std::fs::remove_file(&stale).io_context("remove stale", &stale)?;
            }
        }
        Some(m) => {
            if let Err(e) = m.write_beside(req.output) {
                // Without its manifest a per-image ciphertext cannot be decrypted: remove it.
                let removed = if req.output.is_dir() {
                    std::fs::remove_dir_all(req.output)
                } else {
                    std::fs::remove_file(req.output)
                };
                let context = match removed {
                    Ok(()) => "output removed".to_string(),
                    Err(r) => format!(
                        "the output {} is left without its manifest (cannot remove it: {r})",
                        req.output.display()
                    ),
                };
                return Err(Error::Context {
                    context,
                    source: Box::new(e),
                });
            }
        }
    }
    Ok(CryptSummary {
        direction: req.direction,
        scheme: key.spec().name(),
        mode: key.mode().to_string(),
        key_id: key.key_id(),
        images: n,
        shape: key.shape().to_string(),
        format: data.format.to_string(),
        seconds,
        mb_s: (n * key.shape().len()) as f64 / 1e6 / seconds.max(1e-9),
        total_seconds: total.elapsed().as_secs_f64(),
        output: req.output.display().to_string(),
        warnings,
    })
}

/// Validates the manifest beside a ciphertext against the key and the data; returns the nonces
/// to use (per-image mode).
fn check_manifest(
    manifest: Option<&Manifest>,
    req: &CryptRequest<'_>,
    data: &InputMeta,
    warnings: &mut Vec<String>,
) -> Result<Option<Vec<Nonce>>> {
    let key = req.key;
    let path = manifest::path_for(req.input);
    let Some(m) = manifest else {
        return match key.mode() {
            KeyMode::Fixed => {
                warnings.push(format!(
                    "no manifest {} beside the input: cannot check that this is the right key",
                    path.display()
                ));
                Ok(None)
            }
            KeyMode::PerImage => invalid!(
                "per-image key: the nonces file {} is missing (it is written beside every encrypted output)",
                path.display()
            ),
        };
    };
    if m.key_id != key.key_id() {
        key_mismatch!(
            "wrong key: {} was encrypted with key {}, but {} is key {}",
            req.input.display(),
            m.key_id,
            req.key_path.display(),
            key.key_id()
        );
    }
    if &m.spec != key.spec() || m.shape != key.shape() || m.mode != key.mode() {
        key_mismatch!(
            "{} does not match the key (scheme {} {} {} vs {} {} {})",
            path.display(),
            m.spec.name(),
            m.shape,
            m.mode,
            key.spec().name(),
            key.shape(),
            key.mode()
        );
    }
    let n = data.count;
    if m.count != n as u64 {
        invalid!(
            "{} describes {} images but {} holds {n}",
            path.display(),
            m.count,
            req.input.display()
        );
    }
    if let (Some(want), Some(have)) = (&m.names, &data.names) {
        if want != have {
            invalid!(
                "the files in {} are not the ones that were encrypted (names differ from {})",
                req.input.display(),
                path.display()
            );
        }
    }
    Ok((m.mode == KeyMode::PerImage).then(|| m.nonces.clone()))
}

/// Whether `a` and `b` name the same existing file or folder.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pixveil_cipher::SchemeSpec;
    use pixveil_image::{cifar, idx, ImageBatch, Shape};

    fn images(shape: Shape, n: usize) -> ImageBatch {
        let data = (0..n * shape.len()).map(|i| (i * 7 % 251) as u8).collect();
        ImageBatch::new(shape, data).unwrap()
    }

    fn key_for(shape: Shape, mode: KeyMode) -> KeyFile {
        KeyFile::generate(SchemeSpec::from_name("pe", None).unwrap(), shape, mode).unwrap()
    }

    fn key(mode: KeyMode) -> KeyFile {
        key_for(Shape::MNIST, mode)
    }

    fn run(dir: Direction, key: &KeyFile, input: &Path, output: &Path) -> Result<CryptSummary> {
        let req = CryptRequest {
            direction: dir,
            key,
            key_path: Path::new("test.key"),
            input,
            output,
        };
        crypt_file(&req, &|_, _| {})
    }

    /// Encrypts and decrypts 3 images: IDX (MNIST shape) or a CIFAR-10 batch.
    fn round_trip(mode: KeyMode, cifar10: bool) {
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("plain.bin");
        let enc = d.path().join("enc.bin");
        let dec = d.path().join("dec.bin");
        let shape = if cifar10 {
            Shape::CIFAR10
        } else {
            Shape::MNIST
        };
        let batch = images(shape, 3);
        if cifar10 {
            cifar::write_batch(&plain, &batch, &[1, 2, 3], false).unwrap();
        } else {
            idx::write_images(&plain, &batch, false).unwrap();
        }
        let k = key_for(shape, mode);
        let s = run(Direction::Encrypt, &k, &plain, &enc).unwrap();
        assert_eq!(s.images, 3);
        assert_eq!(s.direction, Direction::Encrypt);
        assert!(manifest::path_for(&enc).is_file());
        let (_, enc_images) = input::read_input(&enc).unwrap().into_parts();
        assert_ne!(enc_images.as_bytes(), batch.as_bytes());
        let s = run(Direction::Decrypt, &k, &enc, &dec).unwrap();
        assert!(s.warnings.is_empty());
        let (_, dec_images) = input::read_input(&dec).unwrap().into_parts();
        assert_eq!(dec_images.as_bytes(), batch.as_bytes());
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["direction"], "decrypt");
        assert!(json.get("warnings").is_none());
    }

    #[test]
    fn round_trip_fixed() {
        round_trip(KeyMode::Fixed, false);
        round_trip(KeyMode::Fixed, true);
    }

    #[test]
    fn round_trip_per_image() {
        round_trip(KeyMode::PerImage, false);
        round_trip(KeyMode::PerImage, true);
    }

    #[test]
    fn wrong_key_refused() {
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("plain.idx");
        let enc = d.path().join("enc.idx");
        idx::write_images(&plain, &images(Shape::MNIST, 2), false).unwrap();
        run(Direction::Encrypt, &key(KeyMode::Fixed), &plain, &enc).unwrap();
        let e = run(
            Direction::Decrypt,
            &key(KeyMode::Fixed),
            &enc,
            &d.path().join("x"),
        )
        .unwrap_err();
        assert!(matches!(e, Error::KeyMismatch(_)), "{e}");
        assert!(e.to_string().starts_with("wrong key"), "{e}");
        assert!(!d.path().join("x").exists());
    }

    #[test]
    fn per_image_without_manifest_refused() {
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("plain.idx");
        let enc = d.path().join("enc.idx");
        idx::write_images(&plain, &images(Shape::MNIST, 2), false).unwrap();
        let k = key(KeyMode::PerImage);
        run(Direction::Encrypt, &k, &plain, &enc).unwrap();
        std::fs::remove_file(manifest::path_for(&enc)).unwrap();
        let e = run(Direction::Decrypt, &k, &enc, &d.path().join("x")).unwrap_err();
        assert!(e.to_string().contains("nonces file"), "{e}");

        // A fixed key only warns.
        let k = key(KeyMode::Fixed);
        run(Direction::Encrypt, &k, &plain, &enc).unwrap();
        std::fs::remove_file(manifest::path_for(&enc)).unwrap();
        let s = run(Direction::Decrypt, &k, &enc, &d.path().join("y")).unwrap();
        assert_eq!(s.warnings.len(), 1);
    }

    #[test]
    fn output_is_input_refused() {
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("plain.idx");
        idx::write_images(&plain, &images(Shape::MNIST, 1), false).unwrap();
        let e = run(Direction::Encrypt, &key(KeyMode::Fixed), &plain, &plain).unwrap_err();
        assert!(e.to_string().contains("is the input"), "{e}");
    }
}
