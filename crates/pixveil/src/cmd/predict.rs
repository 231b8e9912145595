//! `pixveil predict`: classify images with a trained model ([`pixveil_ml::predict`]). Inputs
//! are image files, folders or dataset files (IDX, CIFAR-10 batch). A model trained on encrypted images needs either the
//! key (the images are encrypted here first, as a client would) or `--encrypted` (the inputs
//! already are ciphertexts, as a server receives them: no key needed).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use pixveil_ml::predict::PredictRequest;

/// `pixveil predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// Trained model (safetensors, from `pixveil train`).
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// Key: encrypt the inputs with it before classifying (client side).
    #[arg(long, value_name = "KEY")]
    pub key: Option<PathBuf>,
    /// The key's passphrase.
    #[command(flatten)]
    pub passphrase: crate::cli::PassphraseArgs,
    /// The inputs are already encrypted with the model's scheme (server side; no key).
    #[arg(long, conflicts_with = "key")]
    pub encrypted: bool,
    /// Use a key other than the one the model was trained with (refused otherwise: the model
    /// would classify near chance).
    #[arg(long, requires = "key")]
    pub allow_key_mismatch: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Images: PNG/JPEG files, folders of them, IDX image files or CIFAR-10 batches.
    #[arg(required = true, value_name = "IMG")]
    pub inputs: Vec<PathBuf>,
    /// The training engine.
    #[command(flatten)]
    pub backend: crate::cli::BackendArgs,
}

pub fn run(a: &PredictArgs) -> Result<()> {
    let report = pixveil_ml::predict::predict(&PredictRequest {
        model: &a.model,
        key: a.key.as_deref(),
        passphrase_file: a.passphrase.path(),
        encrypted: a.encrypted,
        allow_key_mismatch: a.allow_key_mismatch,
        inputs: &a.inputs,
    })?;
    // One line per image, possibly many: written with `?` (not `println!`, which panics) so that
    // a closed pipe (`| head`) ends the command quietly.
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        for p in &report.predictions {
            writeln!(
                out,
                "{}\t{}{}\t{:.4}",
                p.input,
                p.class,
                p.name
                    .as_deref()
                    .filter(|n| *n != p.class.to_string())
                    .map_or_else(String::new, |n| format!(" ({n})")),
                p.probability
            )?;
        }
    }
    Ok(())
}
