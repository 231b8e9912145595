//! `pixveil analyze`: security metrics of one key on a set of images, or (`--all`) every scheme
//! × key mode with metrics and attacks, written as `report.md` plus PNGs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use pixveil_analysis::{
    attacks::AttackOutcome,
    metrics::{analyze_with_kdf, AnalyzeOptions},
    report::{run_all, ReportOptions},
};
use pixveil_image::{dataset, input, sample, ImageBatch};

use crate::progress;

/// `pixveil analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Key file (scheme, shape, mode and secret). Not used with `--all`.
    #[arg(long, value_name = "KEY")]
    pub key: Option<PathBuf>,
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
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub sensitivity_images: usize,
    /// Every scheme × key mode with fresh keys, metrics and attacks: writes `report.md`,
    /// `report.json` and PNGs into `--out`.
    #[arg(long)]
    pub all: bool,
    /// Output folder of `--all`.
    #[arg(long, default_value = "pixveil-analysis", value_name = "DIR")]
    pub out: PathBuf,
    /// Held-out images per known/chosen-plaintext attack (`--all`).
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub attack_limit: usize,
    /// Held-out images per ciphertext-only attack (`--all`).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub coa_limit: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
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
    let (mut images, label) = match (input_path, dataset_name, sample_name) {
        (Some(p), None, None) => (input::read_input(p)?.images, p.display().to_string()),
        (None, Some(d), None) => {
            let kind: dataset::DatasetKind = d.parse()?;
            let split: dataset::Split = split.parse()?;
            let dir = data_dir.context("--dataset needs --data-dir")?;
            (
                dataset::load(kind, dir, split)?.images,
                format!("{kind} {split}"),
            )
        }
        (None, None, Some(s)) => {
            let kind: dataset::DatasetKind = s.parse()?;
            (
                sample::load(kind)?.images,
                format!("built-in {kind} sample"),
            )
        }
        _ => bail!("give exactly one of INPUT, --dataset (with --data-dir) or --sample"),
    };
    if let Some(n) = limit {
        images.truncate(n);
    }
    if images.is_empty() {
        bail!("no image to analyse");
    }
    Ok((images, label))
}

/// Writes `original | ciphertext | reconstruction` of an attack as a PNG.
pub(crate) fn write_example(o: &AttackOutcome, path: &Path) -> Result<()> {
    if let Some(ex) = &o.example {
        let (shape, strip) = ex.strip()?;
        pixveil_image::files::write_png(path, &strip, shape)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

pub fn run(a: &AnalyzeArgs, quiet: bool) -> Result<()> {
    let (images, label) = load_images(
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
            analyze: opts,
            ..ReportOptions::default()
        };
        let pb = progress::bar(ropts.schemes.len() as u64 * 2, "analysing", quiet);
        let report = run_all(&images, &ropts, &|done, _| pb.set_position(done as u64))?;
        pb.finish_and_clear();
        std::fs::create_dir_all(&a.out)
            .with_context(|| format!("cannot create {}", a.out.display()))?;
        let mut md = format!("# pixveil security report: {label}\n\n");
        md.push_str(&report.to_markdown());
        for r in &report.rows {
            let stem = format!("{}-{}", r.scheme.replace('/', "-"), r.mode);
            for o in r.kpa.iter().chain([&r.cpa]).chain(&r.coa) {
                let suffix = match o.attack.as_str() {
                    "kpa" => format!("kpa{}", o.pairs),
                    "coa" => format!("coa-{}", o.method),
                    other => other.to_string(),
                };
                write_example(o, &a.out.join(format!("{stem}-{suffix}.png")))?;
            }
        }
        md.push_str(
            "\nPNGs: `<scheme>-<mode>-<attack>.png` = original | ciphertext | reconstruction.\n",
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
    let key = super::load_key(key_path, None)?;
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
