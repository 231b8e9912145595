//! `pixveil eval`: accuracy and loss of a trained model on a dataset's test images (the same
//! test images `train` reported on, including the held-out part of a test-set split).

use std::path::PathBuf;

use anyhow::Result;
use pixveil_ml::eval::TestSetRequest;

/// The test images a command evaluates a model on (shared by `eval` and `he-eval`).
#[derive(Debug, clap::Args)]
pub struct TestSetArgs {
    /// Trained model (safetensors, from `pixveil train`).
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// Dataset (names as for `train`).
    #[arg(long, value_name = "NAME")]
    pub dataset: String,
    /// Folder holding the dataset files.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Key that encrypts the test images; must be of the model's scheme and key mode.
    #[arg(long, value_name = "KEY")]
    pub key: Option<PathBuf>,
    /// The key's passphrase.
    #[command(flatten)]
    pub passphrase: crate::cli::PassphraseArgs,
    /// Only the first N test images.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Use a key other than the one the model was trained with (refused otherwise: the model
    /// would classify near chance).
    #[arg(long, requires = "key")]
    pub allow_key_mismatch: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `pixveil eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Model and test images.
    #[command(flatten)]
    pub set: TestSetArgs,
    /// Evaluate a model trained on encrypted images on plain images anyway.
    #[arg(long, conflicts_with = "key")]
    pub plain: bool,
    /// The training engine.
    #[command(flatten)]
    pub backend: crate::cli::BackendArgs,
}

impl TestSetArgs {
    /// The library's view of these arguments.
    pub(crate) fn request(&self) -> TestSetRequest<'_> {
        TestSetRequest {
            model: &self.model,
            dataset: &self.dataset,
            data_dir: self.data_dir.as_deref(),
            key: self.key.as_deref(),
            passphrase_file: self.passphrase.path(),
            limit: self.limit,
            allow_key_mismatch: self.allow_key_mismatch,
        }
    }
}

pub fn run(a: &EvalArgs) -> Result<()> {
    let report = pixveil_ml::eval::evaluate_model(&a.set.request(), a.plain)?;
    if a.set.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} on {} ({}): test accuracy {:.2}% (loss {:.4}) on {} images, {:.2} s",
            report.architecture,
            report.dataset,
            report.scheme,
            100.0 * report.test_accuracy,
            report.test_loss,
            report.images,
            report.seconds
        );
    }
    Ok(())
}
