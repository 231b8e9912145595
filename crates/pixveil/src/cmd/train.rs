//! `pixveil train`: the arguments of a training job ([`pixveil_ml::train`]), its run with
//! progress on stderr, and its report on stdout.

use std::path::PathBuf;

use anyhow::Result;
use pixveil_ml::data::DataSpec;
use pixveil_ml::engine::OptimizerKind;
use pixveil_ml::train::{train, AugmentSide, Hyper, HyperOptions, ScheduleKind, TrainRequest};

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
    /// The key's passphrase.
    #[command(flatten)]
    pub passphrase: crate::cli::PassphraseArgs,
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
    pub schedule: Option<ScheduleKind>,
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
    /// Evaluate the test set after the last epoch only (the report's other epochs have null
    /// test figures). An evaluation of CIFAR-10's 10 000 test images costs about a quarter
    /// of an epoch of 10 000 training images on ResNet-18 width 8.
    #[arg(long)]
    pub test_at_end: bool,
    /// Output model (safetensors); MODEL.metrics.json and MODEL.state are written beside it.
    #[arg(short, long, value_name = "MODEL")]
    pub output: PathBuf,
    /// Print one JSON object on stdout when done.
    #[arg(long)]
    pub json: bool,
    /// The training engine.
    #[command(flatten)]
    pub backend: crate::cli::BackendArgs,
}

pub fn run(a: &TrainArgs, quiet: bool) -> Result<()> {
    let spec = DataSpec::parse(&a.dataset, a.data_dir.as_deref())?;
    let hyper = Hyper::resolve(
        &a.model,
        a.epochs,
        &HyperOptions {
            optimizer: a.optimizer,
            lr: a.lr,
            batch_size: a.batch_size,
            warmup: a.warmup,
            weight_decay: a.weight_decay,
            momentum: a.momentum,
            schedule: a.schedule,
            step_every: a.step_every,
            gamma: a.gamma,
        },
    )?;
    let req = TrainRequest {
        spec: &spec,
        hyper,
        key: a.key.as_deref(),
        passphrase_file: a.passphrase.path(),
        scheme: a.scheme.as_deref(),
        augment: a.augment,
        shift: a.shift,
        hflip: if a.hflip {
            Some(true)
        } else if a.no_hflip {
            Some(false)
        } else {
            None
        },
        model: &a.model,
        adaptation: a.adaptation,
        width: a.width,
        epochs: a.epochs,
        limit: a.limit,
        train_limit: a.train_limit,
        seed: a.seed,
        resume: a.resume,
        test_at_end: a.test_at_end,
        output: &a.output,
    };
    let report = train(&req, &mut progress::TrainProgress::new(quiet, true))?;
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
