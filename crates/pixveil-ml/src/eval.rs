//! Test-set evaluation: the test images a trained model is evaluated on (the same test images
//! the training job reported on, including the held-out part of a test-set split), encrypted
//! with the model's key when one is given, and the model's accuracy and loss on them.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::data::{self, DataSpec, Encryption, Labelled};
use crate::engine::{self, Model, ModelSpec};
use crate::error::{invalid, key_mismatch, Result};

/// Where the test images come from and how they are encrypted.
#[derive(Clone, Copy, Debug)]
pub struct TestSetRequest<'a> {
    /// The model file (named in messages only).
    pub model: &'a Path,
    /// Dataset name, as [`DataSpec::parse`] takes it.
    pub dataset: &'a str,
    /// Folder of the dataset files.
    pub data_dir: Option<&'a Path>,
    /// Key file that encrypts the test images; must be of the model's scheme and key mode.
    pub key: Option<&'a Path>,
    /// Passphrase file, for passphrase-protected keys.
    pub passphrase_file: Option<&'a Path>,
    /// Only the first `limit` test images (at least 1).
    pub limit: Option<usize>,
    /// Use a key other than the one the model was trained with (same scheme and mode; the
    /// checkpoint records the key id). Without it such a key is refused: the model would
    /// classify images encrypted with another key, near chance, without a word.
    pub allow_key_mismatch: bool,
}

/// The test images a model is evaluated on, encrypted with the key when one is given.
#[derive(Debug)]
pub struct TestSet {
    /// The (encrypted) images and their labels.
    pub test: Labelled,
    /// `standard` or `test-split` ([`data::Splits::train_source`]).
    pub source: &'static str,
    /// Dataset name in reports.
    pub dataset: String,
    /// Scheme id of the images (`none`, `pe:fixed`, …).
    pub scheme: String,
    /// `none`, `fixed` or `per-image`.
    pub key_mode: String,
}

impl TestSetRequest<'_> {
    /// The test images for a model trained on `model_scheme` images with input `[C, H, W]`:
    /// checks the shape, applies the key (which must be of the model's scheme), refuses plain
    /// images for a model trained on encrypted ones unless `plain`.
    ///
    /// `model_key_id`: the id of the key the model was trained with, when its checkpoint
    /// records it; another key is refused unless `allow_key_mismatch`.
    ///
    /// # Errors
    /// `limit` 0, an unknown or missing dataset, a shape, scheme or key mismatch, key errors.
    pub fn load(
        &self,
        model_scheme: &str,
        model_key_id: Option<&str>,
        input_shape: [usize; 3],
        plain: bool,
    ) -> Result<TestSet> {
        let model_path = self.model;
        if self.limit == Some(0) {
            invalid!("--limit must be at least 1");
        }
        let spec = DataSpec::parse(self.dataset, self.data_dir)?;
        let shape = spec.shape();
        let want = [shape.channels(), shape.height(), shape.width()];
        if want != input_shape {
            let [c, h, w] = input_shape;
            invalid!(
                "shape mismatch: {} takes {h}x{w}x{c} images, {} has {}",
                model_path.display(),
                spec.name(),
                shape
            );
        }
        let encryption = self
            .key
            .map(|k| Encryption::load(k, self.passphrase_file, shape, &spec.name()))
            .transpose()?;
        let scheme = encryption
            .as_ref()
            .map_or_else(|| data::PLAIN_SCHEME.to_owned(), Encryption::scheme_id);
        match (&encryption, self.key) {
            (None, _) if model_scheme != data::PLAIN_SCHEME && !plain => key_mismatch!(
                "{} was trained on {model_scheme} images: pass the key with --key (or --plain to \
             evaluate on plain images anyway)",
                model_path.display()
            ),
            (Some(_), Some(key)) if scheme != model_scheme => key_mismatch!(
                "scheme mismatch: {} was trained on {model_scheme} images, the key {} is {scheme}",
                model_path.display(),
                key.display()
            ),
            (Some(e), Some(key)) => {
                check_key_id(
                    model_path,
                    model_key_id,
                    key,
                    &e.key_id(),
                    self.allow_key_mismatch,
                )?;
            }
            _ => {}
        }
        let (test, source) = data::load_test(&spec)?;
        let mut test = test.limit(self.limit);
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

/// Refuses `key_id` (of the key file `key`) for a model trained with the key `model_key_id`
/// unless `allow`: the scheme and mode match, so nothing else would notice, and the model
/// would answer near chance.
///
/// # Errors
/// [`crate::Error::KeyMismatch`].
pub(crate) fn check_key_id(
    model: &Path,
    model_key_id: Option<&str>,
    key: &Path,
    key_id: &str,
    allow: bool,
) -> Result<()> {
    match model_key_id {
        Some(want) if want != key_id && !allow => key_mismatch!(
            "key mismatch: {} was trained with the key {want}, the key {} is {key_id}:              its images would be encrypted differently and classified near chance; use the              training key (or --allow-key-mismatch to measure exactly that)",
            model.display(),
            key.display()
        ),
        _ => Ok(()),
    }
}

/// What `eval` reports (the JSON object of `pixveil eval --json`, fields in this order).
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// The model file.
    pub model: String,
    /// Architecture name.
    pub architecture: String,
    /// Dataset name.
    pub dataset: String,
    /// Scheme id of the test images.
    pub scheme: String,
    /// Scheme id the model was trained on.
    pub model_scheme: String,
    /// `none`, `fixed` or `per-image`.
    pub key_mode: String,
    /// Test images evaluated.
    pub images: usize,
    /// `standard` or `test-split`.
    pub test_source: String,
    /// Accuracy in `[0, 1]`.
    pub test_accuracy: f64,
    /// Mean cross-entropy loss.
    pub test_loss: f64,
    /// Seconds of the evaluation (not of loading).
    pub seconds: f64,
    /// Images per second of the evaluation.
    pub images_per_s: f64,
}

/// A model and the test images it is evaluated on, checked against each other.
#[derive(Debug)]
pub struct ModelAndTestSet {
    /// The model.
    pub model: Model,
    /// What the model is.
    pub spec: ModelSpec,
    /// Scheme id of the images the model was trained on.
    pub model_scheme: String,
    /// The test images, encrypted with the key when one is given.
    pub test_set: TestSet,
}

/// Loads the model in `set.model` ([`engine::load_model`]: a pixveil checkpoint, or with
/// `state_dict` a PyTorch state dict of that spec) and its test set ([`TestSetRequest::load`];
/// plain images for a model trained on encrypted ones only with `plain`).
///
/// # Errors
/// Model, data and key errors.
pub fn load_model_and_test_set(
    set: &TestSetRequest,
    state_dict: Option<&ModelSpec>,
    plain: bool,
) -> Result<ModelAndTestSet> {
    let (model, spec, model_scheme, model_key_id) =
        engine::load_model_keyed(set.model, state_dict)?;
    let test_set = set.load(
        &model_scheme,
        model_key_id.as_deref(),
        spec.input_shape,
        plain,
    )?;
    Ok(ModelAndTestSet {
        model,
        spec,
        model_scheme,
        test_set,
    })
}

/// Loads the model in `set.model` and evaluates it on the test set of `set` (plain images for
/// a model trained on encrypted ones only with `plain`).
///
/// # Errors
/// Model, data, key and engine errors (see [`TestSetRequest::load`]).
pub fn evaluate_model(set: &TestSetRequest, plain: bool) -> Result<EvalReport> {
    let ModelAndTestSet {
        model,
        spec: mspec,
        model_scheme,
        test_set:
            TestSet {
                test,
                source,
                dataset,
                scheme,
                key_mode,
            },
    } = load_model_and_test_set(set, None, plain)?;
    let start = Instant::now();
    let stats = engine::evaluate(&model, &test.images, &test.labels)?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(EvalReport {
        model: set.model.display().to_string(),
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
    })
}
