//! `pixveil demo`: every scheme on the built-in sample, with no download and no arguments.
//!
//! For each dataset of the sample and each scheme and key mode: encrypt, decrypt, check the
//! round trip, and measure how much of the image's structure survives (adjacent-pixel
//! correlation) ([`pixveil_analysis::demo`]). Writes one PNG grid per dataset (first row plain,
//! then one row per scheme, fixed key; each row labelled) and prints a table. Then a short
//! train-and-evaluate: the TenSEAL CNN trained on the MNIST sample (204 images, 52 held out),
//! plain and encrypted with each scheme.

use anyhow::{bail, Context, Result};
use pixveil_analysis::demo as tour;

use crate::{cli::DemoArgs, progress};

pub fn run(a: &DemoArgs, quiet: bool) -> Result<()> {
    // Said before anything is written: where the files go (models live in a temporary folder).
    println!(
        "pixveil demo: writing PNG grids to {}{} (choose with --out DIR)\n",
        a.out.display(),
        std::path::MAIN_SEPARATOR
    );
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let pb = progress::bar(tour::steps() as u64, "demo", quiet);
    let rows = tour::run(&a.out, &|| pb.inc(1))?.rows;
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
            "{:<14} {:<10} {:<10} {:>7} {:>9} {:>8.1}% {:>11} {:>10} {:>12} {:>12}",
            r.dataset,
            r.scheme,
            r.mode.to_string(),
            r.images,
            r.mb_s.map_or("-".to_string(), |v| format!("{v:.0}")),
            100.0 * r.changed,
            r.corr.map_or("-".to_string(), |c| format!("{c:.3}")),
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
         scheme in table order, fixed key; each row labelled): {}",
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
