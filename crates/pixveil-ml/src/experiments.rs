//! The experiment grid: train and evaluate over dataset × scheme × key mode × augmentation
//! side × model (or a preset list of runs), and write `results.md`, `results.csv`,
//! `results.json` and `accuracy.png` (a grouped bar chart of test accuracy per scheme) into an
//! output folder.
//!
//! Keys are generated from the OS CSPRNG into `OUT/keys/` (one per dataset shape × scheme ×
//! mode, shared by the runs that use it). Invalid combinations (a model that does not take the
//! dataset's images, a scheme that does not fit the shape, augmentation after encryption of
//! plain images) are skipped with a reason; a run that fails is recorded and the grid goes on.
//! The result files are rewritten after every run, so an interrupted grid keeps its rows.
//! Every run is a [`TrainJob`] of [`train::run_job`], the one training loop.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::chart::{save_bar_chart, BarChart, Series};
use pixveil_cipher::{KeyFile, KeyMode, SchemeSpec};
use pixveil_core::fsio;
use pixveil_image::Shape;
use serde::Serialize;

use crate::data::{self, DataSpec, Encryption, Splits};
use crate::engine::{self, ModelSpec};
use crate::error::{full_message, invalid, Context, IoContext, Result};
use crate::train::{self, AugmentSide, Hyper, TrainJob, TrainObserver, TrainReport};

/// Preset run lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Preset {
    /// Paper A's CIFAR-10 comparison (Tables 2 and 3) on ResNet-18: plain; NP-only with
    /// augmentation before / after encryption, with and without the adaptation network; NP +
    /// colour shuffle after, with and without adaptation; LE before / after; EtC and logistic
    /// after. Fixed keys.
    PaperA,
}

impl Preset {
    /// Name on the command line and in `results.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::PaperA => "paper-a",
        }
    }

    /// Default epochs per run.
    fn epochs(self) -> usize {
        match self {
            Self::PaperA => 8,
        }
    }

    /// Default number of training images (CIFAR-10's `data_batch_1`).
    fn train_limit(self) -> usize {
        match self {
            Self::PaperA => 10_000,
        }
    }

    /// Default ResNet base width (small enough for a CPU).
    fn width(self) -> usize {
        match self {
            Self::PaperA => 8,
        }
    }

    /// The runs, with the paper's accuracy (%) for each.
    fn plans(self) -> Vec<Plan> {
        match self {
            Self::PaperA => paper_a(),
        }
    }
}

/// The settings a grid crosses: every dataset × model × scheme × augmentation side × key mode
/// (plain images, scheme `none`, run once with the first mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grid {
    /// Dataset names, as [`DataSpec::parse`] takes them.
    pub datasets: Vec<String>,
    /// Scheme names ([`SchemeSpec::from_name`]), or `none` for plain images.
    pub schemes: Vec<String>,
    /// Key modes: `fixed`, `per-image` (duplicates are ignored).
    pub modes: Vec<String>,
    /// Augmentation sides.
    pub augment: Vec<AugmentSide>,
    /// Architecture names; a `+adaptation` suffix adds paper A's adaptation network.
    pub models: Vec<String>,
}

/// The runs of an experiment: a grid, or a preset list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Runs {
    /// Every combination of a grid.
    Grid(Grid),
    /// A preset list of runs.
    Preset(Preset),
}

/// An experiment as a user asks for it; [`run`] checks and carries it out.
#[derive(Clone, Debug)]
pub struct ExperimentsRequest {
    /// What to run.
    pub runs: Runs,
    /// Folder holding the datasets.
    pub data_dir: Option<PathBuf>,
    /// Epochs per run (at least 1; default 2, or the preset's).
    pub epochs: Option<usize>,
    /// Train on the first N training images (at least 1; default all, or the preset's).
    pub train_limit: Option<usize>,
    /// Evaluate on the first N test images (at least 1; default all).
    pub limit: Option<usize>,
    /// Mini-batch size (default: per model, [`Hyper::defaults`]).
    pub batch_size: Option<usize>,
    /// Base learning rate (default: per model, [`Hyper::defaults`]).
    pub lr: Option<f32>,
    /// ResNet base width (at least 1; default 64, or the preset's).
    pub width: Option<usize>,
    /// Seed of every run.
    pub seed: u64,
    /// Also keep each run's model as `OUT/models/<run id>.safetensors`.
    pub save_models: bool,
    /// Evaluate the test set after every epoch of a run (its learning curve, in the
    /// progress log and a kept model's metrics) instead of only after the last epoch.
    pub test_every_epoch: bool,
    /// Output folder (created if missing).
    pub out: PathBuf,
}

/// One planned run.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Dataset name.
    pub dataset: String,
    /// Architecture name.
    pub model: String,
    /// Paper A's adaptation network in front of the model.
    pub adaptation: bool,
    /// Scheme name; `None` for plain images.
    pub scheme: Option<String>,
    /// Key mode (meaningless for plain images).
    pub mode: KeyMode,
    /// Where augmentation happens.
    pub augment: AugmentSide,
    /// The paper's test accuracy (%) for this setting, if any.
    pub reference: Option<f64>,
}

impl Plan {
    /// The scheme, or `plain`.
    pub fn scheme_label(&self) -> String {
        self.scheme.clone().unwrap_or_else(|| "plain".into())
    }

    /// The key mode, or `-` for plain images.
    pub fn mode_label(&self) -> String {
        if self.scheme.is_some() {
            self.mode.to_string()
        } else {
            "-".into()
        }
    }

    /// The architecture, with `+adaptation` when the adaptation network is in front.
    pub fn model_label(&self) -> String {
        if self.adaptation {
            format!("{}+adaptation", self.model)
        } else {
            self.model.clone()
        }
    }

    /// The run's settings in words: `dataset model scheme mode augment side`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} {} {} augment {}",
            self.dataset,
            self.model_label(),
            self.scheme_label(),
            self.mode_label(),
            self.augment.name()
        )
    }

    /// A file-name-safe id of the run (the name of its saved model).
    pub fn id(&self) -> String {
        format!(
            "{}_{}_{}_{}_{}",
            self.dataset,
            self.model_label(),
            self.scheme_label(),
            self.mode_label().replace('-', ""),
            self.augment.name()
        )
        .replace('+', "-")
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Trained and evaluated.
    Ok,
    /// Not run: an invalid combination or missing data ([`ExperimentRow::note`] says why).
    Skipped,
    /// Started and failed ([`ExperimentRow::note`] holds the error).
    Failed,
}

impl RunStatus {
    /// `ok`, `skipped` or `failed`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

/// One row of the results (one run).
#[derive(Clone, Debug, Serialize)]
pub struct ExperimentRow {
    /// Dataset name.
    pub dataset: String,
    /// Architecture name.
    pub model: String,
    /// Adaptation network in front.
    pub adaptation: bool,
    /// Scheme, or `plain`.
    pub scheme: String,
    /// Key mode, or `-` for plain images.
    pub key_mode: String,
    /// `none`, `before` or `after`.
    pub augment: String,
    /// How the run ended.
    pub status: RunStatus,
    /// Why a run was skipped or failed; for a run trained on a split of the test set, that.
    pub note: String,
    /// Training images (runs that finished).
    pub train_images: Option<usize>,
    /// Test images (runs that finished).
    pub test_images: Option<usize>,
    /// `standard` or `test-split` ([`Splits::train_source`]).
    pub train_source: Option<String>,
    /// Epochs per run.
    pub epochs: usize,
    /// Final test accuracy, a fraction in [0, 1].
    pub test_accuracy: Option<f64>,
    /// Final test loss (mean cross-entropy).
    pub test_loss: Option<f64>,
    /// Seconds of training (not evaluation).
    pub train_seconds: Option<f64>,
    /// The paper's test accuracy in percent, for a preset.
    pub reference_accuracy: Option<f64>,
}

/// The results of an experiment: `results.json`.
#[derive(Clone, Debug, Serialize)]
pub struct ExperimentsReport {
    /// The preset's name, if one was run.
    pub preset: Option<&'static str>,
    /// Epochs per run.
    pub epochs: usize,
    /// Training images per run, if limited.
    pub train_limit: Option<usize>,
    /// Test images per run, if limited.
    pub limit: Option<usize>,
    /// ResNet base width.
    pub width: usize,
    /// Seed of every run.
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
    /// Seconds of the whole experiment so far.
    pub seconds: f64,
    /// One row per planned run, in plan order.
    pub rows: Vec<ExperimentRow>,
}

impl ExperimentsReport {
    /// `results.json`: pretty JSON and a newline.
    ///
    /// # Errors
    /// Serialisation errors (none for these types).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        Ok(json)
    }

    /// The results table in markdown (header, separator and one line per row); a preset's
    /// table has a column with the paper's figures.
    pub fn table(&self) -> String {
        markdown(&self.rows, self.preset.is_some())
    }

    /// `results.md`: a title, one line on the settings, and [`Self::table`].
    pub fn markdown_document(&self) -> String {
        let mut md = String::from("# pixveil experiments\n\n");
        let _ = writeln!(
            md,
            "Test accuracy after {} epochs{}; seed {}; {} threads; {:.0} s in all.\n",
            self.epochs,
            self.train_limit
                .map_or_else(String::new, |n| format!(", first {n} training images")),
            self.seed,
            self.threads,
            self.seconds
        );
        md.push_str(&self.table());
        md
    }

    /// `results.csv`: a header ([`CSV_HEADER`]) and one record per row (accuracies as
    /// fractions, the paper's figure too), RFC 4180 quoting (a field with a comma, quote or line
    /// break is quoted, quotes doubled) by the `csv` crate.
    ///
    /// # Errors
    /// [`Error::Csv`](crate::Error::Csv) if a record cannot be written (not expected: the
    /// records go to memory and all have the header's length).
    pub fn csv(&self) -> Result<String> {
        csv(&self.rows)
    }

    /// The bar chart of `accuracy.png`: groups are schemes (or, for a preset, runs); series
    /// are the other settings (or, for a preset, ours vs the paper's).
    pub fn chart(&self) -> BarChart {
        chart(&self.rows, self.preset.is_some())
    }
}

/// Progress of an experiment, for a user interface; training progress of each run goes to the
/// [`TrainObserver`] methods. Every method has an empty default.
pub trait ExperimentsObserver: TrainObserver {
    /// Run `index` (0-based) of `total` starts training.
    fn run_started(&mut self, _index: usize, _total: usize, _plan: &Plan) {}
    /// Run `index` (0-based) of `total` ended as `row` says (also for skipped runs, which
    /// never start).
    fn run_finished(&mut self, _index: usize, _total: usize, _plan: &Plan, _row: &ExperimentRow) {}
}

impl ExperimentsObserver for () {}

/// The settings every run shares, resolved from a request.
struct Settings {
    epochs: usize,
    train_limit: Option<usize>,
    width: usize,
}

/// Runs an experiment: checks the request, plans the runs, trains and evaluates each (skipping
/// invalid combinations, recording failures), rewrites the result files after every run, and
/// writes the chart at the end.
///
/// # Errors
/// An invalid request (bad scheme or key mode names, zero epochs, limits or width, an empty
/// grid), an output folder that cannot be created or written. Failures of single runs are
/// rows, not errors.
pub fn run<O: ExperimentsObserver>(
    req: &ExperimentsRequest,
    observer: &mut O,
) -> Result<ExperimentsReport> {
    let started = Instant::now();
    let (plans, settings) = match &req.runs {
        Runs::Preset(p) => (
            p.plans(),
            Settings {
                epochs: req.epochs.unwrap_or(p.epochs()),
                train_limit: req.train_limit.or(Some(p.train_limit())),
                width: req.width.unwrap_or(p.width()),
            },
        ),
        Runs::Grid(g) => (
            grid(g)?,
            Settings {
                epochs: req.epochs.unwrap_or(2),
                train_limit: req.train_limit,
                width: req.width.unwrap_or(64),
            },
        ),
    };
    if settings.width == 0 {
        invalid!("--width must be at least 1");
    }
    if settings.epochs == 0 {
        invalid!("--epochs must be at least 1");
    }
    if req.limit == Some(0) || settings.train_limit == Some(0) {
        invalid!("--limit and --train-limit must be at least 1");
    }
    if plans.is_empty() {
        invalid!("the grid is empty");
    }
    let keys_dir = req.out.join("keys");
    let models_dir = req.out.join("models");
    create_dir(&keys_dir)?;
    if req.save_models {
        create_dir(&models_dir)?;
    }
    // Fail before hours of training if the results cannot be written.
    let results_json = req.out.join("results.json");
    fsio::check_writable(&results_json).io_context("write", &results_json)?;

    let mut report = ExperimentsReport {
        preset: match req.runs {
            Runs::Preset(p) => Some(p.name()),
            Runs::Grid(_) => None,
        },
        epochs: settings.epochs,
        train_limit: settings.train_limit,
        limit: req.limit,
        width: settings.width,
        seed: req.seed,
        threads: rayon::current_num_threads(),
        seconds: 0.0,
        rows: Vec::with_capacity(plans.len()),
    };
    let mut runner = Runner {
        req,
        settings: &settings,
        keys_dir: &keys_dir,
        models_dir: &models_dir,
        datasets: BTreeMap::new(),
        keys: BTreeMap::new(),
        plain_augment_done: Vec::new(),
    };
    for (i, plan) in plans.iter().enumerate() {
        let mut row = ExperimentRow {
            dataset: plan.dataset.clone(),
            model: plan.model.clone(),
            adaptation: plan.adaptation,
            scheme: plan.scheme_label(),
            key_mode: plan.mode_label(),
            augment: plan.augment.name().to_owned(),
            status: RunStatus::Skipped,
            note: String::new(),
            train_images: None,
            test_images: None,
            train_source: None,
            epochs: settings.epochs,
            test_accuracy: None,
            test_loss: None,
            train_seconds: None,
            reference_accuracy: plan.reference,
        };
        match runner.run_plan(plan, i, plans.len(), observer) {
            Ok(Outcome::Done(r)) => {
                row.status = RunStatus::Ok;
                row.train_images = Some(r.train_images);
                row.test_images = Some(r.test_images);
                if r.train_source != data::STANDARD {
                    row.note = format!("trained on a {} of the test set", r.train_source);
                }
                row.train_source = Some(r.train_source);
                row.test_accuracy = Some(r.test_accuracy);
                row.test_loss = Some(r.test_loss);
                row.train_seconds = Some(r.train_seconds);
            }
            Ok(Outcome::Skipped(reason)) => row.note = reason,
            Err(e) => {
                row.status = RunStatus::Failed;
                row.note = full_message(&e);
            }
        }
        observer.run_finished(i, plans.len(), plan, &row);
        report.rows.push(row);
        // Partial results survive an interrupted grid.
        report.seconds = started.elapsed().as_secs_f64();
        write_results(&req.out, &report)?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    write_results(&req.out, &report)?;
    let png = req.out.join("accuracy.png");
    save_bar_chart(&report.chart(), &png)
        .context_with(|| format!("cannot write {}", png.display()))?;
    Ok(report)
}

/// Creates a folder and its parents.
fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).io_context("create", dir)
}

/// The runs of a grid, in order dataset, model, scheme, augmentation side, key mode.
fn grid(g: &Grid) -> Result<Vec<Plan>> {
    let mut modes = Vec::new();
    for m in &g.modes {
        let mode: KeyMode = m.parse()?;
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    for s in &g.schemes {
        if s != "none" {
            SchemeSpec::from_name(s, None)?;
        }
    }
    let mut plans = Vec::new();
    for dataset in &g.datasets {
        for model in &g.models {
            let (name, adaptation) = match model.strip_suffix("+adaptation") {
                Some(n) => (n, true),
                None => (model.as_str(), false),
            };
            for scheme in &g.schemes {
                for &augment in &g.augment {
                    let plain = scheme == "none";
                    // Plain images have no key mode: one run, with the first mode.
                    // No modes: no plain run either (an all-empty grid is then refused
                    // by `run` as "the grid is empty").
                    let run_modes = if plain {
                        modes.get(..1).unwrap_or_default()
                    } else {
                        &modes[..]
                    };
                    for &mode in run_modes {
                        plans.push(Plan {
                            dataset: dataset.clone(),
                            model: name.to_owned(),
                            adaptation,
                            scheme: (!plain).then(|| scheme.clone()),
                            mode,
                            augment,
                            reference: None,
                        });
                    }
                }
            }
        }
    }
    Ok(plans)
}

/// Paper A's settings, with its accuracies (%).
fn paper_a() -> Vec<Plan> {
    let p = |scheme: Option<&str>, augment, adaptation, reference| Plan {
        dataset: "cifar10".into(),
        model: "resnet18".into(),
        adaptation,
        scheme: scheme.map(str::to_owned),
        mode: KeyMode::Fixed,
        augment,
        reference: Some(reference),
    };
    use AugmentSide::{After, Before};
    vec![
        p(None, Before, false, 92.98),
        p(Some("pe-np"), Before, false, 92.94),
        p(Some("pe-np"), Before, true, 90.65),
        p(Some("pe-np"), After, false, 85.15),
        p(Some("pe-np"), After, true, 86.99),
        p(Some("pe"), After, false, 82.51),
        p(Some("pe"), After, true, 86.16),
        p(Some("le"), Before, false, 85.84),
        p(Some("le"), After, false, 56.41),
        p(Some("etc"), After, false, 69.03),
        // A's "pixel-based" baseline (logistic map + RC4), the closest scheme we have.
        p(Some("logistic"), After, false, 58.59),
    ]
}

/// How a run that did not fail ended.
enum Outcome {
    Done(Box<TrainReport>),
    Skipped(String),
}

/// A dataset loaded once for every run that uses it, or why it is not available.
type CachedData = std::result::Result<(DataSpec, Splits), String>;
/// A key generated once for every run that uses it, or why it cannot be.
type CachedKey = std::result::Result<Encryption, String>;

/// The state shared by the runs of one experiment.
struct Runner<'a> {
    req: &'a ExperimentsRequest,
    settings: &'a Settings,
    keys_dir: &'a Path,
    models_dir: &'a Path,
    /// By dataset name.
    datasets: BTreeMap<String, CachedData>,
    /// By `shape-scheme-mode`, the key file's name.
    keys: BTreeMap<String, CachedKey>,
    /// (dataset, model label) pairs whose plain run with augmentation is done.
    plain_augment_done: Vec<(String, String)>,
}

impl Runner<'_> {
    fn run_plan<O: ExperimentsObserver>(
        &mut self,
        plan: &Plan,
        index: usize,
        total: usize,
        observer: &mut O,
    ) -> Result<Outcome> {
        let req = self.req;
        // Augmentation after "encryption" of plain images is augmentation before it.
        if plan.scheme.is_none() && plan.augment != AugmentSide::None {
            let key = (plan.dataset.clone(), plan.model_label());
            if self.plain_augment_done.contains(&key) {
                return Ok(Outcome::Skipped(
                    "plain images: augmentation after encryption is the same as before".into(),
                ));
            }
            self.plain_augment_done.push(key);
        }
        let entry = self
            .datasets
            .entry(plan.dataset.clone())
            .or_insert_with(|| {
                DataSpec::parse(&plan.dataset, req.data_dir.as_deref())
                    .and_then(|spec| {
                        let s = data::load_splits(&spec)?;
                        if let Some(note) = data::split_note(&spec, &s) {
                            observer.note(&note);
                        }
                        Ok((spec, s))
                    })
                    .map_err(|e| full_message(&e))
            });
        let (spec, full) = match entry {
            Ok(v) => v,
            Err(e) => return Ok(Outcome::Skipped(format!("dataset not available: {e}"))),
        };
        let shape = spec.shape();
        let model = ModelSpec::new(&plan.model, shape, plan.adaptation, self.settings.width);
        if let Err(e) = engine::build_model(&model, req.seed) {
            return Ok(Outcome::Skipped(full_message(&e)));
        }
        let encryption = match &plan.scheme {
            None => None,
            Some(s) => {
                let name = format!("{}-{}-{}", shape, s, plan.mode);
                let path = self.keys_dir.join(format!("{name}.key"));
                let entry = self.keys.entry(name).or_insert_with(|| {
                    make_key(s, shape, plan.mode, &path).map_err(|e| full_message(&e))
                });
                match entry {
                    Ok(e) => Some(&*e),
                    Err(e) => return Ok(Outcome::Skipped(e.clone())),
                }
            }
        };
        let mut hyper = Hyper::defaults(&plan.model);
        if let Some(b) = req.batch_size {
            hyper.batch_size = b;
        }
        if let Some(lr) = req.lr {
            hyper.lr = lr;
        }
        hyper.validate()?;
        let splits = Splits {
            train: full.train.clone().limit(self.settings.train_limit),
            test: full.test.clone().limit(req.limit),
            train_source: full.train_source,
        };
        let output = req
            .save_models
            .then(|| self.models_dir.join(format!("{}.safetensors", plan.id())));
        observer.run_started(index, total, plan);
        let job = TrainJob {
            dataset: spec.name(),
            splits: &splits,
            encryption,
            augment: plan.augment,
            aug: train::default_augmentation(shape),
            model,
            epochs: self.settings.epochs,
            hyper,
            seed: req.seed,
            output: output.as_deref(),
            resume: false,
            test_every_epoch: req.test_every_epoch,
        };
        Ok(Outcome::Done(Box::new(train::run_job(&job, observer)?)))
    }
}

/// A fresh key of `scheme` for `shape` images, written (owner-only) to `path`.
fn make_key(scheme: &str, shape: Shape, mode: KeyMode, path: &Path) -> Result<Encryption> {
    let key = KeyFile::generate(SchemeSpec::from_name(scheme, None)?, shape, mode)?;
    fsio::write_atomic(path, &key.to_bytes()?, fsio::Access::OwnerOnly)
        .io_context("write", path)?;
    Encryption::new(key)
}

/// Writes `results.json`, `results.csv` and `results.md` of `report` into `out`, atomically.
fn write_results(out: &Path, report: &ExperimentsReport) -> Result<()> {
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        fsio::write_atomic(&path, bytes, fsio::Access::Ordinary).io_context("write", &path)
    };
    write("results.json", &report.to_json()?)?;
    write("results.csv", report.csv()?.as_bytes())?;
    write("results.md", report.markdown_document().as_bytes())
}

/// An accuracy fraction as a percentage with 2 decimals; empty for none.
fn pct(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{:.2}", 100.0 * v))
}

fn markdown(rows: &[ExperimentRow], with_reference: bool) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "| dataset | model | scheme | key mode | augment | train images | test images | epochs | test accuracy % |{} train s | note |\n|---|---|---|---|---|---:|---:|---:|---:|{}---:|---|\n",
        if with_reference { " paper A % |" } else { "" },
        if with_reference { "---:|" } else { "" }
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {}{} | {} | {} | {} | {} | {} | {} | {} |{} {} | {} |",
            r.dataset,
            r.model,
            if r.adaptation { " + adaptation" } else { "" },
            r.scheme,
            r.key_mode,
            r.augment,
            r.train_images.map_or_else(String::new, |n| n.to_string()),
            r.test_images.map_or_else(String::new, |n| n.to_string()),
            r.epochs,
            pct(r.test_accuracy),
            if with_reference {
                format!(
                    " {} |",
                    r.reference_accuracy
                        .map_or_else(String::new, |v| format!("{v:.2}"))
                )
            } else {
                String::new()
            },
            r.train_seconds
                .map_or_else(String::new, |v| format!("{v:.1}")),
            if r.status == RunStatus::Ok {
                r.note.clone()
            } else {
                format!("{}: {}", r.status.name(), r.note.replace('|', "/"))
            }
        );
    }
    s
}

/// The columns of `results.csv`, in order.
pub const CSV_HEADER: [&str; 16] = [
    "dataset",
    "model",
    "adaptation",
    "scheme",
    "key_mode",
    "augment",
    "status",
    "train_images",
    "test_images",
    "train_source",
    "epochs",
    "test_accuracy",
    "test_loss",
    "train_seconds",
    "reference_accuracy",
    "note",
];

fn csv(rows: &[ExperimentRow]) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    for r in rows {
        w.write_record([
            r.dataset.clone(),
            r.model.clone(),
            r.adaptation.to_string(),
            r.scheme.clone(),
            r.key_mode.clone(),
            r.augment.clone(),
            r.status.name().to_owned(),
            r.train_images.map_or_else(String::new, |n| n.to_string()),
            r.test_images.map_or_else(String::new, |n| n.to_string()),
            r.train_source.clone().unwrap_or_default(),
            r.epochs.to_string(),
            r.test_accuracy
                .map_or_else(String::new, |v| format!("{v:.6}")),
            r.test_loss.map_or_else(String::new, |v| format!("{v:.6}")),
            r.train_seconds
                .map_or_else(String::new, |v| format!("{v:.3}")),
            r.reference_accuracy
                .map_or_else(String::new, |v| format!("{:.4}", v / 100.0)),
            r.note.clone(),
        ])?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    // Every field above is a Rust `String`: the bytes are UTF-8.
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8"))
}

fn chart(rows: &[ExperimentRow], preset: bool) -> BarChart {
    let ok: Vec<&ExperimentRow> = rows.iter().filter(|r| r.status == RunStatus::Ok).collect();
    if preset {
        let groups: Vec<String> = ok
            .iter()
            .map(|r| {
                format!(
                    "{}{} {}",
                    r.scheme,
                    if r.adaptation { "+ad" } else { "" },
                    r.augment
                )
            })
            .collect();
        return BarChart {
            title: "CIFAR-10 test accuracy, paper A's settings".into(),
            y_label: "test accuracy (%)".into(),
            y_max: 100.0,
            groups,
            series: vec![
                Series {
                    name: "pixveil".into(),
                    values: ok
                        .iter()
                        .map(|r| r.test_accuracy.map(|v| 100.0 * v))
                        .collect(),
                },
                Series {
                    name: "paper A (300 epochs, 50k images)".into(),
                    values: ok.iter().map(|r| r.reference_accuracy).collect(),
                },
            ],
        };
    }
    let series_of = |r: &ExperimentRow, mode: &str| {
        format!(
            "{} {}{} {} aug {}",
            r.dataset,
            r.model,
            if r.adaptation { "+ad" } else { "" },
            mode,
            r.augment
        )
    };
    // The key modes of the encrypted runs; a plain run appears in the series of each.
    let modes: Vec<String> = {
        let mut m: Vec<String> = ok
            .iter()
            .filter(|r| r.key_mode != "-")
            .map(|r| r.key_mode.clone())
            .collect();
        m.sort();
        m.dedup();
        if m.is_empty() {
            m.push("-".into());
        }
        m
    };
    let modes_for = |r: &ExperimentRow| -> Vec<String> {
        if r.key_mode == "-" {
            modes.clone()
        } else {
            vec![r.key_mode.clone()]
        }
    };
    let mut groups: Vec<String> = Vec::new();
    let mut series_names: Vec<String> = Vec::new();
    for r in &ok {
        if !groups.contains(&r.scheme) {
            groups.push(r.scheme.clone());
        }
        for m in modes_for(r) {
            let name = series_of(r, &m);
            if !series_names.contains(&name) {
                series_names.push(name);
            }
        }
    }
    let mut values = vec![vec![None; groups.len()]; series_names.len()];
    for r in &ok {
        let g = groups
            .iter()
            .position(|x| *x == r.scheme)
            .expect("every scheme of an ok row was added to the groups above");
        for m in modes_for(r) {
            let s = series_names
                .iter()
                .position(|x| *x == series_of(r, &m))
                .expect("every series of an ok row was added to the series above");
            values[s][g] = r.test_accuracy.map(|v| 100.0 * v);
        }
    }
    // One series: say what it is in the title; the legend would repeat it.
    let title = if series_names.len() == 1 {
        format!("Test accuracy per scheme: {}", series_names[0])
    } else {
        "Test accuracy per scheme".into()
    };
    BarChart {
        title,
        y_label: "test accuracy (%)".into(),
        y_max: 100.0,
        groups,
        series: series_names
            .into_iter()
            .zip(values)
            .map(|(name, values)| Series { name, values })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn grid_of(schemes: &[&str], modes: &[&str], augment: &[AugmentSide]) -> Grid {
        Grid {
            datasets: vec!["sample-mnist".into()],
            schemes: schemes.iter().map(|s| (*s).to_owned()).collect(),
            modes: modes.iter().map(|s| (*s).to_owned()).collect(),
            augment: augment.to_vec(),
            models: vec!["tenseal-cnn".into(), "small-cnn+adaptation".into()],
        }
    }

    #[test]
    fn plain_runs_once_whatever_the_modes() {
        let plans = grid(&grid_of(
            &["none", "pe"],
            &["fixed", "per-image", "fixed"],
            &[AugmentSide::None],
        ))
        .unwrap();
        // 2 models × (plain once + pe × 2 modes).
        assert_eq!(plans.len(), 6);
        assert_eq!(plans[3].model_label(), "small-cnn+adaptation");
        assert!(plans[3].adaptation && plans[3].scheme.is_none());
        assert_eq!(plans[3].mode_label(), "-");
        assert_eq!(
            plans[5].id(),
            "sample-mnist_small-cnn-adaptation_pe_perimage_none"
        );
        assert_eq!(
            plans[5].describe(),
            "sample-mnist small-cnn+adaptation pe per-image augment none"
        );
    }

    #[test]
    fn bad_names_are_refused_before_any_run() {
        let e = grid(&grid_of(&["pe"], &["sometimes"], &[AugmentSide::None])).unwrap_err();
        assert!(e.to_string().contains("unknown key mode"), "{e}");
        assert!(grid(&grid_of(&["rot13"], &["fixed"], &[AugmentSide::None])).is_err());
        // No modes: encrypted runs have none to use; the plain run has no mode either.
        assert!(grid(&grid_of(&["none"], &[], &[AugmentSide::None]))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn requests_are_checked_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ex");
        let mut req = ExperimentsRequest {
            runs: Runs::Grid(grid_of(&["none"], &["fixed"], &[AugmentSide::None])),
            data_dir: None,
            epochs: Some(0),
            train_limit: None,
            limit: None,
            batch_size: None,
            lr: None,
            width: None,
            seed: 1,
            save_models: false,
            test_every_epoch: false,
            out: out.clone(),
        };
        let err = |req: &ExperimentsRequest| run(req, &mut ()).unwrap_err().to_string();
        assert_eq!(err(&req), "--epochs must be at least 1");
        req.epochs = None;
        req.width = Some(0);
        assert_eq!(err(&req), "--width must be at least 1");
        req.width = None;
        req.limit = Some(0);
        assert_eq!(err(&req), "--limit and --train-limit must be at least 1");
        req.limit = None;
        req.runs = Runs::Grid(grid_of(&["none"], &[], &[AugmentSide::None]));
        assert_eq!(err(&req), "the grid is empty");
        assert!(!out.exists(), "nothing written by a refused request");
    }

    #[test]
    fn preset_defaults_and_reference_column() {
        let plans = Preset::PaperA.plans();
        assert_eq!(plans.len(), 11);
        assert!(plans.iter().all(|p| p.reference.is_some()));
        let row = ExperimentRow {
            dataset: "cifar10".into(),
            model: "resnet18".into(),
            adaptation: true,
            scheme: "pe".into(),
            key_mode: "fixed".into(),
            augment: "after".into(),
            status: RunStatus::Failed,
            note: "a | b".into(),
            train_images: None,
            test_images: None,
            train_source: None,
            epochs: 8,
            test_accuracy: None,
            test_loss: None,
            train_seconds: None,
            reference_accuracy: Some(86.16),
        };
        let md = markdown(std::slice::from_ref(&row), true);
        assert!(
            md.contains("| cifar10 | resnet18 + adaptation | pe | fixed | after |  |  | 8 |  | 86.16 |  | failed: a / b |"),
            "{md}"
        );
        assert!(csv(&[row]).unwrap().ends_with(",0.8616,a | b\n"));
    }

    #[test]
    fn csv_quotes_commas_quotes_and_line_breaks() {
        let row = ExperimentRow {
            dataset: "mnist".into(),
            model: "tenseal-cnn".into(),
            adaptation: false,
            scheme: "pe".into(),
            key_mode: "fixed".into(),
            augment: "none".into(),
            status: RunStatus::Failed,
            note: "diverged, lr \"0.1\"\nsecond line".into(),
            train_images: Some(60000),
            test_images: Some(10000),
            train_source: Some("data/a,b".into()),
            epochs: 2,
            test_accuracy: Some(0.9812),
            test_loss: None,
            train_seconds: Some(1.5),
            reference_accuracy: None,
        };
        let text = csv(std::slice::from_ref(&row)).unwrap();
        // The header of earlier versions, unchanged.
        assert!(text.starts_with(
            "dataset,model,adaptation,scheme,key_mode,augment,status,train_images,test_images,\
             train_source,epochs,test_accuracy,test_loss,train_seconds,reference_accuracy,note\n"
        ));
        assert!(text.contains(",\"data/a,b\","), "{text}");
        assert!(
            text.contains("\"diverged, lr \"\"0.1\"\"\nsecond line\""),
            "{text}"
        );
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().unwrap(), CSV_HEADER.as_slice());
        let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), 1);
        let rec = &records[0];
        assert_eq!(rec.len(), CSV_HEADER.len());
        assert_eq!(&rec[9], "data/a,b");
        assert_eq!(&rec[11], "0.981200");
        assert_eq!(&rec[12], "");
        assert_eq!(&rec[15], row.note);
    }
}
