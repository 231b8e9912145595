//! `pixveil experiments`: train and evaluate over a grid (dataset × scheme × key mode ×
//! augmentation side × model), or a preset list of runs, and write `results.md`,
//! `results.csv`, `results.json` and `accuracy.png` (a grouped bar chart of test accuracy per
//! scheme).
//!
//! Keys are generated from the OS CSPRNG into `OUT/keys/` (one per dataset shape × scheme ×
//! mode, shared by the runs that use it). Invalid combinations (a model that does not take the
//! dataset's images, a scheme that does not fit the shape, augmentation after encryption of
//! plain images) are skipped with a reason; a run that fails is recorded and the grid goes on.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use pixveil_cipher::{KeyFile, KeyMode, SchemeSpec};
use pixveil_image::plot::{save_bar_chart, BarChart, Series};
use serde::Serialize;

use pixveil_ml::data::{self, DataSpec, Encryption, Splits};
use pixveil_ml::engine::{self, ModelSpec};
use pixveil_ml::train::{self, AugmentSide, Hyper, TrainJob};

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
    /// Output folder.
    #[arg(long, default_value = "pixveil-experiments", value_name = "DIR")]
    pub out: PathBuf,
    /// Print results.json on stdout instead of the markdown table.
    #[arg(long)]
    pub json: bool,
}

/// Preset run lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Paper A's CIFAR-10 comparison (Tables 2 and 3) on ResNet-18: plain; NP-only with
    /// augmentation before / after encryption, with and without the adaptation network; NP +
    /// colour shuffle after, with and without adaptation; LE before / after; EtC and logistic
    /// after. Fixed keys.
    PaperA,
}

/// One planned run.
#[derive(Clone, Debug)]
struct Plan {
    dataset: String,
    model: String,
    adaptation: bool,
    /// `None` for plain images.
    scheme: Option<String>,
    mode: KeyMode,
    augment: AugmentSide,
    /// The paper's figure for this setting, if any.
    reference: Option<f64>,
}

impl Plan {
    fn scheme_label(&self) -> String {
        self.scheme.clone().unwrap_or_else(|| "plain".into())
    }
    fn mode_label(&self) -> String {
        if self.scheme.is_some() {
            self.mode.to_string()
        } else {
            "-".into()
        }
    }
    fn model_label(&self) -> String {
        if self.adaptation {
            format!("{}+adaptation", self.model)
        } else {
            self.model.clone()
        }
    }
    fn id(&self) -> String {
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

/// One row of the results.
#[derive(Clone, Debug, Serialize)]
struct Row {
    dataset: String,
    model: String,
    adaptation: bool,
    scheme: String,
    key_mode: String,
    augment: String,
    status: &'static str,
    note: String,
    train_images: Option<usize>,
    test_images: Option<usize>,
    train_source: Option<String>,
    epochs: usize,
    test_accuracy: Option<f64>,
    test_loss: Option<f64>,
    train_seconds: Option<f64>,
    reference_accuracy: Option<f64>,
}

#[derive(Serialize)]
struct Results<'a> {
    preset: Option<&'static str>,
    epochs: usize,
    train_limit: Option<usize>,
    limit: Option<usize>,
    width: usize,
    seed: u64,
    threads: usize,
    seconds: f64,
    rows: &'a [Row],
}

fn grid(a: &ExperimentsArgs) -> Result<Vec<Plan>> {
    let mut modes = Vec::new();
    for m in &a.modes {
        let mode: KeyMode = m.parse()?;
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    for s in &a.schemes {
        if s != "none" {
            SchemeSpec::from_name(s, None)?;
        }
    }
    let mut plans = Vec::new();
    for dataset in &a.datasets {
        for model in &a.models {
            let (name, adaptation) = match model.strip_suffix("+adaptation") {
                Some(n) => (n, true),
                None => (model.as_str(), false),
            };
            for scheme in &a.schemes {
                for &augment in &a.augment {
                    let plain = scheme == "none";
                    for &mode in if plain { &modes[..1] } else { &modes[..] } {
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

pub fn run(a: &ExperimentsArgs, quiet: bool) -> Result<()> {
    let started = Instant::now();
    let (plans, epochs, train_limit, width) = match a.preset {
        Some(Preset::PaperA) => (
            paper_a(),
            a.epochs.unwrap_or(8),
            a.train_limit.or(Some(10_000)),
            a.width.unwrap_or(8),
        ),
        None => (
            grid(a)?,
            a.epochs.unwrap_or(2),
            a.train_limit,
            a.width.unwrap_or(64),
        ),
    };
    if width == 0 {
        bail!("--width must be at least 1");
    }
    if epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    if a.limit == Some(0) || train_limit == Some(0) {
        bail!("--limit and --train-limit must be at least 1");
    }
    if plans.is_empty() {
        bail!("the grid is empty");
    }
    let keys_dir = a.out.join("keys");
    let models_dir = a.out.join("models");
    std::fs::create_dir_all(&keys_dir)
        .with_context(|| format!("cannot create {}", keys_dir.display()))?;
    if a.save_models {
        std::fs::create_dir_all(&models_dir)
            .with_context(|| format!("cannot create {}", models_dir.display()))?;
    }
    // Fail before hours of training if the results cannot be written.
    super::check_writable(&a.out.join("results.json"))?;

    let mut datasets: BTreeMap<String, Result<(DataSpec, Splits), String>> = BTreeMap::new();
    let mut keys: BTreeMap<String, Result<Encryption, String>> = BTreeMap::new();
    let mut rows = Vec::new();
    let mut plain_augment_done: Vec<(String, String, AugmentSide)> = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let mut row = Row {
            dataset: plan.dataset.clone(),
            model: plan.model.clone(),
            adaptation: plan.adaptation,
            scheme: plan.scheme_label(),
            key_mode: plan.mode_label(),
            augment: plan.augment.name().to_owned(),
            status: "skipped",
            note: String::new(),
            train_images: None,
            test_images: None,
            train_source: None,
            epochs,
            test_accuracy: None,
            test_loss: None,
            train_seconds: None,
            reference_accuracy: plan.reference,
        };
        let label = format!(
            "[{}/{}] {} {} {} {} augment {}",
            i + 1,
            plans.len(),
            plan.dataset,
            plan.model_label(),
            plan.scheme_label(),
            plan.mode_label(),
            plan.augment.name()
        );
        match run_plan(
            a,
            plan,
            epochs,
            train_limit,
            width,
            quiet,
            &mut datasets,
            &mut keys,
            &mut plain_augment_done,
            &keys_dir,
            &models_dir,
            &label,
        ) {
            Ok(Outcome::Done(r)) => {
                row.status = "ok";
                row.train_images = Some(r.train_images);
                row.test_images = Some(r.test_images);
                if r.train_source != data::STANDARD {
                    row.note = format!("trained on a {} of the test set", r.train_source);
                }
                row.train_source = Some(r.train_source);
                row.test_accuracy = Some(r.test_accuracy);
                row.test_loss = Some(r.test_loss);
                row.train_seconds = Some(r.train_seconds);
                eprintln!(
                    "{label}: test accuracy {:.2}% ({:.1} s)",
                    100.0 * r.test_accuracy,
                    r.train_seconds
                );
            }
            Ok(Outcome::Skipped(reason)) => {
                eprintln!("{label}: skipped: {reason}");
                row.note = reason;
            }
            Err(e) => {
                eprintln!("{label}: failed: {e:#}");
                row.status = "failed";
                row.note = format!("{e:#}");
            }
        }
        rows.push(row);
        // Partial results survive an interrupted grid.
        write_results(
            a,
            &rows,
            epochs,
            train_limit,
            width,
            started.elapsed().as_secs_f64(),
        )?;
    }
    let seconds = started.elapsed().as_secs_f64();
    write_results(a, &rows, epochs, train_limit, width, seconds)?;
    let chart = chart(&rows, a.preset.is_some());
    save_bar_chart(&chart, &a.out.join("accuracy.png"))
        .with_context(|| format!("cannot write {}", a.out.join("accuracy.png").display()))?;
    if !a.json {
        print!("{}", markdown(&rows, a.preset.is_some()));
    }
    eprintln!(
        "wrote results.md, results.csv, results.json and accuracy.png to {} ({:.0} s)",
        a.out.display(),
        seconds
    );
    if a.json {
        let json = std::fs::read_to_string(a.out.join("results.json"))?;
        print!("{json}");
    }
    Ok(())
}

enum Outcome {
    Done(Box<train::TrainReport>),
    Skipped(String),
}

#[allow(clippy::too_many_arguments)]
fn run_plan(
    a: &ExperimentsArgs,
    plan: &Plan,
    epochs: usize,
    train_limit: Option<usize>,
    width: usize,
    quiet: bool,
    datasets: &mut BTreeMap<String, Result<(DataSpec, Splits), String>>,
    keys: &mut BTreeMap<String, Result<Encryption, String>>,
    plain_augment_done: &mut Vec<(String, String, AugmentSide)>,
    keys_dir: &Path,
    models_dir: &Path,
    label: &str,
) -> Result<Outcome> {
    // Augmentation after "encryption" of plain images is augmentation before it.
    if plan.scheme.is_none() && plan.augment != AugmentSide::None {
        let key = (
            plan.dataset.clone(),
            plan.model_label(),
            AugmentSide::Before,
        );
        if plain_augment_done.contains(&key) {
            return Ok(Outcome::Skipped(
                "plain images: augmentation after encryption is the same as before".into(),
            ));
        }
        plain_augment_done.push(key);
    }
    let entry = datasets.entry(plan.dataset.clone()).or_insert_with(|| {
        DataSpec::parse(&plan.dataset, a.data_dir.as_deref())
            .and_then(|spec| {
                let s = data::load_splits(&spec)?;
                if let Some(note) = data::split_note(&spec, &s) {
                    eprintln!("note: {note}");
                }
                Ok((spec, s))
            })
            .map_err(|e| format!("{:#}", anyhow::Error::from(e)))
    });
    let (spec, full) = match entry {
        Ok(v) => v,
        Err(e) => return Ok(Outcome::Skipped(format!("dataset not available: {e}"))),
    };
    let shape = spec.shape();
    let model = ModelSpec::new(&plan.model, shape, plan.adaptation, width);
    if let Err(e) = engine::build_model(&model, a.seed) {
        return Ok(Outcome::Skipped(format!("{:#}", anyhow::Error::from(e))));
    }
    let encryption = match &plan.scheme {
        None => None,
        Some(s) => {
            let name = format!("{}-{}-{}", shape, s, plan.mode);
            let entry = keys.entry(name.clone()).or_insert_with(|| {
                make_key(s, shape, plan.mode, &keys_dir.join(format!("{name}.key")))
                    .map_err(|e| format!("{e:#}"))
            });
            match entry {
                Ok(e) => Some(&*e),
                Err(e) => return Ok(Outcome::Skipped(e.clone())),
            }
        }
    };
    let mut hyper = Hyper::defaults(&plan.model);
    if let Some(b) = a.batch_size {
        hyper.batch_size = b;
    }
    if let Some(lr) = a.lr {
        hyper.lr = lr;
    }
    hyper.validate()?;
    let splits = Splits {
        train: full.train.clone().limit(train_limit),
        test: full.test.clone().limit(a.limit),
        train_source: full.train_source,
    };
    let output = a
        .save_models
        .then(|| models_dir.join(format!("{}.safetensors", plan.id())));
    eprintln!("{label} ...");
    let job = TrainJob {
        dataset: spec.name(),
        splits: &splits,
        encryption,
        augment: plan.augment,
        aug: train::default_augmentation(shape),
        model,
        epochs,
        hyper,
        seed: a.seed,
        output: output.as_deref(),
        resume: false,
    };
    let mut observer = crate::progress::TrainProgress::new(quiet, !quiet);
    Ok(Outcome::Done(Box::new(train::run_job(
        &job,
        &mut observer,
    )?)))
}

fn make_key(
    scheme: &str,
    shape: pixveil_image::Shape,
    mode: KeyMode,
    path: &Path,
) -> Result<Encryption> {
    let key = KeyFile::generate(SchemeSpec::from_name(scheme, None)?, shape, mode)?;
    super::write_secret_atomic(path, &key.to_bytes()?)?;
    Ok(Encryption::new(key)?)
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{:.2}", 100.0 * v))
}

fn markdown(rows: &[Row], with_reference: bool) -> String {
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
            if r.status == "ok" {
                r.note.clone()
            } else {
                format!("{}: {}", r.status, r.note.replace('|', "/"))
            }
        );
    }
    s
}

fn csv(rows: &[Row]) -> String {
    let mut s = String::from(
        "dataset,model,adaptation,scheme,key_mode,augment,status,train_images,test_images,train_source,epochs,test_accuracy,test_loss,train_seconds,reference_accuracy,note\n",
    );
    let q = |v: &str| format!("\"{}\"", v.replace('"', "\"\""));
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.dataset,
            r.model,
            r.adaptation,
            r.scheme,
            r.key_mode,
            r.augment,
            r.status,
            r.train_images.map_or_else(String::new, |n| n.to_string()),
            r.test_images.map_or_else(String::new, |n| n.to_string()),
            r.train_source.clone().unwrap_or_default(),
            r.epochs,
            r.test_accuracy
                .map_or_else(String::new, |v| format!("{v:.6}")),
            r.test_loss.map_or_else(String::new, |v| format!("{v:.6}")),
            r.train_seconds
                .map_or_else(String::new, |v| format!("{v:.3}")),
            r.reference_accuracy
                .map_or_else(String::new, |v| format!("{:.4}", v / 100.0)),
            q(&r.note)
        );
    }
    s
}

fn write_results(
    a: &ExperimentsArgs,
    rows: &[Row],
    epochs: usize,
    train_limit: Option<usize>,
    width: usize,
    seconds: f64,
) -> Result<()> {
    let results = Results {
        preset: a.preset.map(|_| "paper-a"),
        epochs,
        train_limit,
        limit: a.limit,
        width,
        seed: a.seed,
        threads: rayon::current_num_threads(),
        seconds,
        rows,
    };
    let mut json = serde_json::to_vec_pretty(&results)?;
    json.push(b'\n');
    super::write_atomic(&a.out.join("results.json"), &json)?;
    super::write_atomic(&a.out.join("results.csv"), csv(rows).as_bytes())?;
    let mut md = String::from("# pixveil experiments\n\n");
    let _ = writeln!(
        md,
        "Test accuracy after {epochs} epochs{}; seed {}; {} threads; {:.0} s in all.\n",
        train_limit.map_or_else(String::new, |n| format!(", first {n} training images")),
        a.seed,
        rayon::current_num_threads(),
        seconds
    );
    md.push_str(&markdown(rows, a.preset.is_some()));
    super::write_atomic(&a.out.join("results.md"), md.as_bytes())?;
    Ok(())
}

/// Groups are schemes (or, for a preset, runs); series are the other settings (or, for a
/// preset, ours vs the paper's).
fn chart(rows: &[Row], preset: bool) -> BarChart {
    let ok: Vec<&Row> = rows.iter().filter(|r| r.status == "ok").collect();
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
    let mut groups: Vec<String> = Vec::new();
    let mut series_names: Vec<String> = Vec::new();
    let series_of = |r: &Row, mode: &str| {
        format!(
            "{} {}{} {} aug {}",
            r.dataset,
            r.model,
            if r.adaptation { "+ad" } else { "" },
            mode,
            r.augment
        )
    };
    let modes: Vec<String> = {
        let mut m: Vec<String> = ok
            .iter()
            .filter(|r| r.key_mode != "-")
            .map(|r| r.key_mode.clone())
            .collect();
        m.dedup();
        m.sort();
        m.dedup();
        if m.is_empty() {
            m.push("-".into());
        }
        m
    };
    for r in &ok {
        if !groups.contains(&r.scheme) {
            groups.push(r.scheme.clone());
        }
        let modes_for: Vec<String> = if r.key_mode == "-" {
            modes.clone()
        } else {
            vec![r.key_mode.clone()]
        };
        for m in modes_for {
            let name = series_of(r, &m);
            if !series_names.contains(&name) {
                series_names.push(name);
            }
        }
    }
    let mut values = vec![vec![None; groups.len()]; series_names.len()];
    for r in &ok {
        let g = groups.iter().position(|x| *x == r.scheme).unwrap_or(0);
        let modes_for: Vec<String> = if r.key_mode == "-" {
            modes.clone()
        } else {
            vec![r.key_mode.clone()]
        };
        for m in modes_for {
            if let Some(s) = series_names.iter().position(|x| *x == series_of(r, &m)) {
                values[s][g] = r.test_accuracy.map(|v| 100.0 * v);
            }
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
