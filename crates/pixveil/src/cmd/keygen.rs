//! `pixveil keygen` and `pixveil rekey`.

use anyhow::{bail, Context, Result};
use pixveil_cipher::{KeyFile, KeyMode, SchemeSpec};
use pixveil_core::kdf::Argon2Params;
use pixveil_image::Shape;

use crate::cli::{KeygenArgs, ModeArg, RekeyArgs};

pub fn run(a: &KeygenArgs) -> Result<()> {
    let spec = SchemeSpec::from_name(&a.scheme, a.block)?;
    if a.block.is_some() && !matches!(spec, SchemeSpec::Le { .. } | SchemeSpec::Etc { .. }) {
        bail!("--block applies only to block schemes (le, etc)");
    }
    let shape: Shape = a.shape.parse()?;
    let mode = match a.mode {
        ModeArg::Fixed => KeyMode::Fixed,
        ModeArg::PerImage => KeyMode::PerImage,
    };
    if a.output.exists() && !a.force {
        bail!(
            "{} exists; refusing to overwrite a key (data encrypted with it would be lost). Use --force",
            a.output.display()
        );
    }
    let key = match &a.passphrase_file {
        Some(p) => {
            let pass = super::read_passphrase(p)?;
            KeyFile::from_passphrase(spec, shape, mode, &pass, Argon2Params::default())?
        }
        None => KeyFile::generate(spec, shape, mode)?,
    };
    super::write_secret_atomic(&a.output, &key.to_bytes()?)
        .with_context(|| "key not written".to_string())?;
    eprintln!(
        "wrote {} key {} for {} images ({} mode) to {}",
        key.spec().name(),
        key.key_id(),
        key.shape(),
        key.mode(),
        a.output.display()
    );
    Ok(())
}

/// `pixveil rekey`: a key file without a settings MAC → the same key with one (see
/// `pixveil_cipher::keyfile`: such files are refused everywhere else).
pub fn rekey(a: &RekeyArgs) -> Result<()> {
    if a.output.exists() && !a.force {
        bail!(
            "{} exists; refusing to overwrite a key. Use --force",
            a.output.display()
        );
    }
    let bytes = zeroize::Zeroizing::new(
        std::fs::read(&a.key)
            .with_context(|| format!("cannot read key file {}", a.key.display()))?,
    );
    let pass = a
        .passphrase
        .path()
        .map(super::read_passphrase)
        .transpose()?;
    let key = KeyFile::upgrade_legacy(&bytes, pass.as_ref().map(|p| p.as_slice()))
        .with_context(|| format!("{}", a.key.display()))?;
    super::write_secret_atomic(&a.output, &key.to_bytes()?)
        .with_context(|| "key not written".to_string())?;
    eprintln!(
        "re-keyed {} key {} for {} images ({} mode, derivation v{}) to {}; these settings were \
         taken from the old file as they were: if they are not the ones the key was made with, \
         delete {} and make a new key",
        key.spec().name(),
        key.key_id(),
        key.shape(),
        key.mode(),
        key.kdf_version().number(),
        a.output.display(),
        a.output.display()
    );
    Ok(())
}
