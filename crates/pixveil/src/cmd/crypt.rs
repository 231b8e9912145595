//! `pixveil encrypt` and `pixveil decrypt`.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use pixveil_cipher::{KeyMode, Nonce};
use pixveil_image::input;

use serde::Serialize;

use pixveil_cipher::manifest::{self, Manifest};

use crate::{cli::CryptArgs, progress};

/// Which way to go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Plain → cipher.
    Encrypt,
    /// Cipher → plain.
    Decrypt,
}

#[derive(Serialize)]
struct Summary {
    direction: &'static str,
    scheme: String,
    mode: String,
    key_id: String,
    images: usize,
    shape: String,
    format: String,
    seconds: f64,
    mb_s: f64,
    output: String,
}

pub fn run(a: &CryptArgs, dir: Direction, quiet: bool) -> Result<()> {
    let key = super::load_key(&a.key, a.passphrase_file.as_deref())?;
    if same_file(&a.input, &a.output) {
        bail!(
            "the output {} is the input; choose another path",
            a.output.display()
        );
    }
    let (data, mut images) = input::read_input(&a.input)?.into_parts();
    if images.shape() != key.shape() {
        bail!(
            "shape mismatch: the key {} is for {} images, {} holds {} images",
            a.key.display(),
            key.shape(),
            a.input.display(),
            images.shape()
        );
    }
    let n = images.len();
    let cipher = key.batch_cipher()?;
    let pb = progress::bar(
        n as u64,
        if dir == Direction::Encrypt {
            "encrypting"
        } else {
            "decrypting"
        },
        quiet,
    );
    let tick = |k: usize| pb.inc(k as u64);
    let start = Instant::now();
    let manifest_out = match dir {
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
            let manifest = Manifest::read_beside(&a.input)?;
            let nonces = check_manifest(manifest.as_ref(), &key, &data, a)?;
            cipher.decrypt_batch(&mut images, nonces.as_deref(), &tick)?;
            None
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    pb.finish_and_clear();

    input::write_output(&data, &images, &a.output).context("cannot write the output")?;
    if manifest_out.is_none() {
        // A plaintext output must not keep a stale manifest from an earlier ciphertext there.
        let stale = manifest::path_for(&a.output);
        if stale.is_file() {
            std::fs::remove_file(&stale)
                .with_context(|| format!("cannot remove stale {}", stale.display()))?;
        }
    }
    if let Some(m) = manifest_out {
        if let Err(e) = m.write_beside(&a.output) {
            // Without its manifest a per-image ciphertext cannot be decrypted: remove it.
            let _ = if a.output.is_dir() {
                std::fs::remove_dir_all(&a.output)
            } else {
                std::fs::remove_file(&a.output)
            };
            return Err(anyhow::Error::from(e).context("output removed"));
        }
    }
    let summary = Summary {
        direction: match dir {
            Direction::Encrypt => "encrypt",
            Direction::Decrypt => "decrypt",
        },
        scheme: key.spec().name(),
        mode: key.mode().to_string(),
        key_id: key.key_id(),
        images: n,
        shape: key.shape().to_string(),
        format: data.format.to_string(),
        seconds,
        mb_s: (n * key.shape().len()) as f64 / 1e6 / seconds.max(1e-9),
        output: a.output.display().to_string(),
    };
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else if !quiet {
        eprintln!(
            "{}ed {} images ({}, {} mode) in {:.3} s ({:.0} MB/s) -> {}",
            summary.direction,
            n,
            summary.scheme,
            summary.mode,
            seconds,
            summary.mb_s,
            summary.output
        );
    }
    Ok(())
}

/// Validates the manifest beside a ciphertext against the key and the data; returns the nonces
/// to use (per-image mode).
fn check_manifest(
    manifest: Option<&Manifest>,
    key: &pixveil_cipher::KeyFile,
    data: &input::InputMeta,
    a: &CryptArgs,
) -> Result<Option<Vec<Nonce>>> {
    let path = manifest::path_for(&a.input);
    let Some(m) = manifest else {
        return match key.mode() {
            KeyMode::Fixed => {
                eprintln!(
                    "warning: no manifest {} beside the input: cannot check that this is the right key",
                    path.display()
                );
                Ok(None)
            }
            KeyMode::PerImage => bail!(
                "per-image key: the nonces file {} is missing (it is written beside every encrypted output)",
                path.display()
            ),
        };
    };
    if m.key_id != key.key_id() {
        bail!(
            "wrong key: {} was encrypted with key {}, but {} is key {}",
            a.input.display(),
            m.key_id,
            a.key.display(),
            key.key_id()
        );
    }
    if &m.spec != key.spec() || m.shape != key.shape() || m.mode != key.mode() {
        bail!(
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
        bail!(
            "{} describes {} images but {} holds {n}",
            path.display(),
            m.count,
            a.input.display()
        );
    }
    if let (Some(want), Some(have)) = (&m.names, &data.names) {
        if want != have {
            bail!(
                "the files in {} are not the ones that were encrypted (names differ from {})",
                a.input.display(),
                path.display()
            );
        }
    }
    Ok((m.mode == KeyMode::PerImage).then(|| m.nonces.clone()))
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
