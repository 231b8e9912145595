//! `pixveil analyze`: security metrics of one key on a set of images, or (`--all`) every scheme
//! × key mode with metrics and attacks, written as `report.md` plus PNGs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use pixveil_analysis::{
    attacks::{AttackOutcome, ContentJudge},
    metrics::{analyze_with_kdf, AnalyzeOptions},
    report::{run_all, ReportInputs, ReportOptions},
};
use pixveil_image::{dataset, input, sample, ImageBatch};
use pixveil_ml::content::{ContentClassifier, ContentOptions};

use crate::progress;

/// `pixveil analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Key file (scheme, shape, mode and secret). Not used with `--all`.
    #[arg(long, value_name = "KEY")]
    pub key: Option<PathBuf>,
    /// The key's passphrase.
    #[command(flatten)]
    pub passphrase: crate::cli::PassphraseArgs,
    /// Input: IDX images or CIFAR-10 batch (raw or .gz), an image file, or a folder of images.
    pub input: Option<PathBuf>,
    /// Dataset name (mnist, fashion-mnist, kmnist, cifar10), read from `--data-dir`.
    #[arg(long, value_name = "NAME", requires = "data_dir")]
    pub dataset: Option<String>,
    /// Folder holding the dataset files.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Dataset split.
    #[arg(long, default_value = "test", value_name = "SPLIT")]
    pub split: String,
    /// Use the built-in 256-image sample of this dataset.
    #[arg(long, value_name = "NAME")]
    pub sample: Option<String>,
    /// Use only the first N images.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Images used for NPCR/UACI.
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = at_least_one())]
    pub sensitivity_images: usize,
    /// Every scheme × key mode with fresh keys, metrics and attacks: writes `report.md`,
    /// `report.json` and PNGs into `--out`.
    #[arg(long)]
    pub all: bool,
    /// Output folder of `--all`.
    #[arg(long, default_value = "pixveil-analysis", value_name = "DIR")]
    pub out: PathBuf,
    /// Held-out images per known/chosen-plaintext attack (`--all`).
    #[arg(long, default_value_t = 200, value_name = "N", value_parser = at_least_one())]
    pub attack_limit: usize,
    /// Held-out images per ciphertext-only jigsaw attack (`--all`; MSB and neighbour search
    /// take `--attack-limit`).
    #[arg(long, default_value_t = 20, value_name = "N", value_parser = at_least_one())]
    pub coa_limit: usize,
    /// Victim images of the statistical attack (`--all`; default: every image).
    #[arg(long, value_name = "N")]
    pub stat_limit: Option<usize>,
    /// Public plain images for the statistical attack (`--all`; default with `--dataset`: the
    /// dataset's training split).
    #[arg(long, value_name = "PUBLIC_INPUT")]
    pub public: Option<PathBuf>,
    /// Skip the content score (`--all`; it needs `--dataset`: labels and training images).
    #[arg(long)]
    pub no_content: bool,
    /// Training images of the content classifier (`--all`; default: the whole training
    /// split).
    #[arg(long, value_name = "N")]
    pub content_train: Option<usize>,
    /// Epochs of the content classifier (`--all`).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub content_epochs: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Counts of images that must be at least 1 (0 would report zeros as if the work had run).
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
}

/// Loads the images an `analyze`/`attack` command names: INPUT, `--dataset` + `--data-dir`, or
/// `--sample`, truncated to `limit`.
pub(crate) fn load_images(
    input_path: Option<&Path>,
    dataset_name: Option<&str>,
    data_dir: Option<&Path>,
    split: &str,
    sample_name: Option<&str>,
    limit: Option<usize>,
) -> Result<(ImageBatch, String)> {
    let (images, _, label) = load_labelled(
        input_path,
        dataset_name,
        data_dir,
        split,
        sample_name,
        limit,
    )?;
    Ok((images, label))
}

/// Images, their labels where the source has them, and a description of the source.
type Labelled = (ImageBatch, Option<Vec<u8>>, String);

/// [`load_images`] with the labels where the source has them (datasets and samples).
fn load_labelled(
    input_path: Option<&Path>,
    dataset_name: Option<&str>,
    data_dir: Option<&Path>,
    split: &str,
    sample_name: Option<&str>,
    limit: Option<usize>,
) -> Result<Labelled> {
    let (mut images, mut labels, label) = match (input_path, dataset_name, sample_name) {
        (Some(p), None, None) => (input::read_input(p)?.images, None, p.display().to_string()),
        (None, Some(d), None) => {
            let kind: dataset::DatasetKind = d.parse()?;
            let split: dataset::Split = split.parse()?;
            let dir = data_dir.context("--dataset needs --data-dir")?;
            let ds = dataset::load(kind, dir, split)?;
            (ds.images, Some(ds.labels), format!("{kind} {split}"))
        }
        (None, None, Some(s)) => {
            let kind: dataset::DatasetKind = s.parse()?;
            let ds = sample::load(kind)?;
            (
                ds.images,
                Some(ds.labels),
                format!("built-in {kind} sample"),
            )
        }
        _ => bail!("give exactly one of INPUT, --dataset (with --data-dir) or --sample"),
    };
    if let Some(n) = limit {
        images.truncate(n);
        if let Some(l) = labels.as_mut() {
            l.truncate(n);
        }
    }
    if images.is_empty() {
        bail!("no image to analyse");
    }
    Ok((images, labels, label))
}

/// The public side of `--all`: `--public`, else the training split of `--dataset` (with its
/// labels, for the content classifier), else nothing.
fn load_public(a: &AnalyzeArgs) -> Result<Option<Labelled>> {
    if let Some(p) = &a.public {
        return Ok(Some((
            input::read_input(p)?.images,
            None,
            p.display().to_string(),
        )));
    }
    match (a.dataset.as_deref(), a.data_dir.as_deref()) {
        (Some(d), Some(dir)) => {
            let kind: dataset::DatasetKind = d.parse()?;
            let ds = dataset::load(kind, dir, dataset::Split::Train)?;
            Ok(Some((ds.images, Some(ds.labels), format!("{kind} train"))))
        }
        _ => Ok(None),
    }
}

/// Writes the captioned `original | ciphertext | recovered` panel of an attack as a PNG
/// ([`pixveil_analysis::attacks::Example::panel`]).
pub(crate) fn write_example(o: &AttackOutcome, path: &Path) -> Result<()> {
    if let Some(ex) = &o.example {
        ex.save_png(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

pub fn run(a: &AnalyzeArgs, quiet: bool) -> Result<()> {
    let (images, labels, label) = load_labelled(
        a.input.as_deref(),
        a.dataset.as_deref(),
        a.data_dir.as_deref(),
        &a.split,
        a.sample.as_deref(),
        a.limit,
    )?;
    let opts = AnalyzeOptions {
        sensitivity_images: a.sensitivity_images,
    };
    let start = Instant::now();
    if a.all {
        let ropts = ReportOptions {
            attack_limit: a.attack_limit,
            coa_limit: a.coa_limit,
            stat_limit: a.stat_limit,
            analyze: opts,
            ..ReportOptions::default()
        };
        let public = load_public(a)?;
        // The content classifier: trained on the labelled public (training) images.
        let classifier = match (&public, &labels) {
            (Some((train, Some(train_labels), _)), Some(_)) if !a.no_content => {
                let copts = ContentOptions {
                    train_limit: a.content_train,
                    epochs: a.content_epochs,
                    ..ContentOptions::default()
                };
                Some(ContentClassifier::train(train, train_labels, &copts)?)
            }
            _ => None,
        };
        let classify = |b: &ImageBatch| match &classifier {
            Some(c) => c.classify(b).map_err(|e| e.to_string()),
            None => Err("no content classifier".to_string()),
        };
        let judge = match (&classifier, &labels) {
            (Some(c), Some(l)) => Some(ContentJudge::new(c.description(), &images, l, &classify)?),
            _ => None,
        };
        let inputs = ReportInputs {
            images: &images,
            public: public.as_ref().map(|p| &p.0),
            judge: judge.as_ref(),
        };
        let pb = progress::bar(ropts.schemes.len() as u64 * 2, "analysing", quiet);
        let report = run_all(inputs, &ropts, &|done, _| pb.set_position(done as u64))?;
        pb.finish_and_clear();
        std::fs::create_dir_all(&a.out)
            .with_context(|| format!("cannot create {}", a.out.display()))?;
        let mut md = format!("# pixveil security report: {label}\n\n");
        if let Some((_, _, p)) = &public {
            md.push_str(&format!(
                "Public images of the statistical attack: {p}.\n\n"
            ));
        }
        md.push_str(&report.to_markdown());
        for r in &report.rows {
            let stem = format!("{}-{}", r.scheme.replace('/', "-"), r.mode);
            for o in r.kpa.iter().chain([&r.cpa]).chain(&r.coa).chain(&r.stat) {
                let suffix = match o.attack.as_str() {
                    "kpa" => format!("kpa{}", o.pairs),
                    "coa" => format!("coa-{}", o.method),
                    other => other.to_string(),
                };
                write_example(o, &a.out.join(format!("{stem}-{suffix}.png")))?;
            }
        }
        md.push_str(
            "\nPNGs: `<scheme>-<mode>-<attack>.png` = original | ciphertext | reconstruction \
             (captioned original / ciphertext / recovered, upscaled to at least 128 pixels).\n",
        );
        super::write_atomic(&a.out.join("report.md"), md.as_bytes())?;
        super::write_atomic(
            &a.out.join("report.json"),
            serde_json::to_string_pretty(&report)?.as_bytes(),
        )?;
        if a.json {
            println!("{}", serde_json::to_string(&report)?);
        } else if !quiet {
            println!("{md}");
            eprintln!(
                "wrote {} ({:.1} s)",
                a.out.join("report.md").display(),
                start.elapsed().as_secs_f64()
            );
        }
        return Ok(());
    }
    let Some(key_path) = &a.key else {
        bail!("give --key KEY (or --all)");
    };
    let key = super::load_key(key_path, a.passphrase.path())?;
    if images.shape() != key.shape() {
        bail!(
            "shape mismatch: the key {} is for {} images, {label} holds {} images",
            key_path.display(),
            key.shape(),
            images.shape()
        );
    }
    let analysis = analyze_with_kdf(
        &images,
        key.spec(),
        key.mode(),
        key.secret(),
        key.kdf_version(),
        opts,
    )?;
    let secs = start.elapsed().as_secs_f64();
    if a.json {
        let mut v = serde_json::to_value(&analysis)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("seconds".into(), secs.into());
            o.insert("input".into(), label.into());
        }
        println!("{v}");
    } else {
        let m = &analysis;
        println!(
            "{} ({} key), {} images {} from {label}, {secs:.2} s",
            m.scheme, m.mode, m.images, m.shape
        );
        println!(
            "key space: {:.0} bits nominal ({}), {:.0} effective",
            m.key_space.nominal_bits, m.key_space.formula, m.key_space.effective_bits
        );
        println!("{:<22} {:>20} {:>20}", "metric", "plain", "encrypted");
        for (name, pc) in [
            ("entropy (bits)", &m.entropy),
            ("local entropy (bits)", &m.local_entropy),
            ("corr. horizontal", &m.correlation_horizontal),
            ("corr. vertical", &m.correlation_vertical),
            ("corr. diagonal", &m.correlation_diagonal),
            ("chi2", &m.chi2),
        ] {
            println!(
                "{name:<22} {:>20} {:>20}",
                format!("{:.3}", pc.plain),
                format!("{:.3}", pc.encrypted)
            );
        }
        println!(
            "NPCR/UACI key (%):      {:.2} / {:.2}",
            m.npcr_key.mean, m.uaci_key.mean
        );
        println!(
            "NPCR/UACI plaintext (%): {:.2} / {:.2}",
            m.npcr_plaintext.mean, m.uaci_plaintext.mean
        );
        println!("PSNR plain vs enc (dB): {:.2}", m.psnr_db);
        println!("SSIM plain vs enc:      {:.3}", m.ssim);
    }
    Ok(())
}
