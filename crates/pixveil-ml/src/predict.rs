//! Classification of image files with a trained model. Inputs are image files, folders or
//! dataset files (IDX, CIFAR-10 batch). A model trained on encrypted images needs either the
//! key (the images are encrypted here first, as a client would) or `encrypted` (the inputs
//! already are ciphertexts, as a server receives them: no key needed).

use std::path::{Path, PathBuf};

use pixveil_image::{input, DatasetKind, Shape};
use serde::Serialize;

use crate::data::{self, Encryption};
use crate::engine;
use crate::error::{invalid, key_mismatch, Result};
use crate::train;

/// What to classify, with which model and key.
#[derive(Clone, Copy, Debug)]
pub struct PredictRequest<'a> {
    /// Trained model (safetensors checkpoint).
    pub model: &'a Path,
    /// Key: the inputs are encrypted with it before classification (client side).
    pub key: Option<&'a Path>,
    /// Passphrase file, for passphrase-protected keys.
    pub passphrase_file: Option<&'a Path>,
    /// The inputs are already encrypted with the model's scheme (server side; no key).
    pub encrypted: bool,
    /// Use a key other than the one the model was trained with (see
    /// [`crate::eval::TestSetRequest::allow_key_mismatch`]).
    pub allow_key_mismatch: bool,
    /// PNG/JPEG files, folders of them, IDX image files or CIFAR-10 batches.
    pub inputs: &'a [PathBuf],
}

/// The classification of one image.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    /// The image: a file name, or `FILE[i]` for an image of a dataset file.
    pub input: String,
    /// The most probable class index.
    pub class: usize,
    /// The class's name, when the model's training metrics name its dataset.
    pub name: Option<String>,
    /// Probability of `class`, in `[0, 1]`.
    pub probability: f32,
    /// Softmax probabilities of all classes (they sum to 1).
    pub probabilities: Vec<f32>,
}

/// What `predict` reports (the JSON object of `pixveil predict --json`, fields in this order).
#[derive(Clone, Debug, Serialize)]
pub struct PredictReport {
    /// The model file.
    pub model: String,
    /// Architecture name.
    pub architecture: String,
    /// Scheme id the model was trained on.
    pub scheme: String,
    /// One per image, in input order.
    pub predictions: Vec<Prediction>,
}

/// Classifies every image of `req.inputs`.
///
/// # Errors
/// An unreadable model or input, a key of another scheme, a key missing for (or `encrypted`
/// given to) a model that needs (or does not take) encrypted images, images of another shape.
pub fn predict(req: &PredictRequest) -> Result<PredictReport> {
    let (model, spec, model_scheme, model_key_id) = engine::load_model_keyed(req.model, None)?;
    let [c, h, w] = spec.input_shape;
    let dim = |v: usize| {
        u32::try_from(v).map_err(|_| {
            crate::Error::Invalid(format!(
                "{} takes {h}x{w}x{c} images, too large for an image",
                req.model.display()
            ))
        })
    };
    let shape = Shape::new(dim(h)?, dim(w)?, dim(c)?)?;
    let encryption = req
        .key
        .map(|k| Encryption::load(k, req.passphrase_file, shape, "the model"))
        .transpose()?;
    if let (Some(e), Some(key)) = (&encryption, req.key) {
        if e.scheme_id() != model_scheme {
            key_mismatch!(
                "scheme mismatch: {} was trained on {model_scheme} images, the key is {}",
                req.model.display(),
                e.scheme_id()
            );
        }
        crate::eval::check_key_id(
            req.model,
            model_key_id.as_deref(),
            key,
            &e.key_id(),
            req.allow_key_mismatch,
        )?;
    } else if model_scheme != data::PLAIN_SCHEME && !req.encrypted {
        key_mismatch!(
            "{} was trained on {model_scheme} images: pass --key to encrypt the inputs, or \
             --encrypted if they already are",
            req.model.display()
        );
    } else if model_scheme == data::PLAIN_SCHEME && req.encrypted {
        invalid!(
            "{} was trained on plain images; --encrypted does not apply",
            req.model.display()
        );
    }
    let class_names = class_names(req.model);

    let mut predictions = Vec::new();
    for path in req.inputs {
        let inp = input::read_input(path)?;
        let names = inp.item_names();
        let mut images = inp.images;
        if images.shape() != shape {
            invalid!(
                "shape mismatch: {} holds {} images, the model takes {}",
                path.display(),
                images.shape(),
                shape
            );
        }
        if let Some(e) = &encryption {
            e.encrypt(&mut images)?;
        }
        let probs = engine::predict(&model, &images)?;
        for (name, p) in names.into_iter().zip(probs) {
            let (class, probability) =
                p.iter()
                    .copied()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (i, v)| {
                        if v > best.1 {
                            (i, v)
                        } else {
                            best
                        }
                    });
            predictions.push(Prediction {
                input: name,
                class,
                name: class_names
                    .as_ref()
                    .and_then(|n| n.get(class).copied())
                    .map(str::to_owned),
                probability,
                probabilities: p,
            });
        }
    }
    Ok(PredictReport {
        model: req.model.display().to_string(),
        architecture: spec.architecture,
        scheme: model_scheme,
        predictions,
    })
}

/// Class names from the training metrics beside the model ([`train::metrics_path`]), when
/// they are there and name a known dataset; names are optional decoration, so a missing or
/// unreadable metrics file means none.
fn class_names(model: &Path) -> Option<Vec<&'static str>> {
    let bytes = std::fs::read(train::metrics_path(model)).ok()?;
    let report = serde_json::from_slice::<train::TrainReport>(&bytes).ok()?;
    let kind = report
        .dataset
        .trim_start_matches("sample-")
        .parse::<DatasetKind>()
        .ok()?;
    Some(kind.class_names().to_vec())
}
