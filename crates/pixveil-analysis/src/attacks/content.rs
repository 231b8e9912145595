//! Content score: does a reconstruction show what the image shows?
//!
//! Exact-value recovery says little on its own (guessing 0 everywhere "recovers" 80 % of MNIST).
//! The content score asks a classifier trained on **plain** images to classify the attack's
//! reconstructions, and reports its accuracy next to its accuracy on the plain held-out images
//! (the ceiling) and on their ciphertexts (what the server sees with no attack at all). A
//! reconstruction that scores near the plain accuracy shows the content, whatever its exact
//! fraction; one that scores near the ciphertext accuracy (or chance, 10 % for ten classes)
//! does not.
//!
//! This crate has no classifier (it sits below the training engine); the caller passes one as a
//! function (`pixveil-ml`'s `content` module trains one, the CLI joins the two).

use pixveil_image::ImageBatch;
use serde::Serialize;

use super::AttackOutcome;
use crate::{Error, Result};

/// A classifier: the predicted class of every image of a batch, or a message saying why not.
pub type Classify<'a> = dyn Fn(&ImageBatch) -> std::result::Result<Vec<u8>, String> + Sync + 'a;

/// Accuracies of one plain-trained classifier on the held-out images of an attack, in `[0, 1]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContentScore {
    /// The classifier (architecture, training images, epochs).
    pub classifier: String,
    /// Held-out images classified.
    pub images: usize,
    /// Accuracy on the plain held-out images (the ceiling).
    pub plain: f64,
    /// Accuracy on their ciphertexts (no attack).
    pub ciphertext: f64,
    /// Accuracy on the attack's reconstructions.
    pub reconstruction: f64,
}

/// Scores attack outcomes with one classifier against the labels of the attacked batch.
pub struct ContentJudge<'a> {
    name: String,
    labels: &'a [u8],
    /// The classifier's prediction for every image of the attacked plain batch.
    plain_predictions: Vec<u8>,
    classify: &'a Classify<'a>,
}

impl std::fmt::Debug for ContentJudge<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentJudge")
            .field("name", &self.name)
            .field("labels", &self.labels.len())
            .finish_non_exhaustive()
    }
}

fn classify_checked(classify: &Classify<'_>, images: &ImageBatch) -> Result<Vec<u8>> {
    let p = classify(images).map_err(Error::Classifier)?;
    if p.len() != images.len() {
        return Err(Error::Classifier(format!(
            "the classifier returned {} predictions for {} images",
            p.len(),
            images.len()
        )));
    }
    Ok(p)
}

fn accuracy(pred: &[u8], labels: &[u8]) -> f64 {
    let hits = pred.iter().zip(labels).filter(|(p, l)| p == l).count();
    hits as f64 / pred.len().max(1) as f64
}

impl<'a> ContentJudge<'a> {
    /// A judge for attacks on `plain` (the batch given to the attacks) whose classes are
    /// `labels` (one per image); classifies `plain` once.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `labels` and `plain` differ in length;
    /// [`Error::Classifier`] if the classifier fails.
    pub fn new(
        name: impl Into<String>,
        plain: &ImageBatch,
        labels: &'a [u8],
        classify: &'a Classify<'a>,
    ) -> Result<Self> {
        if labels.len() != plain.len() {
            return Err(Error::ShapeMismatch {
                op: "content score",
                expected: format!("{} labels (one per image)", plain.len()),
                found: labels.len().to_string(),
            });
        }
        let plain_predictions = classify_checked(classify, plain)?;
        Ok(Self {
            name: name.into(),
            labels,
            plain_predictions,
            classify,
        })
    }

    /// The classifier's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Accuracy on the whole plain batch.
    pub fn plain_accuracy(&self) -> f64 {
        accuracy(&self.plain_predictions, self.labels)
    }

    /// Scores `outcome`: takes its held-out images out (freeing them) and sets
    /// [`AttackOutcome::content`].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the outcome holds no held-out images (already scored) or
    /// they do not lie inside the labelled batch; [`Error::Classifier`].
    pub fn score(&self, outcome: &mut AttackOutcome) -> Result<()> {
        let held = outcome.held_out_images.take().ok_or_else(|| {
            Error::InvalidParameter(format!(
                "the {} outcome holds no held-out images (already scored?)",
                outcome.attack
            ))
        })?;
        let n = held.reconstructions.len();
        let range = held.first..held.first + n;
        let (Some(labels), Some(plain)) = (
            self.labels.get(range.clone()),
            self.plain_predictions.get(range),
        ) else {
            return Err(Error::InvalidParameter(format!(
                "held-out images {}..{} lie outside the {} labelled images",
                held.first,
                held.first + n,
                self.labels.len()
            )));
        };
        let cipher = classify_checked(self.classify, &held.ciphertexts)?;
        let recon = classify_checked(self.classify, &held.reconstructions)?;
        outcome.content = Some(ContentScore {
            classifier: self.name.clone(),
            images: n,
            plain: accuracy(plain, labels),
            ciphertext: accuracy(&cipher, labels),
            reconstruction: accuracy(&recon, labels),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attacks::{Baselines, HeldOut};
    use pixveil_image::Shape;

    fn outcome(first: usize, recon: Vec<u8>, cipher: Vec<u8>, shape: Shape) -> AttackOutcome {
        AttackOutcome {
            attack: "test".into(),
            method: "test".into(),
            scheme: "pe".into(),
            mode: "fixed".into(),
            recovered_fraction: 0.0,
            psnr_db: 0.0,
            ssim: 0.0,
            queries: 0,
            pairs: 0,
            held_out: 2,
            identity_fraction: 0.0,
            baselines: Baselines {
                most_common_value: 0,
                most_common: 0.0,
                identity: 0.0,
                coin: None,
            },
            content: None,
            direct_comparison: None,
            neighbour_comparison: None,
            notes: String::new(),
            example: None,
            held_out_images: Some(HeldOut {
                first,
                ciphertexts: ImageBatch::new(shape, cipher).unwrap(),
                reconstructions: ImageBatch::new(shape, recon).unwrap(),
            }),
        }
    }

    #[test]
    fn accuracies_follow_the_held_out_range() {
        // The "classifier" reads the class from the first byte.
        let classify = |b: &ImageBatch| -> std::result::Result<Vec<u8>, String> {
            Ok(b.images().map(|i| i[0]).collect())
        };
        let shape = Shape::new(1, 1, 1).unwrap();
        let plain = ImageBatch::new(shape, vec![0, 1, 2, 3]).unwrap();
        let labels = [0u8, 1, 2, 3];
        let judge = ContentJudge::new("first-byte", &plain, &labels, &classify).unwrap();
        assert_eq!(judge.plain_accuracy(), 1.0);
        // Held-out images 2 and 3: reconstruction right for one, ciphertext for none.
        let mut o = outcome(2, vec![2, 9], vec![7, 7], shape);
        judge.score(&mut o).unwrap();
        let c = o.content.clone().unwrap();
        assert_eq!(
            (c.images, c.plain, c.ciphertext, c.reconstruction),
            (2, 1.0, 0.0, 0.5)
        );
        // Scoring twice is refused; so is a range outside the labels.
        assert!(judge.score(&mut o).is_err());
        let mut far = outcome(3, vec![2, 9], vec![7, 7], shape);
        assert!(judge.score(&mut far).is_err());
    }

    #[test]
    fn mismatched_labels_and_bad_classifiers_are_errors() {
        let shape = Shape::new(1, 1, 1).unwrap();
        let plain = ImageBatch::new(shape, vec![0, 1]).unwrap();
        let ok = |b: &ImageBatch| -> std::result::Result<Vec<u8>, String> { Ok(vec![0; b.len()]) };
        assert!(ContentJudge::new("x", &plain, &[0], &ok).is_err());
        let short = |_: &ImageBatch| -> std::result::Result<Vec<u8>, String> { Ok(vec![0]) };
        assert!(ContentJudge::new("x", &plain, &[0, 1], &short).is_err());
    }
}
