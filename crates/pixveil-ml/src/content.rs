//! The classifier of the security report's **content score**: a small model trained on plain
//! images, which then classifies attack reconstructions (`pixveil_analysis::attacks::content`
//! computes the accuracies; the CLI joins the two).
//!
//! Cache-free and deterministic: the same images, options and seed give the same model.
//! Models: `tenseal-cnn` on 28×28×1 images (MNIST family), `small-cnn` otherwise; Adam 1e-3,
//! batch 64, constant rate, no augmentation.

use pixveil_image::ImageBatch;

use crate::engine::{self, Model, ModelSpec, OptimizerKind};
use crate::error::{invalid, Result};

/// How the content classifier is trained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentOptions {
    /// Training images used (the first ones given; `None`: all). By default, this is `None`.
    pub train_limit: Option<usize>,
    /// Epochs. By default, this is 2.
    pub epochs: usize,
    /// Seed of the initialisation and the shuffles. By default, this is 1.
    pub seed: u64,
}

impl Default for ContentOptions {
    fn default() -> Self {
        Self {
            train_limit: None,
            epochs: 2,
            seed: 1,
        }
    }
}

/// A trained plain-image classifier.
#[derive(Debug)]
pub struct ContentClassifier {
    model: Model,
    description: String,
}

/// Images per training mini-batch.
const BATCH: usize = 64;

impl ContentClassifier {
    /// Trains on `images` (plain, `N×H×W×C`) with `labels` (`N` classes in `0..10`).
    ///
    /// # Errors
    /// Mismatched or empty inputs, `epochs == 0`, `train_limit == Some(0)`; engine errors.
    pub fn train(images: &ImageBatch, labels: &[u8], opts: &ContentOptions) -> Result<Self> {
        if labels.len() != images.len() {
            invalid!(
                "content classifier: {} labels for {} images",
                labels.len(),
                images.len()
            );
        }
        if opts.epochs == 0 || opts.train_limit == Some(0) || images.is_empty() {
            invalid!(
                "content classifier: needs at least one epoch and one image \
                 (epochs {}, limit {:?}, {} images)",
                opts.epochs,
                opts.train_limit,
                images.len()
            );
        }
        let shape = images.shape();
        let n = opts
            .train_limit
            .map_or(images.len(), |l| l.min(images.len()));
        let mut train = images.clone();
        train.truncate(n);
        let labels = &labels[..n];
        let arch = if [shape.height(), shape.width(), shape.channels()] == [28, 28, 1] {
            "tenseal-cnn"
        } else {
            "small-cnn"
        };
        let mut model = engine::build_model(&ModelSpec::new(arch, shape, false, 64), opts.seed)?;
        let mut opt = engine::optimizer(&model, OptimizerKind::Adam, 1e-3, 0.0, 0.0)?;
        for epoch in 0..opts.epochs {
            engine::train_epoch(
                &mut model,
                opt.as_mut(),
                &train,
                labels,
                BATCH,
                opts.seed.wrapping_add(epoch as u64),
                None,
                &mut |_| {},
            )?;
        }
        Ok(Self {
            model,
            description: format!(
                "{arch}, {n} plain training images, {} epochs, seed {}",
                opts.epochs, opts.seed
            ),
        })
    }

    /// What was trained, for reports.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The predicted class (`argmax` of the scores) of every image.
    ///
    /// # Errors
    /// Images that do not fit the model.
    pub fn classify(&self, images: &ImageBatch) -> Result<Vec<u8>> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let probs = engine::predict(&self.model, images)?;
        Ok(probs
            .iter()
            .map(|p| {
                p.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(k, _)| k as u8)
                    .expect("a model has at least one class")
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixveil_image::{dataset::DatasetKind, sample};

    #[test]
    fn learns_the_sample_and_is_deterministic() {
        let ds = sample::load(DatasetKind::Mnist).unwrap();
        let opts = ContentOptions {
            epochs: 20,
            ..ContentOptions::default()
        };
        let a = ContentClassifier::train(&ds.images, &ds.labels, &opts).unwrap();
        let b = ContentClassifier::train(&ds.images, &ds.labels, &opts).unwrap();
        let pa = a.classify(&ds.images).unwrap();
        assert_eq!(pa, b.classify(&ds.images).unwrap());
        let acc = pa.iter().zip(&ds.labels).filter(|(p, l)| p == l).count() as f64
            / ds.labels.len() as f64;
        // Training accuracy on 256 images after 20 epochs (80 steps): well above chance (10 %).
        assert!(acc > 0.5, "{acc}");
    }

    #[test]
    fn bad_input_is_an_error() {
        let ds = sample::load(DatasetKind::Mnist).unwrap();
        let o = ContentOptions::default();
        assert!(ContentClassifier::train(&ds.images, &ds.labels[1..], &o).is_err());
        let zero = ContentOptions {
            epochs: 0,
            ..ContentOptions::default()
        };
        assert!(ContentClassifier::train(&ds.images, &ds.labels, &zero).is_err());
        let none = ContentOptions {
            train_limit: Some(0),
            ..ContentOptions::default()
        };
        assert!(ContentClassifier::train(&ds.images, &ds.labels, &none).is_err());
    }
}
