//! `pixveil train`: train a classifier on plain or encrypted images, with augmentation before
//! encryption (client side), after it (server side, on ciphertexts) or none.
//!
//! Encryption happens here, on `u8` batches, before anything reaches the engine: the training
//! code never sees a key. Per-image keys get fresh random nonces (re-drawn every epoch with
//! augmentation before encryption, once otherwise).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use pixveil_image::Shape;
use pixveil_nn::augment::{augment_batch, Augmentation};
use pixveil_nn::StepSchedule;
use serde::{Deserialize, Serialize};

use super::data::{self, DataSpec, Encryption, Splits};
use super::engine::{self, BatchProgress, ModelSpec, OptimizerKind, Schedule};
use crate::progress;

/// `pixveil train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Dataset: mnist, fashion-mnist, kmnist, cifar10 (from --data-dir), or sample-mnist,
    /// sample-fashion-mnist, sample-kmnist, sample-cifar10 (the built-in 256-image sample,
    /// split 204 train / 52 test).
    #[arg(long, value_name = "NAME")]
    pub dataset: String,
    /// Folder holding the dataset files.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Key file: train and test images are encrypted with it. Without a key: plain images.
    #[arg(long, value_name = "KEY")]
    pub key: Option<PathBuf>,
    /// Passphrase file, for passphrase-protected keys.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Expected scheme of the key (pe, pe-np, logistic, grey, le, etc; `none` without key):
    /// a check, the key decides.
    #[arg(long, value_name = "SCHEME")]
    pub scheme: Option<String>,
    /// Data augmentation: none, before encryption (client side, every epoch) or after it
    /// (server side, on the ciphertexts).
    #[arg(long, value_enum, default_value_t = AugmentSide::None)]
    pub augment: AugmentSide,
    /// Largest random shift in pixels (zero fill). Default: 4 for 32×32 images, 2 for 28×28.
    #[arg(long, value_name = "PIXELS")]
    pub shift: Option<usize>,
    /// Random horizontal flip (default: on for CIFAR-10, off for digits and characters).
    #[arg(long, conflicts_with = "no_hflip")]
    pub hflip: bool,
    /// No horizontal flip.
    #[arg(long)]
    pub no_hflip: bool,
    /// Model: tenseal-cnn, he-cnn, small-cnn, resnet18.
    #[arg(long, value_name = "NAME")]
    pub model: String,
    /// Paper A's adaptation network (1×1 convolutions 3→8→32) in front of the model.
    #[arg(long)]
    pub adaptation: bool,
    /// ResNet base width (64 = standard ResNet-18).
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub width: usize,
    /// Epochs (with --resume: the total, including those already done).
    #[arg(long, value_name = "N")]
    pub epochs: usize,
    /// Evaluate on the first N test images only.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Train on the first N training images only.
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,
    /// Mini-batch size (default: 64; 128 for resnet18).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Optimiser (default: adam; adamw for he-cnn; sgd for resnet18).
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Base learning rate (default: adam 0.001; sgd 0.1 for resnet18, 0.01 otherwise).
    #[arg(long, value_name = "RATE")]
    pub lr: Option<f32>,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9, value_name = "MU")]
    pub momentum: f32,
    /// Weight decay (default: 5e-4 for resnet18, 0 otherwise).
    #[arg(long, value_name = "LAMBDA")]
    pub weight_decay: Option<f32>,
    /// Learning-rate schedule (default: cosine for resnet18, constant otherwise).
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleArg>,
    /// Step schedule: epochs between decays (default: half the epochs).
    #[arg(long, value_name = "N")]
    pub step_every: Option<usize>,
    /// Step schedule: decay factor.
    #[arg(long, default_value_t = 0.1, value_name = "FACTOR")]
    pub gamma: f32,
    /// Linear learning-rate warm-up over this many (fractional) epochs (default: 0.5 for
    /// he-cnn, 0 otherwise). The rate is updated before every mini-batch.
    #[arg(long, value_name = "EPOCHS")]
    pub warmup: Option<f64>,
    /// Seed of initialisation, shuffling and augmentation.
    #[arg(long, default_value_t = 73)]
    pub seed: u64,
    /// Continue from MODEL and MODEL.state (written after every epoch) up to --epochs.
    #[arg(long)]
    pub resume: bool,
    /// Output model (safetensors); MODEL.metrics.json and MODEL.state are written beside it.
    #[arg(short, long, value_name = "MODEL")]
    pub output: PathBuf,
    /// Print one JSON object on stdout when done.
    #[arg(long)]
    pub json: bool,
}

/// Where augmentation happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
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

/// Learning-rate schedules on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    /// Constant rate.
    Constant,
    /// Decay by --gamma every --step-every epochs.
    Step,
    /// Cosine annealing to 0.
    Cosine,
    /// Decay by --gamma at 50 % and 75 % of the epochs (paper A: 150 and 225 of 300).
    Multistep,
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

    fn from_args(a: &TrainArgs) -> Result<Self> {
        let mut h = Self::defaults(&a.model);
        if let Some(o) = a.optimizer {
            if o != h.optimizer && a.lr.is_none() {
                h.lr = match o {
                    OptimizerKind::Adam | OptimizerKind::Adamw => 1e-3,
                    OptimizerKind::Sgd => 0.01,
                };
            }
            h.optimizer = o;
        }
        if let Some(lr) = a.lr {
            h.lr = lr;
        }
        if let Some(b) = a.batch_size {
            h.batch_size = b;
        }
        if let Some(w) = a.warmup {
            if !(w.is_finite() && w >= 0.0) {
                bail!("--warmup must be a non-negative number of epochs, got {w}");
            }
            h.warmup = w;
        }
        if let Some(wd) = a.weight_decay {
            h.weight_decay = wd;
        }
        h.momentum = a.momentum;
        if let Some(s) = a.schedule {
            h.schedule = match s {
                ScheduleArg::Constant => Schedule::Constant,
                ScheduleArg::Cosine => Schedule::Cosine,
                ScheduleArg::Multistep => Schedule::MultiStep {
                    milestones: [a.epochs / 2, a.epochs * 3 / 4],
                    gamma: a.gamma,
                },
                ScheduleArg::Step => Schedule::Step {
                    every: a.step_every.unwrap_or((a.epochs / 2).max(1)),
                    gamma: a.gamma,
                },
            };
        } else if a.step_every.is_some() {
            bail!("--step-every needs --schedule step");
        }
        h.validate()?;
        Ok(h)
    }

    /// Checks ranges.
    ///
    /// # Errors
    /// Zero batch size, non-positive or non-finite rates, negative decay.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("--lr must be a positive number, got {}", self.lr);
        }
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            bail!("--momentum must be in [0, 1), got {}", self.momentum);
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            bail!(
                "--weight-decay must be zero or positive, got {}",
                self.weight_decay
            );
        }
        match self.schedule {
            Schedule::Step { every, gamma }
                if every == 0 || !(gamma.is_finite() && gamma > 0.0) =>
            {
                bail!("--step-every must be at least 1 and --gamma positive")
            }
            Schedule::MultiStep { gamma, .. } if !(gamma.is_finite() && gamma > 0.0) => {
                bail!("--gamma must be positive")
            }
            _ => {}
        }
        Ok(())
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
    /// No progress bars.
    pub quiet: bool,
    /// One line per epoch on stderr.
    pub log_epochs: bool,
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
    /// Test loss after the epoch.
    pub test_loss: f64,
    /// Test accuracy after the epoch.
    pub test_accuracy: f64,
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
    /// Seconds of test evaluation (all epochs).
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
pub fn run_job(job: &TrainJob) -> Result<TrainReport> {
    if job.epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    if job.splits.train.len() == 0 || job.splits.test.len() == 0 {
        bail!("no training or no test images (check --train-limit and --limit)");
    }
    if job.resume && !engine::CAN_RESUME {
        bail!("--resume is not available: this build's engine does not save optimiser state");
    }
    let scheme = job
        .encryption
        .map_or_else(|| data::PLAIN_SCHEME.to_owned(), Encryption::scheme_id);
    let shape = job.splits.train.images.shape();
    let mut model = engine::build_model(&job.model, job.seed)
        .with_context(|| format!("model {} on {} images", job.model.architecture, shape))?;
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
            bail!("--resume needs an output model");
        };
        let state = state_path(out);
        if !state.is_file() {
            bail!("nothing to resume: {} does not exist", state.display());
        }
        let (m, spec, saved_scheme) = engine::load(out)?;
        if spec != job.model {
            bail!(
                "cannot resume: {} is a {} model for {} images, not {} for {}",
                out.display(),
                spec.architecture,
                spec.shape_text(),
                job.model.architecture,
                job.model.shape_text()
            );
        }
        if saved_scheme != scheme {
            bail!(
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
        if job.log_epochs {
            eprintln!(
                "resuming {} after epoch {done} of {}",
                out.display(),
                job.epochs
            );
        }
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
        let pb = progress::train_bar(images.len() as u64, job.quiet);
        let label = format!("epoch {}/{}", epoch + 1, job.epochs);
        pb.set_message(label.clone());
        let stats = engine::train_epoch(
            &mut model,
            opt.as_mut(),
            images,
            labels,
            job.hyper.batch_size,
            mix(job.seed, 2, epoch),
            Some(schedule),
            &mut |p: BatchProgress| {
                pb.set_position(p.done as u64);
                pb.set_message(format!(
                    "{label} loss {:.4} acc {:.2}%",
                    p.loss,
                    100.0 * p.accuracy
                ));
            },
        )?;
        pb.finish_and_clear();
        let seconds = start.elapsed().as_secs_f64();
        let eval_start = Instant::now();
        let t = engine::evaluate(&model, &test, &job.splits.test.labels)?;
        report.eval_seconds += eval_start.elapsed().as_secs_f64();
        if !(stats.loss.is_finite()) {
            bail!(
                "training diverged in epoch {} (loss {}); lower --lr",
                epoch + 1,
                stats.loss
            );
        }
        if job.log_epochs {
            eprintln!(
                "epoch {:>3}/{}  lr {:.2e}  loss {:.4}  train {:6.2}%  test {:6.2}%  {:.1} s",
                epoch + 1,
                job.epochs,
                lr,
                stats.loss,
                100.0 * stats.accuracy,
                100.0 * t.accuracy,
                seconds
            );
        }
        report.history.push(EpochRecord {
            epoch: epoch + 1,
            train_loss: stats.loss,
            train_accuracy: stats.accuracy,
            test_loss: t.loss,
            test_accuracy: t.accuracy,
            lr,
            seconds,
        });
        report.train_seconds += seconds;
        report.test_accuracy = t.accuracy;
        report.test_loss = t.loss;
        report.epochs = epoch + 1;
        if let Some(out) = job.output {
            engine::save(out, &model, &scheme)?;
            if engine::CAN_RESUME {
                let state = state_path(out);
                use pixveil_core::fsio::{Access, PendingFile};
                let cannot = || format!("cannot write {}", state.display());
                let tmp = PendingFile::beside(&state, Access::Ordinary).with_context(cannot)?;
                engine::save_state(tmp.path(), &model, opt.as_ref(), epoch + 1)?;
                tmp.commit().with_context(cannot)?;
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
    super::write_atomic(&metrics_path(model), &bytes)
}

pub fn run(a: &TrainArgs, quiet: bool) -> Result<()> {
    let spec = DataSpec::parse(&a.dataset, a.data_dir.as_deref())?;
    let hyper = Hyper::from_args(a)?;
    if a.epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    if a.limit == Some(0) || a.train_limit == Some(0) {
        bail!("--limit and --train-limit must be at least 1");
    }
    if a.width == 0 {
        bail!("--width must be at least 1");
    }
    let shape = spec.shape();
    let model = ModelSpec::new(&a.model, shape, a.adaptation, a.width);
    // Model/shape problems before any data is read.
    engine::build_model(&model, a.seed)
        .with_context(|| format!("model {} on {} ({} images)", a.model, spec.name(), shape))?;
    let encryption = a
        .key
        .as_deref()
        .map(|k| Encryption::load(k, a.passphrase_file.as_deref(), shape, &spec.name()))
        .transpose()?;
    if let Some(s) = &a.scheme {
        let actual = encryption
            .as_ref()
            .map_or_else(|| data::PLAIN_SCHEME.to_owned(), Encryption::scheme_id);
        let name = actual.split(':').next().unwrap_or_default();
        let want = if s == "none" {
            "none".to_owned()
        } else {
            pixveil_cipher::SchemeSpec::from_name(s, None)
                .map(|sp| data::scheme_id(&sp.name(), pixveil_cipher::KeyMode::Fixed))?
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        // Block schemes name their block size (le-4): compare the scheme family.
        if name != want && !name.starts_with(&format!("{want}-")) {
            bail!(
                "--scheme {s} but {} is {actual} (create a key with `pixveil keygen --scheme {s}`)",
                a.key.as_deref().map_or_else(
                    || "no --key: the images".to_owned(),
                    |k| format!("the key {}", k.display())
                )
            );
        }
    }
    super::check_writable(&a.output)?;
    if !a.resume && engine::CAN_RESUME {
        // A stale state file would make a later --resume continue the wrong run.
        let _ = std::fs::remove_file(state_path(&a.output));
    }

    let mut aug = default_augmentation(shape);
    if let Some(s) = a.shift {
        aug.shift = s;
    }
    if a.hflip {
        aug.hflip = true;
    }
    if a.no_hflip {
        aug.hflip = false;
    }
    if a.augment != AugmentSide::None && aug.is_identity() {
        bail!(
            "--augment {} with --shift 0 and no flip does nothing",
            a.augment.name()
        );
    }

    let mut splits = data::load_splits(&spec, true)?;
    splits.train = splits.train.limit(a.train_limit);
    splits.test = splits.test.limit(a.limit);
    let job = TrainJob {
        dataset: spec.name(),
        splits: &splits,
        encryption: encryption.as_ref(),
        augment: a.augment,
        aug,
        model,
        epochs: a.epochs,
        hyper,
        seed: a.seed,
        output: Some(&a.output),
        resume: a.resume,
        quiet,
        log_epochs: true,
    };
    let report = run_job(&job)?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} on {} ({}, augment {}): test accuracy {:.2}% on {} images after {} epochs, {:.1} s training; wrote {}",
            report.model,
            report.dataset,
            report.scheme,
            report.augment,
            100.0 * report.test_accuracy,
            report.test_images,
            report.epochs,
            report.train_seconds,
            a.output.display()
        );
    }
    Ok(())
}
