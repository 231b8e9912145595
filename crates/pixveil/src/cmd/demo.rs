//! `pixveil demo`: every scheme on the built-in sample, with no download and no arguments.
//!
//! For each dataset of the sample and each scheme and key mode: encrypt, decrypt, check the
//! round trip, and measure how much of the image's structure survives (adjacent-pixel
//! correlation). Writes one PNG grid per dataset (first row plain, then one row per scheme,
//! fixed key) and prints a table. Then a short train-and-evaluate: the TenSEAL CNN trained on
//! the MNIST sample (204 images, 52 held out), plain and encrypted with each scheme.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use pixveil_analysis::attacks::{kpa, stat, EncryptionOracle};
use pixveil_analysis::metrics::{correlation, Direction};
use pixveil_cipher::{KeyFile, KeyMode, Nonce, SchemeSpec};
use pixveil_image::{dataset::DatasetKind, grid, sample, ImageBatch, Shape};

use crate::{cli::DemoArgs, progress};

const DATASETS: [DatasetKind; 4] = [
    DatasetKind::Mnist,
    DatasetKind::FashionMnist,
    DatasetKind::Kmnist,
    DatasetKind::Cifar10,
];

struct Row {
    dataset: String,
    scheme: String,
    mode: KeyMode,
    images: usize,
    mb_s: f64,
    changed: f64,
    corr: f64,
    round_trip: bool,
    /// Fraction of held-out values a known-plaintext attacker recovers from one pair.
    kpa: Option<f64>,
    /// Fraction the ciphertext-only statistical attacker recovers (`stat_attack`).
    stat: Option<f64>,
}

/// The statistical ciphertext-only attack on the sample: public statistics from the first half
/// of the images, the victim's ciphertexts of the second half. Fraction recovered exactly.
fn stat_attack(cipher: &pixveil_cipher::BatchCipher, plain: &ImageBatch) -> Result<f64> {
    let half = plain.len() / 2;
    let mut public = plain.clone();
    public.truncate(half);
    let victims = ImageBatch::new(
        plain.shape(),
        plain.as_bytes()[half * plain.shape().len()..].to_vec(),
    )?;
    Ok(stat::run(&EncryptionOracle::new(cipher), &victims, &public, None)?.recovered_fraction)
}

pub fn run(a: &DemoArgs, quiet: bool) -> Result<()> {
    // Said before anything is written: where the files go (models live in a temporary folder).
    println!(
        "pixveil demo: writing PNG grids to {}{} (choose with --out DIR)\n",
        a.out.display(),
        std::path::MAIN_SEPARATOR
    );
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut rows = Vec::new();
    let pb = progress::bar(
        (DATASETS.len() * SchemeSpec::NAMES.len() * 2) as u64,
        "demo",
        quiet,
    );
    for kind in DATASETS {
        let ds = sample::load(kind)?;
        let plain = ds.images;
        let shape = plain.shape();
        rows.push(Row {
            dataset: kind.to_string(),
            scheme: "plain".into(),
            mode: KeyMode::Fixed,
            images: plain.len(),
            mb_s: f64::NAN,
            changed: 0.0,
            corr: horizontal_correlation(&plain),
            round_trip: true,
            kpa: None,
            stat: None,
        });
        let mut grid_rows: Vec<(String, ImageBatch)> = vec![("plain".into(), plain.clone())];
        for name in SchemeSpec::NAMES {
            let spec = SchemeSpec::from_name(name, None)?;
            for mode in [KeyMode::Fixed, KeyMode::PerImage] {
                let key = KeyFile::generate(spec.clone(), shape, mode)?;
                let cipher = key.batch_cipher()?;
                let nonces = Nonce::fresh(plain.len())?;
                let nonce_arg = (mode == KeyMode::PerImage).then_some(nonces.as_slice());
                // One untimed pass first: the first batch would otherwise also time the start of
                // the thread pool and first touches of the cipher's tables.
                cipher.encrypt_batch(&mut plain.clone(), nonce_arg, &|_| {})?;
                let mut enc = plain.clone();
                let start = Instant::now();
                cipher.encrypt_batch(&mut enc, nonce_arg, &|_| {})?;
                let secs = start.elapsed().as_secs_f64();
                let mut dec = enc.clone();
                cipher.decrypt_batch(&mut dec, nonce_arg, &|_| {})?;
                let changed = plain
                    .as_bytes()
                    .iter()
                    .zip(enc.as_bytes())
                    .filter(|(p, c)| p != c)
                    .count() as f64
                    / plain.as_bytes().len() as f64;
                rows.push(Row {
                    dataset: kind.to_string(),
                    scheme: spec.name(),
                    mode,
                    images: plain.len(),
                    mb_s: plain.as_bytes().len() as f64 / 1e6 / secs.max(1e-9),
                    changed,
                    corr: horizontal_correlation(&enc),
                    round_trip: dec == plain,
                    kpa: Some(
                        kpa::run(&EncryptionOracle::new(&cipher), &plain, 1, Some(32))?
                            .recovered_fraction,
                    ),
                    stat: Some(stat_attack(&cipher, &plain)?),
                });
                if mode == KeyMode::Fixed {
                    grid_rows.push((spec.name(), enc));
                }
                pb.inc(1);
            }
        }
        let path = a.out.join(format!("{kind}.png"));
        let refs: Vec<(&str, &ImageBatch)> =
            grid_rows.iter().map(|(n, b)| (n.as_str(), b)).collect();
        grid::save_grid(&refs, 8, 3, &path)?;
    }
    pb.finish_and_clear();

    println!(
        "{:<14} {:<10} {:<10} {:>7} {:>9} {:>9} {:>11} {:>10} {:>12} {:>12}",
        "dataset",
        "scheme",
        "mode",
        "images",
        "MB/s",
        "changed",
        "adj. corr.",
        "round trip",
        "KPA 1 pair",
        "stat (no pair)"
    );
    for r in &rows {
        println!(
            "{:<14} {:<10} {:<10} {:>7} {:>9} {:>8.1}% {:>11.3} {:>10} {:>12} {:>12}",
            r.dataset,
            r.scheme,
            r.mode.to_string(),
            r.images,
            if r.mb_s.is_nan() {
                "-".to_string()
            } else {
                format!("{:.0}", r.mb_s)
            },
            100.0 * r.changed,
            r.corr,
            if r.round_trip { "ok" } else { "FAILED" },
            r.kpa
                .map_or("-".to_string(), |f| format!("{:.1}%", 100.0 * f)),
            r.stat
                .map_or("-".to_string(), |f| format!("{:.1}%", 100.0 * f))
        );
    }
    println!(
        "\nadj. corr. = Pearson correlation of horizontally adjacent values (plain images ≈ 0.9;\n\
         a scheme that hides structure drives it towards 0). KPA 1 pair = share of the values of 32\n\
         held-out images an attacker recovers exactly from one known plain/cipher pair\n\
         (`pixveil attack kpa`). stat (no pair) = share a ciphertext-only attacker recovers from the\n\
         ciphertexts of the second half of the sample, with the plain statistics of the first half\n\
         (`pixveil attack stat`; full analysis: `pixveil analyze --all`). Grids (row 1 plain, then one row per\n\
         scheme in table order, fixed key): {}",
        a.out.display()
    );
    if rows.iter().any(|r| !r.round_trip) {
        bail!("a round trip failed");
    }
    train_demo(quiet)
}

/// The TenSEAL CNN on the MNIST sample, plain and under each scheme with a fresh key
/// ([`pixveil_ml::demo`]).
fn train_demo(quiet: bool) -> Result<()> {
    use pixveil_ml::demo::{SchemeDemo, BATCH_SIZE, EPOCHS, MODEL};

    let demo = SchemeDemo::new()?;
    println!(
        "\nTrain and evaluate: {MODEL} on the MNIST sample ({} train / {} held-out images, \
         {EPOCHS} epochs, batch {BATCH_SIZE}, Adam 1e-3; chance = 10%)",
        demo.splits.train.len(),
        demo.splits.test.len()
    );
    println!(
        "{:<10} {:<10} {:>10} {:>10} {:>9}",
        "scheme", "mode", "train acc", "test acc", "seconds"
    );
    // The kept models (plain and fixed-key `pe`) are for the encrypted-inference step.
    let dir = tempfile::tempdir()?;
    let mut kept = Vec::new();
    for run in &demo.runs {
        let (r, output) = demo.train(
            run,
            dir.path(),
            &mut crate::progress::TrainProgress::new(quiet, false),
        )?;
        if let Some(path) = output {
            kept.push((run.scheme.clone(), path, run.encryption.as_ref()));
        }
        let last = r
            .history
            .last()
            .expect("a finished run has at least one epoch")
            .train_accuracy;
        println!(
            "{:<10} {:<10} {:>9.1}% {:>9.1}% {:>9.2}",
            run.scheme,
            run.mode,
            100.0 * last,
            100.0 * r.test_accuracy,
            r.train_seconds
        );
    }
    println!(
        "Fixed keys keep images learnable; per-image keys do not. Full datasets: `pixveil train \
         --dataset mnist --data-dir DIR --key KEY --model tenseal-cnn --epochs 10 -o model.st`, \
         `pixveil experiments --data-dir DIR`."
    );
    he_demo(&kept, &demo.splits.test, quiet)
}

/// Held-out images the encrypted-inference step classifies.
const HE_IMAGES: usize = 8;

/// Encrypted inference (CKKS, latency mode) of the plain model and of the hybrid (`pe`
/// key, then CKKS) on a few held-out images.
fn he_demo(
    models: &[(
        String,
        std::path::PathBuf,
        Option<&pixveil_ml::data::Encryption>,
    )],
    test: &pixveil_ml::data::Labelled,
    quiet: bool,
) -> Result<()> {
    println!(
        "\nEncrypted inference (CKKS, N = 8192, 128-bit): the client encrypts each of {HE_IMAGES} \
         held-out images, the evaluator\nruns the model on ciphertexts with public keys only, the \
         client decrypts the scores (`pixveil he-eval`)"
    );
    println!(
        "{:<10} {:>9} {:>10} {:>10} {:>11} {:>12} {:>10}",
        "model", "enc acc", "plain acc", "agreement", "precision", "latency p50", "keys"
    );
    for (name, path, enc) in models {
        let (model, _, scheme) = pixveil_ml::engine::load(path)?;
        let mut images = test.clone().limit(Some(HE_IMAGES));
        if let Some(e) = enc {
            e.encrypt(&mut images.images)?;
        }
        let bar = crate::progress::bar(images.len() as u64, "he-eval", quiet);
        let r = pixveil_henn::he_eval(
            &model,
            &scheme,
            &images.images,
            &images.labels,
            &pixveil_henn::HeEvalOptions {
                mode: pixveil_henn::Mode::Latency,
                threads: None,
            },
            &|done| bar.set_position(done as u64),
        )?;
        bar.finish_and_clear();
        let label = if enc.is_some() {
            format!("{name}+ckks")
        } else {
            "ckks".into()
        };
        println!(
            "{:<10} {:>8.1}% {:>9.1}% {:>9.1}% {:>6.1} bits {:>9.0} ms {:>7.1} MB",
            label,
            100.0 * r.accuracy,
            100.0 * r.plain_accuracy,
            100.0 * r.agreement,
            r.precision_bits_min,
            r.latency_ms_p50,
            r.eval_key_bytes as f64 / 1e6
        );
    }
    println!(
        "The `pe` row is the hybrid: trained on perceptually encrypted images, classified under \
         CKKS, so the server never\nsees a plain image, neither when training nor when \
         classifying. Full test sets: `scripts/experiments/he_table.sh`."
    );
    Ok(())
}

/// Pearson correlation of horizontally adjacent values (same channel) over the whole batch:
/// the images stacked into one tall image (horizontal pairs never cross image rows), so
/// `pixveil_analysis`'s correlation pools every pair. 0 when undefined.
fn horizontal_correlation(batch: &ImageBatch) -> f64 {
    let s = batch.shape();
    let rows = u32::try_from(batch.len() * s.height()).unwrap_or(u32::MAX);
    let width = u32::try_from(s.width()).unwrap_or(u32::MAX);
    let channels = u32::try_from(s.channels()).unwrap_or(u32::MAX);
    Shape::new(rows, width, channels)
        .ok()
        .and_then(|tall| correlation(batch.as_bytes(), tall, Direction::Horizontal))
        .unwrap_or(0.0)
}
