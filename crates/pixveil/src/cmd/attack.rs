//! `pixveil attack <kpa|cpa|coa|stat>`: run one attack against a key's encryption (the key plays
//! the victim's encryption oracle and scores the result).

use std::path::PathBuf;

use anyhow::{bail, Result};
use pixveil_analysis::attacks::{coa, cpa, kpa, stat, EncryptionOracle};
use pixveil_image::input;

use super::analyze::{load_images, write_example};

/// Which attack.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum AttackKind {
    /// Known-plaintext: `--pairs K` known pairs, then decrypt the rest.
    Kpa,
    /// Chosen-plaintext: a few chosen images through the encryption oracle.
    Cpa,
    /// Ciphertext-only: MSB / neighbour search (pixel schemes) or jigsaw (EtC).
    Coa,
    /// Ciphertext-only with public statistics: the key that best fits `--public` images'
    /// per-position histograms (fixed keys).
    Stat,
}

/// Ciphertext-only method.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum CoaArg {
    /// Jigsaw for etc, neighbour search otherwise.
    Auto,
    /// MSB heuristic.
    Msb,
    /// 48-candidate neighbour search.
    Neighbour,
    /// Jigsaw solver.
    Jigsaw,
}

/// `pixveil attack`.
#[derive(Debug, clap::Args)]
pub struct AttackArgs {
    /// The attack.
    #[arg(value_enum)]
    pub attack: AttackKind,
    /// Key file: used only to play the victim's encryption oracle and to score.
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
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
    /// Known plaintext–ciphertext pairs (kpa): the first K images.
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub pairs: usize,
    /// Held-out images attacked.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Public plain images of the same kind (stat): IDX images, CIFAR-10 batch, image file or
    /// folder.
    #[arg(long, value_name = "PUBLIC_INPUT")]
    pub public: Option<PathBuf>,
    /// Ciphertext-only method.
    #[arg(long, value_enum, default_value_t = CoaArg::Auto)]
    pub method: CoaArg,
    /// Write original | ciphertext | reconstruction of the first held-out image to this PNG
    /// (captioned, upscaled to at least 128 pixels a side).
    #[arg(long, value_name = "PNG")]
    pub png: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &AttackArgs, _quiet: bool) -> Result<()> {
    let (images, label) = load_images(
        a.input.as_deref(),
        a.dataset.as_deref(),
        a.data_dir.as_deref(),
        &a.split,
        a.sample.as_deref(),
        None,
    )?;
    let key = super::load_key(&a.key, a.passphrase.path())?;
    if images.shape() != key.shape() {
        bail!(
            "shape mismatch: the key {} is for {} images, {label} holds {} images",
            a.key.display(),
            key.shape(),
            images.shape()
        );
    }
    let bc = key.batch_cipher()?;
    let oracle = EncryptionOracle::new(&bc);
    let outcome = match a.attack {
        AttackKind::Kpa => kpa::run(&oracle, &images, a.pairs, a.limit)?,
        AttackKind::Cpa => cpa::run(&oracle, &images, a.limit)?,
        AttackKind::Coa => {
            let m = match a.method {
                CoaArg::Auto => coa::CoaMethod::Auto,
                CoaArg::Msb => coa::CoaMethod::Msb,
                CoaArg::Neighbour => coa::CoaMethod::Neighbour,
                CoaArg::Jigsaw => coa::CoaMethod::Jigsaw,
            };
            coa::run(&oracle, &images, a.limit, m)?
        }
        AttackKind::Stat => {
            let Some(p) = &a.public else {
                bail!("attack stat needs --public PUBLIC_INPUT (plain images of the same kind)");
            };
            stat::run(&oracle, &images, &input::read_input(p)?.images, a.limit)?
        }
    };
    if let Some(p) = &a.png {
        write_example(&outcome, p)?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&outcome)?);
    } else {
        let o = &outcome;
        println!(
            "{} ({}) on {} ({} key), {} held-out images from {label}",
            o.attack, o.method, o.scheme, o.mode, o.held_out
        );
        println!(
            "recovered {:.2}% of values exactly (doing nothing: {:.2}%), PSNR {:.2} dB, SSIM {:.3}",
            100.0 * o.recovered_fraction,
            100.0 * o.identity_fraction,
            o.psnr_db,
            o.ssim
        );
        let b = &o.baselines;
        println!(
            "baselines: most common value ({}) {:.2}%, identity {:.2}%, coin {}",
            b.most_common_value,
            100.0 * b.most_common,
            100.0 * b.identity,
            b.coin
                .map_or("-".to_string(), |c| format!("{:.2}%", 100.0 * c))
        );
        println!("queries {}, pairs {}", o.queries, o.pairs);
        if let (Some(dc), Some(nc)) = (o.direct_comparison, o.neighbour_comparison) {
            println!("jigsaw: Dc {dc:.3}, Nc {nc:.3}");
        }
        println!("{}", o.notes);
    }
    Ok(())
}
