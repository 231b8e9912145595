//! The training job: a classifier trained on plain or encrypted images, with augmentation
//! before encryption (client side), after it (server side, on ciphertexts) or none, with a
//! checkpoint and a metrics file after every epoch and `resume` from them.
//!
//! Encryption happens here, on `u8` batches, before anything reaches the engine: the training
//! code never sees a key. Per-image keys get fresh random nonces (re-drawn every epoch with
//! augmentation before encryption, once otherwise). The epochs themselves are pixveil-nn's one
//! training loop ([`engine::train_epoch`]); progress goes to a [`TrainObserver`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use pixveil_core::fsio;
use pixveil_image::Shape;
use pixveil_nn::augment::{augment_batch, Augmentation};
use pixveil_nn::StepSchedule;
use serde::{Deserialize, Serialize};

use crate::data::{self, Encryption, Splits};
use crate::engine::{self, BatchProgress, ModelSpec, OptimizerKind, Schedule};
use crate::error::{invalid, key_mismatch, Context, Error, IoContext, Result};

/// Where augmentation happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum AugmentSide {
    /// No augmentation.
    None,
    /// On plain images, before encryption (client side).
    Before,
    /// On encrypted images (server side).
    After,
}

impl AugmentSide {
    /// Name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Before => "before",
            Self::After => "after",
        }
    }
}

/// Optimisation settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Hyper {
    /// Mini-batch size.
    pub batch_size: usize,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// Base learning rate.
    pub lr: f32,
    /// SGD momentum.
    pub momentum: f32,
    /// Weight decay.
    pub weight_decay: f32,
    /// Schedule.
    pub schedule: Schedule,
    /// Warm-up epochs.
    pub warmup: f64,
}

impl Hyper {
    /// Per-model defaults: Adam 1e-3, batch 64, constant rate for the small CNNs (TenSEAL
    /// tutorial); SGD 0.1 momentum 0.9, weight decay 5e-4, batch 128, cosine for ResNet-18
    /// (paper A, with cosine instead of A's steps at 50 % and 75 % for short runs).
    pub fn defaults(model: &str) -> Self {
        if model == "resnet18" {
            Self {
                batch_size: 128,
                optimizer: OptimizerKind::Sgd,
                lr: 0.1,
                momentum: 0.9,
                weight_decay: 5e-4,
                schedule: Schedule::Cosine,
                warmup: 0.0,
            }
        } else if model == "he-cnn" {
            // The recipe that reaches MNIST 99.2 / Fashion 90.6 / KMNIST 97.0 % (README).
            Self {
                batch_size: 64,
                optimizer: OptimizerKind::Adamw,
                lr: 2e-3,
                momentum: 0.9,
                weight_decay: 0.05,
                schedule: Schedule::Cosine,
                warmup: 0.5,
            }
        } else {
            Self {
                batch_size: 64,
                optimizer: OptimizerKind::Adam,
                lr: 1e-3,
                momentum: 0.9,
                weight_decay: 0.0,
                schedule: Schedule::Constant,
                warmup: 0.0,
            }
        }
    }

    /// Checks ranges.
    ///
    /// # Errors
    /// Zero batch size, non-positive or non-finite rates, negative decay.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            invalid!("--batch-size must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            invalid!("--lr must be a positive number, got {}", self.lr);
        }
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            invalid!("--momentum must be in [0, 1), got {}", self.momentum);
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            invalid!(
                "--weight-decay must be zero or positive, got {}",
                self.weight_decay
            );
        }
        match self.schedule {
            Schedule::Step { every, gamma }
                if every == 0 || !(gamma.is_finite() && gamma > 0.0) =>
            {
                invalid!("--step-every must be at least 1 and --gamma positive")
            }
            Schedule::MultiStep { gamma, .. } if !(gamma.is_finite() && gamma > 0.0) => {
                invalid!("--gamma must be positive")
            }
            _ => {}
        }
        Ok(())
    }
}

/// Learning-rate schedule kinds, as a user names them (the CLI's `--schedule`); resolved into
/// a [`Schedule`] by [`Hyper::resolve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ScheduleKind {
    /// Constant rate.
    Constant,
    /// Decay by --gamma every --step-every epochs.
    Step,
    /// Cosine annealing to 0.
    Cosine,
    /// Decay by --gamma at 50 % and 75 % of the epochs (paper A: 150 and 225 of 300).
    Multistep,
}

/// Optimisation settings a user gives; each `None` keeps the model's default
/// ([`Hyper::defaults`]).
#[derive(Clone, Debug, PartialEq)]
pub struct HyperOptions {
    /// Optimiser; changing it without `lr` also changes the rate to the optimiser's usual
    /// one (Adam/AdamW 1e-3, SGD 0.01).
    pub optimizer: Option<OptimizerKind>,
    /// Base learning rate.
    pub lr: Option<f32>,
    /// Mini-batch size.
    pub batch_size: Option<usize>,
    /// Linear warm-up, in (fractional) epochs, at least 0.
    pub warmup: Option<f64>,
    /// Weight decay.
    pub weight_decay: Option<f32>,
    /// SGD momentum (always given: the CLI has a default).
    pub momentum: f32,
    /// Schedule kind.
    pub schedule: Option<ScheduleKind>,
    /// Step schedule: epochs between decays (default: half the epochs); only with
    /// [`ScheduleKind::Step`].
    pub step_every: Option<usize>,
    /// Step and multi-step schedules: decay factor.
    pub gamma: f32,
}

impl Hyper {
    /// The defaults of `model` ([`Hyper::defaults`]) overridden by `options`, for a run of
    /// `epochs` epochs (the step schedules' milestones depend on it), validated.
    ///
    /// # Errors
    /// A negative or non-finite warm-up, `step_every` without a step schedule, and
    /// [`Hyper::validate`]'s errors.
    pub fn resolve(model: &str, epochs: usize, options: &HyperOptions) -> Result<Self> {
        let o = options;
        let mut h = Self::defaults(model);
        if let Some(kind) = o.optimizer {
            if kind != h.optimizer && o.lr.is_none() {
                h.lr = match kind {
                    OptimizerKind::Adam | OptimizerKind::Adamw => 1e-3,
                    OptimizerKind::Sgd => 0.01,
                };
            }
            h.optimizer = kind;
        }
        if let Some(lr) = o.lr {
            h.lr = lr;
        }
        if let Some(b) = o.batch_size {
            h.batch_size = b;
        }
        if let Some(w) = o.warmup {
            if !(w.is_finite() && w >= 0.0) {
                invalid!("--warmup must be a non-negative number of epochs, got {w}");
            }
            h.warmup = w;
        }
        if let Some(wd) = o.weight_decay {
            h.weight_decay = wd;
        }
        h.momentum = o.momentum;
        if let Some(s) = o.schedule {
            h.schedule = match s {
                ScheduleKind::Constant => Schedule::Constant,
                ScheduleKind::Cosine => Schedule::Cosine,
                ScheduleKind::Multistep => Schedule::MultiStep {
                    milestones: [epochs / 2, epochs * 3 / 4],
                    gamma: o.gamma,
                },
                ScheduleKind::Step => Schedule::Step {
                    every: o.step_every.unwrap_or((epochs / 2).max(1)),
                    gamma: o.gamma,
                },
            };
        } else if o.step_every.is_some() {
            invalid!("--step-every needs --schedule step");
        }
        h.validate()?;
        Ok(h)
    }
}

/// Default augmentation for `shape`: shift 4 px for 32-pixel images, 2 px for 28-pixel ones;
/// horizontal flip for colour (CIFAR-10) images only.
pub fn default_augmentation(shape: Shape) -> Augmentation {
    Augmentation {
        shift: if shape.height() >= 32 { 4 } else { 2 },
        hflip: shape.channels() == 3,
    }
}

/// Progress of a training job, for a user interface. Every method has an empty default.
pub trait TrainObserver {
    /// `model` is resumed after `done` of `total` epochs.
    fn resumed(&mut self, _model: &Path, _done: usize, _total: usize) {}
    /// Epoch `epoch` (0-based) of `total` starts training on `images` images.
    fn epoch_started(&mut self, _epoch: usize, _total: usize, _images: usize) {}
    /// One mini-batch of the current epoch is done.
    fn batch(&mut self, _progress: BatchProgress) {}
    /// The current epoch's training is done (its evaluation follows).
    fn epoch_trained(&mut self) {}
    /// The current epoch is done and evaluated (`record.epoch` is 1-based) of `total`.
    fn epoch_finished(&mut self, _record: &EpochRecord, _total: usize) {}
    /// A remark for the user about the data (e.g. [`data::split_note`]).
    fn note(&mut self, _text: &str) {}
}

/// An observer that ignores everything.
impl TrainObserver for () {}

/// One training run, fully specified.
pub struct TrainJob<'a> {
    /// Dataset name for reports.
    pub dataset: String,
    /// Training and test data (already limited).
    pub splits: &'a Splits,
    /// The key, if the images are encrypted.
    pub encryption: Option<&'a Encryption>,
    /// Where augmentation happens.
    pub augment: AugmentSide,
    /// Augmentation settings (used unless `augment` is `None`).
    pub aug: Augmentation,
    /// The model.
    pub model: ModelSpec,
    /// Total epochs.
    pub epochs: usize,
    /// Optimisation settings.
    pub hyper: Hyper,
    /// Seed.
    pub seed: u64,
    /// Model file (with `.metrics.json` and `.state` beside it), if any.
    pub output: Option<&'a Path>,
    /// Continue from `output`.
    pub resume: bool,
    /// Evaluate the test set after every epoch (a learning curve in the history); when
    /// false, only after the last one. On ResNet-18 width 8 with 10 000 test images an
    /// evaluation costs about a quarter of an epoch of 10 000 training images.
    pub test_every_epoch: bool,
}

/// One epoch in the report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss (running, over the epoch).
    pub train_loss: f64,
    /// Training accuracy (running, over the epoch).
    pub train_accuracy: f64,
    /// Test loss after the epoch; `None` when the job evaluates only its last epoch
    /// ([`TrainJob::test_every_epoch`] false).
    pub test_loss: Option<f64>,
    /// Test accuracy after the epoch, in `[0, 1]`; `None` as `test_loss`.
    pub test_accuracy: Option<f64>,
    /// Learning rate of the epoch.
    pub lr: f32,
    /// Seconds of the epoch: augmentation, encryption and training (not evaluation).
    pub seconds: f64,
}

/// What `train --json` prints and `MODEL.metrics.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainReport {
    /// Architecture.
    pub model: String,
    /// Dataset.
    pub dataset: String,
    /// Scheme id (`none`, `pe:fixed`, …).
    pub scheme: String,
    /// `none`, `fixed` or `per-image`.
    pub key_mode: String,
    /// Public key id (never the key).
    pub key_id: Option<String>,
    /// `none`, `before`, `after`.
    pub augment: String,
    /// Largest shift (0 without augmentation).
    pub shift: usize,
    /// Horizontal flip.
    pub hflip: bool,
    /// Adaptation network.
    pub adaptation: bool,
    /// ResNet width.
    pub width: usize,
    /// Parameters.
    pub params: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Optimiser.
    pub optimizer: String,
    /// Base learning rate.
    pub lr: f32,
    /// SGD momentum.
    pub momentum: f32,
    /// Weight decay.
    pub weight_decay: f32,
    /// Schedule.
    pub schedule: String,
    /// Seed.
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
    /// Training images.
    pub train_images: usize,
    /// Test images.
    pub test_images: usize,
    /// `standard` or `test-split`.
    pub train_source: String,
    /// Seconds of training (sum of the epochs' seconds).
    pub train_seconds: f64,
    /// Seconds of test evaluation (every evaluated epoch).
    pub eval_seconds: f64,
    /// Final test accuracy.
    pub test_accuracy: f64,
    /// Final test loss.
    pub test_loss: f64,
    /// Per epoch.
    pub history: Vec<EpochRecord>,
    /// The model file.
    pub output: Option<String>,
    /// False while training is in progress (metrics file written after each epoch).
    pub finished: bool,
}

/// `MODEL.metrics.json`.
pub fn metrics_path(model: &Path) -> PathBuf {
    with_suffix(model, ".metrics.json")
}

/// `MODEL.state`.
pub fn state_path(model: &Path) -> PathBuf {
    with_suffix(model, ".state")
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A well-mixed 64-bit value from a seed, a stream tag and an epoch (SplitMix64 finaliser).
fn mix(seed: u64, tag: u64, epoch: usize) -> u64 {
    let mut z = seed
        ^ tag.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (epoch as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs a training job.
///
/// # Errors
/// Model/data mismatches, engine errors, I/O errors on the outputs.
pub fn run_job(job: &TrainJob, observer: &mut dyn TrainObserver) -> Result<TrainReport> {
    if job.epochs == 0 {
        invalid!("--epochs must be at least 1");
    }
    if job.splits.train.is_empty() || job.splits.test.is_empty() {
        invalid!("no training or no test images (check --train-limit and --limit)");
    }
    if job.resume && !engine::CAN_RESUME {
        invalid!("--resume is not available: this build's engine does not save optimiser state");
    }
    let scheme = job
        .encryption
        .map_or_else(|| data::PLAIN_SCHEME.to_owned(), Encryption::scheme_id);
    let shape = job.splits.train.images.shape();
    let mut model = engine::build_model(&job.model, job.seed)
        .context_with(|| format!("model {} on {} images", job.model.architecture, shape))?;
    let mut opt = engine::optimizer(
        &model,
        job.hyper.optimizer,
        job.hyper.lr,
        job.hyper.momentum,
        job.hyper.weight_decay,
    )?;

    let mut report = TrainReport {
        model: job.model.architecture.clone(),
        dataset: job.dataset.clone(),
        scheme: scheme.clone(),
        key_mode: job
            .encryption
            .map_or_else(|| "none".to_owned(), |e| e.mode().to_string()),
        key_id: job.encryption.map(Encryption::key_id),
        augment: job.augment.name().to_owned(),
        shift: if job.augment == AugmentSide::None {
            0
        } else {
            job.aug.shift
        },
        hflip: job.augment != AugmentSide::None && job.aug.hflip,
        adaptation: job.model.adaptation,
        width: job.model.width,
        params: engine::num_params(&model),
        epochs: 0,
        batch_size: job.hyper.batch_size,
        optimizer: job.hyper.optimizer.name().to_owned(),
        lr: job.hyper.lr,
        momentum: job.hyper.momentum,
        weight_decay: job.hyper.weight_decay,
        schedule: engine::schedule_name(&job.hyper.schedule),
        seed: job.seed,
        threads: rayon::current_num_threads(),
        train_images: job.splits.train.len(),
        test_images: job.splits.test.len(),
        train_source: job.splits.train_source.to_owned(),
        train_seconds: 0.0,
        eval_seconds: 0.0,
        test_accuracy: 0.0,
        test_loss: 0.0,
        history: Vec::new(),
        output: job.output.map(|p| p.display().to_string()),
        finished: false,
    };

    let mut done = 0;
    if job.resume {
        let Some(out) = job.output else {
            invalid!("--resume needs an output model");
        };
        let state = state_path(out);
        if !state.is_file() {
            invalid!("nothing to resume: {} does not exist", state.display());
        }
        let (m, spec, saved_scheme) = engine::load(out)?;
        if spec != job.model {
            invalid!(
                "cannot resume: {} is a {} model for {} images, not {} for {}",
                out.display(),
                spec.architecture,
                spec.shape_text(),
                job.model.architecture,
                job.model.shape_text()
            );
        }
        if saved_scheme != scheme {
            key_mismatch!(
                "cannot resume: {} was trained on {saved_scheme} images, this run uses {scheme}",
                out.display()
            );
        }
        model = m;
        done = engine::load_state(&state, &mut model, opt.as_mut())?;
        if let Ok(bytes) = std::fs::read(metrics_path(out)) {
            if let Ok(prev) = serde_json::from_slice::<TrainReport>(&bytes) {
                report.history = prev.history.into_iter().take(done).collect();
                report.train_seconds = report.history.iter().map(|h| h.seconds).sum();
            }
        }
        observer.resumed(out, done, job.epochs);
    }

    // Test images: encrypted once (fresh nonces in per-image mode).
    let mut test = job.splits.test.images.clone();
    if let Some(e) = job.encryption {
        e.encrypt(&mut test)?;
    }
    // Training images: encrypted once unless augmentation comes before encryption.
    let mut train_base = job.splits.train.images.clone();
    if let (Some(e), false) = (job.encryption, job.augment == AugmentSide::Before) {
        e.encrypt(&mut train_base)?;
    }
    let labels = &job.splits.train.labels;

    for epoch in done..job.epochs {
        let schedule = StepSchedule {
            schedule: job.hyper.schedule,
            base: job.hyper.lr,
            epoch,
            total_epochs: job.epochs,
            warmup: job.hyper.warmup,
        };
        let lr = schedule.lr(0, 1);
        let start = Instant::now();
        let epoch_images;
        let images = match job.augment {
            AugmentSide::None => &train_base,
            AugmentSide::Before | AugmentSide::After => {
                let mut b = train_base.clone();
                augment_batch(&mut b, &job.aug, mix(job.seed, 1, epoch));
                if let (Some(e), AugmentSide::Before) = (job.encryption, job.augment) {
                    e.encrypt(&mut b)?;
                }
                epoch_images = b;
                &epoch_images
            }
        };
        observer.epoch_started(epoch, job.epochs, images.len());
        let stats = engine::train_epoch(
            &mut model,
            opt.as_mut(),
            images,
            labels,
            job.hyper.batch_size,
            mix(job.seed, 2, epoch),
            Some(schedule),
            &mut |p: BatchProgress| observer.batch(p),
        )
        .map_err(|e| match e {
            // A non-finite batch loss is this run's divergence, in the epoch it happened.
            Error::Nn(pixveil_nn::Error::Diverged { loss, .. }) => Error::Diverged {
                epoch: epoch + 1,
                loss,
            },
            e => e,
        })?;
        observer.epoch_trained();
        let seconds = start.elapsed().as_secs_f64();
        if !(stats.loss.is_finite()) {
            return Err(Error::Diverged {
                epoch: epoch + 1,
                loss: stats.loss,
            });
        }
        let test = if job.test_every_epoch || epoch + 1 == job.epochs {
            let eval_start = Instant::now();
            let t = engine::evaluate(&model, &test, &job.splits.test.labels)?;
            report.eval_seconds += eval_start.elapsed().as_secs_f64();
            report.test_accuracy = t.accuracy;
            report.test_loss = t.loss;
            Some(t)
        } else {
            None
        };
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: stats.loss,
            train_accuracy: stats.accuracy,
            test_loss: test.as_ref().map(|t| t.loss),
            test_accuracy: test.as_ref().map(|t| t.accuracy),
            lr,
            seconds,
        };
        observer.epoch_finished(&record, job.epochs);
        report.history.push(record);
        report.train_seconds += seconds;
        report.epochs = epoch + 1;
        if let Some(out) = job.output {
            engine::save(out, &model, &scheme, report.key_id.as_deref())?;
            if engine::CAN_RESUME {
                let state = state_path(out);
                engine::save_state(&state, &model, opt.as_ref(), epoch + 1)?;
            }
            if epoch + 1 < job.epochs {
                write_metrics(out, &report)?;
            }
        }
    }
    if done >= job.epochs {
        // Nothing left to train (resume of a finished run): report the model as it is.
        let t = engine::evaluate(&model, &test, &job.splits.test.labels)?;
        report.test_accuracy = t.accuracy;
        report.test_loss = t.loss;
        report.epochs = done;
    }
    report.finished = true;
    if let Some(out) = job.output {
        write_metrics(out, &report)?;
    }
    Ok(report)
}

fn write_metrics(model: &Path, report: &TrainReport) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(report)?;
    bytes.push(b'\n');
    let path = metrics_path(model);
    fsio::write_atomic(&path, &bytes, fsio::Access::Ordinary).io_context("write", &path)
}

/// A training run as a user asks for it: names and paths, checked and resolved by [`train`]
/// into a [`TrainJob`].
#[derive(Clone, Debug)]
pub struct TrainRequest<'a> {
    /// The dataset (from [`data::DataSpec::parse`]).
    pub spec: &'a data::DataSpec,
    /// Optimisation settings (validated by the caller, [`Hyper::validate`]).
    pub hyper: Hyper,
    /// Key file: train and test images are encrypted with it; `None`: plain images.
    pub key: Option<&'a Path>,
    /// Passphrase file, for passphrase-protected keys.
    pub passphrase_file: Option<&'a Path>,
    /// Expected scheme family of the key (`pe`, `le`, …, `none` without a key): a check only.
    pub scheme: Option<&'a str>,
    /// Where augmentation happens.
    pub augment: AugmentSide,
    /// Largest random shift in pixels (default: [`default_augmentation`]).
    pub shift: Option<usize>,
    /// Random horizontal flip on or off (default: [`default_augmentation`]).
    pub hflip: Option<bool>,
    /// Architecture name.
    pub model: &'a str,
    /// Paper A's adaptation network in front of the model.
    pub adaptation: bool,
    /// ResNet base width (at least 1).
    pub width: usize,
    /// Total epochs (at least 1; with `resume`, including those already done).
    pub epochs: usize,
    /// Evaluate on the first N test images only (at least 1).
    pub limit: Option<usize>,
    /// Train on the first N training images only (at least 1).
    pub train_limit: Option<usize>,
    /// Seed of initialisation, shuffling and augmentation.
    pub seed: u64,
    /// Continue from `output` and its state file.
    pub resume: bool,
    /// Evaluate the test set after the last epoch only, not after every epoch
    /// ([`TrainJob::test_every_epoch`] false).
    pub test_at_end: bool,
    /// Output model; its `.metrics.json` and `.state` are written beside it.
    pub output: &'a Path,
}

/// The scheme family of a scheme id: `pe` of `pe:fixed`, `le-4` of `le-4:per-image`.
fn family(id: &str) -> &str {
    id.split(':')
        .next()
        .expect("str::split yields at least one piece")
}

/// Checks `req` before any data is read (model and shape, key, scheme, output, augmentation),
/// loads and limits the data, and runs the job.
///
/// # Errors
/// Invalid settings, key or data problems, an unwritable output, and [`run_job`]'s errors.
pub fn train(req: &TrainRequest, observer: &mut dyn TrainObserver) -> Result<TrainReport> {
    let spec = req.spec;
    if req.epochs == 0 {
        invalid!("--epochs must be at least 1");
    }
    if req.limit == Some(0) || req.train_limit == Some(0) {
        invalid!("--limit and --train-limit must be at least 1");
    }
    if req.width == 0 {
        invalid!("--width must be at least 1");
    }
    let shape = spec.shape();
    let model = ModelSpec::new(req.model, shape, req.adaptation, req.width);
    // Model/shape problems before any data is read.
    engine::build_model(&model, req.seed)
        .context_with(|| format!("model {} on {} ({} images)", req.model, spec.name(), shape))?;
    let encryption = req
        .key
        .map(|k| Encryption::load(k, req.passphrase_file, shape, &spec.name()))
        .transpose()?;
    if let Some(s) = req.scheme {
        let actual = encryption
            .as_ref()
            .map_or_else(|| data::PLAIN_SCHEME.to_owned(), Encryption::scheme_id);
        let name = family(&actual);
        let want = if s == "none" {
            "none".to_owned()
        } else {
            let sp = pixveil_cipher::SchemeSpec::from_name(s, None)?;
            family(&data::scheme_id(&sp.name(), pixveil_cipher::KeyMode::Fixed)).to_owned()
        };
        // Block schemes name their block size (le-4): compare the scheme family.
        if name != want && !name.starts_with(&format!("{want}-")) {
            key_mismatch!(
                "--scheme {s} but {} is {actual} (create a key with `pixveil keygen --scheme {s}`)",
                req.key.map_or_else(
                    || "no --key: the images".to_owned(),
                    |k| format!("the key {}", k.display())
                )
            );
        }
    }
    fsio::check_writable(req.output).io_context("write", req.output)?;
    if !req.resume && engine::CAN_RESUME {
        // A stale state file would make a later resume continue the wrong run; there is
        // usually none to remove.
        let _ = std::fs::remove_file(state_path(req.output));
    }

    let mut aug = default_augmentation(shape);
    if let Some(s) = req.shift {
        aug.shift = s;
    }
    if let Some(h) = req.hflip {
        aug.hflip = h;
    }
    if req.augment != AugmentSide::None && aug.is_identity() {
        invalid!(
            "--augment {} with --shift 0 and no flip does nothing",
            req.augment.name()
        );
    }

    let mut splits = data::load_splits(spec)?;
    if let Some(note) = data::split_note(spec, &splits) {
        observer.note(&note);
    }
    splits.train = splits.train.limit(req.train_limit);
    splits.test = splits.test.limit(req.limit);
    let job = TrainJob {
        dataset: spec.name(),
        splits: &splits,
        encryption: encryption.as_ref(),
        augment: req.augment,
        aug,
        model,
        epochs: req.epochs,
        hyper: req.hyper.clone(),
        seed: req.seed,
        output: Some(req.output),
        resume: req.resume,
        test_every_epoch: !req.test_at_end,
    };
    run_job(&job, observer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_are_checked_before_any_data_is_read() {
        let spec = data::DataSpec::parse("sample-mnist", None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.safetensors");
        let mut req = TrainRequest {
            spec: &spec,
            hyper: Hyper::defaults("tenseal-cnn"),
            key: None,
            passphrase_file: None,
            scheme: None,
            augment: AugmentSide::None,
            shift: None,
            hflip: None,
            model: "tenseal-cnn",
            adaptation: false,
            width: 64,
            epochs: 0,
            limit: None,
            train_limit: None,
            seed: 1,
            resume: false,
            test_at_end: false,
            output: &out,
        };
        let err = |req: &TrainRequest| train(req, &mut ()).unwrap_err().to_string();
        assert_eq!(err(&req), "--epochs must be at least 1");
        req.epochs = 1;
        req.scheme = Some("pe");
        let e = err(&req);
        assert!(
            e.starts_with("--scheme pe but no --key: the images is none"),
            "{e}"
        );
        req.scheme = None;
        req.augment = AugmentSide::After;
        req.shift = Some(0);
        req.hflip = Some(false);
        assert_eq!(
            err(&req),
            "--augment after with --shift 0 and no flip does nothing"
        );
        assert!(!out.exists(), "nothing written by a refused request");
    }

    #[test]
    fn options_override_the_model_defaults() {
        let mut o = HyperOptions {
            optimizer: None,
            lr: None,
            batch_size: None,
            warmup: None,
            weight_decay: None,
            momentum: 0.9,
            schedule: None,
            step_every: None,
            gamma: 0.1,
        };
        assert_eq!(
            Hyper::resolve("resnet18", 8, &o).unwrap(),
            Hyper::defaults("resnet18")
        );
        // Another optimiser without --lr takes that optimiser's usual rate.
        o.optimizer = Some(OptimizerKind::Sgd);
        let h = Hyper::resolve("tenseal-cnn", 8, &o).unwrap();
        assert_eq!((h.optimizer, h.lr), (OptimizerKind::Sgd, 0.01));
        o.schedule = Some(ScheduleKind::Step);
        let h = Hyper::resolve("tenseal-cnn", 8, &o).unwrap();
        assert_eq!(
            h.schedule,
            Schedule::Step {
                every: 4,
                gamma: 0.1
            }
        );
        o.schedule = None;
        o.step_every = Some(2);
        let e = Hyper::resolve("tenseal-cnn", 8, &o).unwrap_err();
        assert_eq!(e.to_string(), "--step-every needs --schedule step");
        o.step_every = None;
        o.warmup = Some(-1.0);
        assert!(Hyper::resolve("tenseal-cnn", 8, &o).is_err());
    }

    #[test]
    fn seed_streams_differ_by_tag_and_epoch() {
        assert_ne!(mix(1, 1, 0), mix(1, 2, 0));
        assert_ne!(mix(1, 1, 0), mix(1, 1, 1));
        assert_eq!(mix(7, 1, 3), mix(7, 1, 3));
    }
}
