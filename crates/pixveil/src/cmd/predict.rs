//! `pixveil predict`: classify images with a trained model. Inputs are image files, folders or
//! dataset files (IDX, CIFAR-10 batch). A model trained on encrypted images needs either the
//! key (the images are encrypted here first, as a client would) or `--encrypted` (the inputs
//! already are ciphertexts, as a server receives them: no key needed).

use std::path::PathBuf;

use anyhow::{bail, Result};
use pixveil_image::input;
use serde::Serialize;

use pixveil_ml::data::{self, Encryption};
use pixveil_ml::engine;
use pixveil_ml::train;

/// `pixveil predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// Trained model (safetensors, from `pixveil train`).
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// Key: encrypt the inputs with it before classifying (client side).
    #[arg(long, value_name = "KEY")]
    pub key: Option<PathBuf>,
    /// Passphrase file, for passphrase-protected keys.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// The inputs are already encrypted with the model's scheme (server side; no key).
    #[arg(long, conflicts_with = "key")]
    pub encrypted: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Images: PNG/JPEG files, folders of them, IDX image files or CIFAR-10 batches.
    #[arg(required = true, value_name = "IMG")]
    pub inputs: Vec<PathBuf>,
}

#[derive(Serialize)]
struct Prediction {
    input: String,
    class: usize,
    name: Option<String>,
    probability: f32,
    probabilities: Vec<f32>,
}

#[derive(Serialize)]
struct PredictReport {
    model: String,
    architecture: String,
    scheme: String,
    predictions: Vec<Prediction>,
}

pub fn run(a: &PredictArgs) -> Result<()> {
    let (model, spec, model_scheme) = engine::load(&a.model)?;
    let [c, h, w] = spec.input_shape;
    let shape = pixveil_image::Shape::new(
        u32::try_from(h).unwrap_or(u32::MAX),
        u32::try_from(w).unwrap_or(u32::MAX),
        u32::try_from(c).unwrap_or(u32::MAX),
    )?;
    let encryption = a
        .key
        .as_deref()
        .map(|k| Encryption::load(k, a.passphrase_file.as_deref(), shape, "the model"))
        .transpose()?;
    if let Some(e) = &encryption {
        if e.scheme_id() != model_scheme {
            bail!(
                "scheme mismatch: {} was trained on {model_scheme} images, the key is {}",
                a.model.display(),
                e.scheme_id()
            );
        }
    } else if model_scheme != data::PLAIN_SCHEME && !a.encrypted {
        bail!(
            "{} was trained on {model_scheme} images: pass --key to encrypt the inputs, or \
             --encrypted if they already are",
            a.model.display()
        );
    } else if model_scheme == data::PLAIN_SCHEME && a.encrypted {
        bail!(
            "{} was trained on plain images; --encrypted does not apply",
            a.model.display()
        );
    }
    // Class names from the training metrics beside the model, when present.
    let class_names = std::fs::read(train::metrics_path(&a.model))
        .ok()
        .and_then(|b| serde_json::from_slice::<train::TrainReport>(&b).ok())
        .and_then(|r| {
            r.dataset
                .trim_start_matches("sample-")
                .parse::<pixveil_image::DatasetKind>()
                .ok()
        })
        .map(|k| k.class_names());

    let mut predictions = Vec::new();
    for path in &a.inputs {
        let inp = input::read_input(path)?;
        let names = inp.item_names();
        let mut images = inp.images;
        if images.shape() != shape {
            bail!(
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
                    .and_then(|n| n.get(class).copied())
                    .map(str::to_owned),
                probability,
                probabilities: p,
            });
        }
    }
    if a.json {
        let report = PredictReport {
            model: a.model.display().to_string(),
            architecture: spec.architecture,
            scheme: model_scheme,
            predictions,
        };
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for p in &predictions {
            println!(
                "{}\t{}{}\t{:.4}",
                p.input,
                p.class,
                p.name
                    .as_deref()
                    .filter(|n| *n != p.class.to_string())
                    .map_or_else(String::new, |n| format!(" ({n})")),
                p.probability
            );
        }
    }
    Ok(())
}
