//! `pixveil export-model` and `pixveil he-eval`: encrypted inference (CKKS) of HE-friendly
//! models, measured over a test set.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use pixveil_henn::{HeEvalOptions, HeEvalReport, Mode};
use pixveil_image::Shape;
use pixveil_nn as nn;

use super::eval::TestSetArgs;
use pixveil_ml::engine::ModelSpec;
use pixveil_ml::he::HeEvalRun;

/// Models `export-model` writes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HeModel {
    /// The TenSEAL tutorial CNN.
    TensealCnn,
    /// The HE-friendly CNN with batch norm.
    HeCnn,
}

/// `pixveil export-model`.
#[derive(Debug, clap::Args)]
pub struct ExportModelArgs {
    /// Architecture.
    #[arg(long, value_enum)]
    pub model: HeModel,
    /// Seeded random weights (PyTorch's default initialisation), so peers can be timed on
    /// identical weights. Trained models come from `pixveil train`.
    #[arg(long)]
    pub random: bool,
    /// Seed of the weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Input shape HxWxC.
    #[arg(long, default_value = "28x28x1")]
    pub shape: String,
    /// Output checkpoint (safetensors, PyTorch state-dict names).
    #[arg(short, long, value_name = "MODEL")]
    pub output: PathBuf,
}

pub fn export_model(a: &ExportModelArgs) -> Result<()> {
    if !a.random {
        bail!("export-model writes seeded random weights only: pass --random (trained models come from `pixveil train`)");
    }
    let shape: Shape = a.shape.parse()?;
    let arch = a.model.architecture();
    let config = nn::ModelConfig::new(arch, [shape.channels(), shape.height(), shape.width()]);
    let model = nn::checkpoint::write_random(&a.output, &config, a.seed)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    eprintln!(
        "wrote {} ({arch}, {} parameters, seed {})",
        a.output.display(),
        model.num_params(),
        a.seed
    );
    Ok(())
}

/// Execution modes on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    /// One image per request (im2col packing, rotations, Galois keys).
    Latency,
    /// One image per slot, thousands per request (no rotations, relinearization key only).
    Throughput,
}

/// `pixveil he-eval`.
#[derive(Debug, clap::Args)]
pub struct HeEvalArgs {
    /// Model (tenseal-cnn or he-cnn, from `pixveil train` or `export-model`) and test images;
    /// `--key` is the perceptual key of a model trained on encrypted images: the client
    /// applies it, then CKKS (the hybrid of paper C).
    #[command(flatten)]
    pub set: TestSetArgs,
    /// Packing.
    #[arg(long, value_enum, default_value_t = ModeArg::Latency)]
    pub mode: ModeArg,
    /// Read MODEL as a PyTorch state dict saved with safetensors (no pixveil metadata) of
    /// this architecture.
    #[arg(long, value_enum, value_name = "ARCH")]
    pub arch: Option<HeModel>,
    /// Input shape HxWxC of a state dict read with --arch.
    #[arg(long, default_value = "28x28x1", requires = "arch")]
    pub shape: String,
}

impl HeModel {
    fn architecture(self) -> nn::Architecture {
        match self {
            HeModel::TensealCnn => nn::Architecture::TensealCnn,
            HeModel::HeCnn => nn::Architecture::HeCnn,
        }
    }
}

pub fn he_eval_cmd(a: &HeEvalArgs, threads: Option<usize>, quiet: bool) -> Result<()> {
    let state_dict = match a.arch {
        None => None,
        Some(arch) => Some(ModelSpec::new(
            arch.architecture().name(),
            a.shape.parse()?,
            false,
            64,
        )),
    };
    let mode = match a.mode {
        ModeArg::Latency => Mode::Latency,
        ModeArg::Throughput => Mode::Throughput,
    };
    let bar = crate::progress::bar(0, "he-eval", quiet);
    let run = pixveil_ml::he::he_eval(
        &a.set.request(),
        state_dict.as_ref(),
        &HeEvalOptions { mode, threads },
        &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    let HeEvalRun {
        report,
        architecture,
        dataset,
        scheme,
    } = run;
    if a.set.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report, &architecture, &dataset, &scheme);
    }
    Ok(())
}

fn print_report(r: &HeEvalReport, arch: &str, dataset: &str, scheme: &str) {
    let mb = |b: f64| b / 1e6;
    println!(
        "{arch} on {dataset} ({scheme}), CKKS {} mode, {} images, {} threads, {}",
        r.mode.name(),
        r.images,
        r.threads,
        r.machine.cpu
    );
    println!(
        "  accuracy {:.2}% (plain {:.2}%), macro F1 {:.4}, agreement {:.2}%, precision {:.1} bits min / {:.1} median",
        100.0 * r.accuracy,
        100.0 * r.plain_accuracy,
        r.f1_macro,
        100.0 * r.agreement,
        r.precision_bits_min,
        r.precision_bits_median
    );
    let unit = match r.mode {
        Mode::Latency => "per image",
        Mode::Throughput => "per batch",
    };
    println!(
        "  latency {unit}: p50 {:.1} ms, p95 {:.1} ms (encrypt {:.1}, evaluate {:.1}, decrypt {:.1}); evaluator {:.1} images/s",
        r.latency_ms_p50,
        r.latency_ms_p95,
        r.encrypt_ms_p50,
        r.evaluate_ms_p50,
        r.decrypt_ms_p50,
        r.images_per_s
    );
    let layers: Vec<String> = r
        .layers
        .iter()
        .map(|l| format!("{} {:.1}", l.name, l.p50_ms))
        .collect();
    println!("  layers (ms, median): {}", layers.join(", "));
    println!(
        "  bytes per image: in {:.3} MB, out {:.3} MB; evaluation keys {:.1} MB ({} Galois keys); peak RSS {}",
        mb(r.ct_in_bytes),
        mb(r.ct_out_bytes),
        mb(r.eval_key_bytes as f64),
        r.galois_keys,
        r.peak_rss_bytes
            .map_or_else(|| "n/a".to_owned(), |b| format!("{:.0} MB", mb(b as f64)))
    );
}
