//! The demo's train-and-evaluate: the TenSEAL CNN trained on the built-in MNIST sample (204
//! training images, 52 held out), on plain images and under each scheme with a fresh key, to
//! show that fixed keys keep images learnable and per-image keys do not.
//!
//! [`SchemeDemo::new`] sets the runs up (data and keys); [`SchemeDemo::train`] trains one of
//! them with [`train::run_job`], the one training loop, so a caller can report each run as it
//! ends.

use std::path::{Path, PathBuf};

use pixveil_cipher::{KeyFile, KeyMode, SchemeSpec};
use pixveil_nn::Augmentation;

use crate::data::{self, DataSpec, Encryption, Splits};
use crate::engine::ModelSpec;
use crate::error::Result;
use crate::train::{self, AugmentSide, Hyper, TrainJob, TrainObserver, TrainReport};

/// Dataset of the demo's runs (the built-in sample: no download).
pub const DATASET: &str = "sample-mnist";
/// Architecture of the demo's runs.
pub const MODEL: &str = "tenseal-cnn";
/// Epochs of each run.
pub const EPOCHS: usize = 10;
/// Mini-batch size of each run (the model's other settings are [`Hyper::defaults`]).
pub const BATCH_SIZE: usize = 16;
/// Seed of each run.
pub const SEED: u64 = 73;

/// The encrypted runs, after the plain one: every fixed-key scheme, then per-image `pe`.
const SCHEMES: [(&str, KeyMode); 6] = [
    ("pe", KeyMode::Fixed),
    ("pe-np", KeyMode::Fixed),
    ("logistic", KeyMode::Fixed),
    ("le", KeyMode::Fixed),
    ("etc", KeyMode::Fixed),
    ("pe", KeyMode::PerImage),
];

/// One run of the demo.
#[derive(Debug)]
pub struct DemoRun {
    /// Scheme name, or `plain`.
    pub scheme: String,
    /// Key mode, or `-` for plain images.
    pub mode: String,
    /// The run's fresh key (`None`: plain images).
    pub encryption: Option<Encryption>,
    /// Whether the trained model is kept (for the demo's encrypted-inference step): the plain
    /// and the fixed-key `pe` runs.
    pub keep: bool,
}

/// The demo's runs on the sample's split.
#[derive(Debug)]
pub struct SchemeDemo {
    /// The training and held-out images (the sample's fixed 80/20 split).
    pub splits: Splits,
    /// Plain first, then each scheme with a fresh key.
    pub runs: Vec<DemoRun>,
    spec: DataSpec,
}

impl SchemeDemo {
    /// Loads the sample and generates a key per encrypted run (OS CSPRNG; never written).
    ///
    /// # Errors
    /// An OS random number generator failure.
    pub fn new() -> Result<Self> {
        let spec = DataSpec::parse(DATASET, None)?;
        let splits = data::load_splits(&spec)?;
        let shape = spec.shape();
        let mut runs = vec![DemoRun {
            scheme: "plain".into(),
            mode: "-".into(),
            encryption: None,
            keep: true,
        }];
        for (name, mode) in SCHEMES {
            let key = KeyFile::generate(SchemeSpec::from_name(name, None)?, shape, mode)?;
            runs.push(DemoRun {
                scheme: name.into(),
                mode: mode.to_string(),
                encryption: Some(Encryption::new(key)?),
                keep: name == "pe" && mode == KeyMode::Fixed,
            });
        }
        Ok(Self { splits, runs, spec })
    }

    /// Trains and evaluates `run` (one of [`Self::runs`]); a kept run's model is written to
    /// `dir/<scheme>.safetensors` and its path returned.
    ///
    /// # Errors
    /// [`train::run_job`]'s errors.
    pub fn train(
        &self,
        run: &DemoRun,
        dir: &Path,
        observer: &mut dyn TrainObserver,
    ) -> Result<(TrainReport, Option<PathBuf>)> {
        let output = run
            .keep
            .then(|| dir.join(format!("{}.safetensors", run.scheme)));
        let mut hyper = Hyper::defaults(MODEL);
        hyper.batch_size = BATCH_SIZE;
        let job = TrainJob {
            dataset: self.spec.name(),
            splits: &self.splits,
            encryption: run.encryption.as_ref(),
            augment: AugmentSide::None,
            aug: Augmentation::NONE,
            model: ModelSpec::new(MODEL, self.spec.shape(), false, 64),
            epochs: EPOCHS,
            hyper,
            seed: SEED,
            output: output.as_deref(),
            resume: false,
            test_every_epoch: true,
        };
        Ok((train::run_job(&job, observer)?, output))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plain_and_fixed_pe_are_kept() {
        let demo = SchemeDemo::new().unwrap();
        let kept: Vec<(&str, &str)> = demo
            .runs
            .iter()
            .filter(|r| r.keep)
            .map(|r| (r.scheme.as_str(), r.mode.as_str()))
            .collect();
        assert_eq!(kept, [("plain", "-"), ("pe", "fixed")]);
        assert_eq!(demo.runs.len(), 7);
        assert_eq!(demo.runs[6].mode, "per-image");
        assert_eq!((demo.splits.train.len(), demo.splits.test.len()), (204, 52));
    }
}
