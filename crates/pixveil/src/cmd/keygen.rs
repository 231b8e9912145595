//! `pixveil keygen`.

use anyhow::{bail, Context, Result};
use pixveil_cipher::{KeyFile, KeyMode, SchemeSpec};
use pixveil_core::kdf::Argon2Params;
use pixveil_image::Shape;

use crate::cli::{KeygenArgs, ModeArg};

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
    super::write_atomic(&a.output, &key.to_bytes()?)
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
