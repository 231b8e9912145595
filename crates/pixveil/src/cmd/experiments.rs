//! `pixveil experiments`: the arguments of an experiment grid ([`pixveil_ml::experiments`]),
//! its progress on stderr, and its results table (or `results.json`) on stdout.

use std::path::PathBuf;

use anyhow::Result;
use pixveil_ml::experiments::{
    self, ExperimentRow, ExperimentsObserver, ExperimentsRequest, Grid, Plan, Preset, RunStatus,
    Runs,
};
use pixveil_ml::train::AugmentSide;

use crate::progress::TrainProgress;

/// `pixveil experiments`.
#[derive(Debug, clap::Args)]
pub struct ExperimentsArgs {
    /// Folder holding the datasets.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Datasets, comma-separated (mnist, fashion-mnist, kmnist, cifar10, sample-<name>).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mnist",
        value_name = "LIST"
    )]
    pub datasets: Vec<String>,
    /// Schemes, comma-separated: none (plain images), pe, pe-np, logistic, grey, le, etc.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,pe,pe-np,logistic,grey,le,etc",
        value_name = "LIST"
    )]
    pub schemes: Vec<String>,
    /// Key modes, comma-separated: fixed, per-image.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "fixed",
        value_name = "LIST"
    )]
    pub modes: Vec<String>,
    /// Augmentation sides, comma-separated: none, before, after.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none",
        value_name = "LIST"
    )]
    pub augment: Vec<AugmentSide>,
    /// Models, comma-separated; `+adaptation` adds paper A's adaptation network
    /// (e.g. resnet18+adaptation).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "tenseal-cnn",
        value_name = "LIST"
    )]
    pub models: Vec<String>,
    /// A preset list of runs instead of the grid (datasets/schemes/modes/augment/models are
    /// then ignored).
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Epochs per run (default 2; 8 with --preset paper-a).
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Train on the first N training images (default: all; 10000 with --preset paper-a, i.e.
    /// CIFAR-10's data_batch_1).
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,
    /// Evaluate on the first N test images.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Mini-batch size (default: per model, as `train`).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Base learning rate (default: per model, as `train`).
    #[arg(long, value_name = "RATE")]
    pub lr: Option<f32>,
    /// ResNet base width (default 64 = standard ResNet-18; 8 with --preset paper-a, for a
    /// CPU).
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
    /// Seed of every run.
    #[arg(long, default_value_t = 73)]
    pub seed: u64,
    /// Also keep each run's model in OUT/models/.
    #[arg(long)]
    pub save_models: bool,
    /// Evaluate the test set after every epoch (a learning curve in the log and in kept
    /// models' metrics), not only after the last one; costs about a quarter of an epoch each.
    #[arg(long)]
    pub test_every_epoch: bool,
    /// Output folder.
    #[arg(long, default_value = "pixveil-experiments", value_name = "DIR")]
    pub out: PathBuf,
    /// Print results.json on stdout instead of the markdown table.
    #[arg(long)]
    pub json: bool,
    /// The training engine.
    #[command(flatten)]
    pub backend: crate::cli::BackendArgs,
}

impl ExperimentsArgs {
    /// The library's view of these arguments.
    fn request(&self) -> ExperimentsRequest {
        ExperimentsRequest {
            runs: match self.preset {
                Some(p) => Runs::Preset(p),
                None => Runs::Grid(Grid {
                    datasets: self.datasets.clone(),
                    schemes: self.schemes.clone(),
                    modes: self.modes.clone(),
                    augment: self.augment.clone(),
                    models: self.models.clone(),
                }),
            },
            data_dir: self.data_dir.clone(),
            epochs: self.epochs,
            train_limit: self.train_limit,
            limit: self.limit,
            batch_size: self.batch_size,
            lr: self.lr,
            width: self.width,
            seed: self.seed,
            save_models: self.save_models,
            test_every_epoch: self.test_every_epoch,
            out: self.out.clone(),
        }
    }
}

/// `[i/n] dataset model scheme mode augment side`.
fn label(index: usize, total: usize, plan: &Plan) -> String {
    format!("[{}/{}] {}", index + 1, total, plan.describe())
}

/// Progress on stderr: a line when a run starts and when it ends, besides each run's training
/// progress.
impl ExperimentsObserver for TrainProgress {
    fn run_started(&mut self, index: usize, total: usize, plan: &Plan) {
        eprintln!("{} ...", label(index, total, plan));
    }
    fn run_finished(&mut self, index: usize, total: usize, plan: &Plan, row: &ExperimentRow) {
        let label = label(index, total, plan);
        match row.status {
            RunStatus::Ok => eprintln!(
                "{label}: test accuracy {:.2}% ({:.1} s)",
                100.0
                    * row
                        .test_accuracy
                        .expect("a finished run has a test accuracy"),
                row.train_seconds
                    .expect("a finished run has its training time")
            ),
            RunStatus::Skipped => eprintln!("{label}: skipped: {}", row.note),
            RunStatus::Failed => eprintln!("{label}: failed: {}", row.note),
        }
    }
}

pub fn run(a: &ExperimentsArgs, quiet: bool) -> Result<()> {
    let report = experiments::run(&a.request(), &mut TrainProgress::new(quiet, !quiet))?;
    if !a.json {
        print!("{}", report.table());
    }
    eprintln!(
        "wrote results.md, results.csv, results.json and accuracy.png to {} ({:.0} s)",
        a.out.display(),
        report.seconds
    );
    if a.json {
        print!("{}", String::from_utf8(report.to_json()?)?);
    }
    Ok(())
}
