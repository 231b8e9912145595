//! `pixveil eval`: accuracy and loss of a trained model on a dataset's test images (the same
//! test images `train` reported on, including the held-out part of a test-set split).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use serde::Serialize;

use pixveil_ml::data::{self, DataSpec, Encryption};
use pixveil_ml::engine;

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
    /// Passphrase file, for passphrase-protected keys.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Only the first N test images.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
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
}

#[derive(Serialize)]
struct EvalReport {
    model: String,
    architecture: String,
    dataset: String,
    scheme: String,
    model_scheme: String,
    key_mode: String,
    images: usize,
    test_source: String,
    test_accuracy: f64,
    test_loss: f64,
    seconds: f64,
    images_per_s: f64,
}

/// The test images a model is evaluated on, encrypted with the key when one is given.
pub(crate) struct TestSet {
    pub test: data::Labelled,
    pub source: &'static str,
    pub dataset: String,
    pub scheme: String,
    pub key_mode: String,
}

impl TestSetArgs {
    /// The test images for a model trained on `model_scheme` images with input
    /// `[C, H, W]`: checks the shape, applies the key (which must be of the model's scheme),
    /// refuses plain images for a model trained on encrypted ones unless `plain`.
    pub(crate) fn load(
        &self,
        model_scheme: &str,
        input_shape: [usize; 3],
        plain: bool,
    ) -> Result<TestSet> {
        let (model_path, dataset, limit) = (self.model.as_path(), &self.dataset, self.limit);
        let (data_dir, key) = (self.data_dir.as_deref(), self.key.as_deref());
        let passphrase_file = self.passphrase_file.as_deref();
        if limit == Some(0) {
            bail!("--limit must be at least 1");
        }
        let spec = DataSpec::parse(dataset, data_dir)?;
        let shape = spec.shape();
        let want = [shape.channels(), shape.height(), shape.width()];
        if want != input_shape {
            let [c, h, w] = input_shape;
            bail!(
                "shape mismatch: {} takes {h}x{w}x{c} images, {} has {}",
                model_path.display(),
                spec.name(),
                shape
            );
        }
        let encryption = key
            .map(|k| Encryption::load(k, passphrase_file, shape, &spec.name()))
            .transpose()?;
        let scheme = encryption
            .as_ref()
            .map_or_else(|| data::PLAIN_SCHEME.to_owned(), Encryption::scheme_id);
        match &encryption {
            None if model_scheme != data::PLAIN_SCHEME && !plain => bail!(
                "{} was trained on {model_scheme} images: pass the key with --key (or --plain to \
             evaluate on plain images anyway)",
                model_path.display()
            ),
            Some(_) if scheme != model_scheme => bail!(
                "scheme mismatch: {} was trained on {model_scheme} images, the key {} is {scheme}",
                model_path.display(),
                key.unwrap_or(model_path).display()
            ),
            _ => {}
        }
        let (test, source) = data::load_test(&spec)?;
        let mut test = test.limit(limit);
        if let Some(e) = &encryption {
            e.encrypt(&mut test.images)?;
        }
        Ok(TestSet {
            test,
            source,
            dataset: spec.name(),
            scheme,
            key_mode: encryption
                .as_ref()
                .map_or_else(|| "none".to_owned(), |e| e.mode().to_string()),
        })
    }
}

pub fn run(a: &EvalArgs) -> Result<()> {
    let (model, mspec, model_scheme) = engine::load(&a.set.model)?;
    let TestSet {
        test,
        source,
        dataset,
        scheme,
        key_mode,
    } = a.set.load(&model_scheme, mspec.input_shape, a.plain)?;
    let start = Instant::now();
    let stats = engine::evaluate(&model, &test.images, &test.labels)?;
    let seconds = start.elapsed().as_secs_f64();
    let report = EvalReport {
        model: a.set.model.display().to_string(),
        architecture: mspec.architecture,
        dataset,
        scheme,
        model_scheme,
        key_mode,
        images: test.len(),
        test_source: source.to_owned(),
        test_accuracy: stats.accuracy,
        test_loss: stats.loss,
        seconds,
        images_per_s: test.len() as f64 / seconds.max(1e-9),
    };
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
