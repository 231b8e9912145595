//! Command-line definitions (clap derive). Validation into typed configurations happens in the
//! `cmd` modules, before any work starts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pixveil_ml::engine::BackendKind;

/// Help heading of the options that apply to every command.
const GLOBAL: &str = "Global options";

/// pixveil: classify images the classifier never sees in the clear.
///
/// Exit status: 0 success; 1 failure (one line `error: ...` on stderr); 2 bad usage.
#[derive(Debug, Parser)]
#[command(name = "pixveil", version, about, long_about = None)]
pub struct Cli {
    /// Worker threads for batch work (default: all cores).
    #[arg(long, global = true, value_name = "N", help_heading = GLOBAL)]
    pub threads: Option<usize>,
    /// No progress bars.
    #[arg(long, short, global = true, help_heading = GLOBAL)]
    pub quiet: bool,
    /// Training engine of `train`, `eval`, `predict`, `experiments`, `demo` and `bench train`
    /// (also an option of each of them, where it takes precedence): the built-in Rust engine
    /// (default), or LibTorch (`tch`; only in builds with `--features pixveil-nn/tch`).
    #[arg(long, value_enum, value_name = "ENGINE", help_heading = GLOBAL)]
    pub backend: Option<BackendKind>,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The training engine: the command's `--backend`, else the one before the command, else
    /// the Rust engine.
    pub fn backend(&self) -> BackendKind {
        let own = match &self.command {
            Command::Train(a) => a.backend.backend,
            Command::Eval(a) => a.backend.backend,
            Command::Predict(a) => a.backend.backend,
            Command::Experiments(a) => a.backend.backend,
            Command::Demo(a) => a.backend.backend,
            Command::Bench(a) => a.backend.backend,
            _ => None,
        };
        own.or(self.backend).unwrap_or(BackendKind::Rust)
    }
}

/// `--backend`: the training engine, an option of the commands that train or evaluate a model
/// (flattened into their arguments).
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct BackendArgs {
    /// Training engine: the built-in Rust engine (default), or LibTorch (`tch`; only in builds
    /// with `--features pixveil-nn/tch`).
    #[arg(long, value_enum, value_name = "ENGINE")]
    pub backend: Option<BackendKind>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a key file for a scheme and an image shape.
    Keygen(KeygenArgs),
    /// Convert a key file written before settings were authenticated (issue 15): same secret,
    /// same derivation (what it encrypted still decrypts), settings now bound to the secret.
    Rekey(RekeyArgs),
    /// Encrypt a dataset file, an image or a folder of images.
    Encrypt(CryptArgs),
    /// Decrypt what `encrypt` wrote.
    Decrypt(CryptArgs),
    /// Describe a key, manifest or data file (never prints secrets).
    Info(InfoArgs),
    /// Security metrics of a key on images, or every scheme × mode with attacks (`--all`).
    Analyze(crate::cmd::analyze::AnalyzeArgs),
    /// Run a known-plaintext, chosen-plaintext or ciphertext-only attack.
    Attack(crate::cmd::attack::AttackArgs),
    /// Measure throughput.
    Bench(BenchArgs),
    /// Run every scheme on the built-in sample: round trip, PNG grid, summary table, and a short
    /// train-and-evaluate.
    Demo(DemoArgs),
    /// Train a classifier on plain or encrypted images.
    Train(crate::cmd::train::TrainArgs),
    /// Evaluate a trained model on a dataset's test images.
    Eval(crate::cmd::eval::EvalArgs),
    /// Classify images with a trained model.
    Predict(crate::cmd::predict::PredictArgs),
    /// Train and evaluate over a grid of datasets, schemes, key modes, augmentation sides and
    /// models (or a preset); write markdown, CSV, JSON and a bar chart.
    Experiments(crate::cmd::experiments::ExperimentsArgs),
    /// Write a tenseal-cnn or he-cnn checkpoint with seeded random weights.
    ExportModel(crate::cmd::he::ExportModelArgs),
    /// Classify a test set under CKKS (client encrypts, evaluator computes on ciphertexts,
    /// client decrypts): accuracy, agreement, precision, latency, bytes.
    HeEval(crate::cmd::he::HeEvalArgs),
    /// Serve encrypted inference over HTTP: the server holds the model and clients' public
    /// keys, never a secret key.
    Serve(crate::cmd::service::ServeArgs),
    /// The client of `serve`: make keys, classify images (every key stays here).
    #[command(subcommand)]
    Client(crate::cmd::service::ClientCommand),
}

/// Key modes on the command line.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ModeArg {
    /// One key for every image (papers A and B).
    Fixed,
    /// A key per image, from the master key and a stored nonce.
    PerImage,
}

/// `pixveil keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Scheme: pe, pe-np, logistic, grey, le, etc.
    #[arg(long)]
    pub scheme: String,
    /// Image shape HxWxC, e.g. 28x28x1 (MNIST) or 32x32x3 (CIFAR-10).
    #[arg(long)]
    pub shape: String,
    /// Key mode.
    #[arg(long, value_enum, default_value_t = ModeArg::Fixed)]
    pub mode: ModeArg,
    /// Block size in pixels for block schemes (le, etc).
    #[arg(long, value_name = "PIXELS")]
    pub block: Option<u32>,
    /// Derive the secret from the passphrase in this file (Argon2id) instead of storing it.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Overwrite an existing key file.
    #[arg(long)]
    pub force: bool,
    /// Output key file.
    #[arg(short, long, value_name = "KEY")]
    pub output: PathBuf,
}

/// `pixveil rekey`.
#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// The old key file (without a settings MAC). Check its settings first with `pixveil info`:
    /// they are taken as they are.
    pub key: PathBuf,
    /// The key's passphrase.
    #[command(flatten)]
    pub passphrase: crate::cli::PassphraseArgs,
    /// Overwrite an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Output key file.
    #[arg(short, long, value_name = "KEY")]
    pub output: PathBuf,
}

/// `pixveil encrypt` / `pixveil decrypt`.
#[derive(Debug, Args)]
pub struct CryptArgs {
    /// Key file.
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// The key's passphrase.
    #[command(flatten)]
    pub passphrase: crate::cli::PassphraseArgs,
    /// Input: IDX images or CIFAR-10 batch (raw or .gz), an image file, or a folder of images.
    pub input: PathBuf,
    /// Output, written in the input's format (images as PNG).
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: PathBuf,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `--passphrase-file`: the one way every command that loads a key file takes its passphrase
/// (flattened into each command's arguments).
#[derive(Debug, Clone, Default, Args)]
pub struct PassphraseArgs {
    /// Passphrase file, for passphrase-protected keys (made with `keygen --passphrase-file`).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

impl PassphraseArgs {
    /// The passphrase file, if given.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.passphrase_file.as_deref()
    }
}

/// `pixveil info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A key file, a manifest (`*.pxv`) or a data file / folder.
    pub path: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `pixveil bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    pub what: BenchWhat,
    /// Print one JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Small sizes and one repetition (smoke test; numbers are not meaningful).
    #[arg(long)]
    pub quick: bool,
    /// `bench train`: folder holding MNIST and CIFAR-10 (default: the built-in samples,
    /// repeated).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `bench train`: mini-batch size.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub batch_size: usize,
    /// `bench train`: images per timed pass for every model (default: each model's own,
    /// a pass of a few seconds; fewer with --quick). `bench encrypt`: images of 32x32x3 per
    /// batch (default 2000, 6.144 MB; every row's batch holds as many bytes).
    #[arg(long, value_name = "N")]
    pub images: Option<usize>,
    /// `bench train` and `bench encrypt`: timed passes or samples (the median is reported;
    /// default 3 for train, 5 for encrypt, 1 with --quick).
    #[arg(long, value_name = "N")]
    pub reps: Option<usize>,
    /// `bench train`: the models to run, comma-separated (default: all of tenseal-cnn,
    /// small-cnn, resnet18-w8, resnet18-w64, resnet18-w8-adapt — paper A's model, ResNet-18
    /// width 8 behind the adaptation network).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub models: Option<Vec<String>>,
    /// `bench train`: also print where the time goes, per layer kind and pass (Rust engine).
    #[arg(long)]
    pub profile: bool,
    /// `bench train`: the training engine.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Benchmarks.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum BenchWhat {
    /// Perceptual encryption throughput vs memcpy.
    Encrypt,
    /// CKKS operation timings at N = 8192 (TenSEAL chain and a precise chain).
    Ckks,
    /// Training and inference images/s of the TenSEAL CNN and the small CNN on MNIST and
    /// ResNet-18 (widths 8 and 64) on CIFAR-10.
    Train,
}

/// `pixveil demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the PNG grids.
    #[arg(long, default_value = "pixveil-demo", value_name = "DIR")]
    pub out: PathBuf,
    /// The training engine of the train-and-evaluate step.
    #[command(flatten)]
    pub backend: BackendArgs,
}
