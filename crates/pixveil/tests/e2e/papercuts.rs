//! What a new user tripped over (issue 12, item 7), one test each: passphrases on every command
//! that reads a key, error causes printed once, counts of 0 refused, a model used with another
//! key refused, timings that say what they time, global options in their own help section.

use std::{
    fs,
    path::{Path, PathBuf},
};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

use crate::common::{json_of, pixveil, train_on_sample, train_sample};

fn keygen(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let key = dir.join(name);
    pixveil()
        .args(["keygen", "--scheme", "pe", "--shape", "28x28x1", "-o"])
        .arg(&key)
        .args(extra)
        .assert()
        .success();
    key
}

/// A passphrase key (cheap Argon2 settings are not exposed: the default costs a second or so).
fn passphrase_key(dir: &Path) -> (PathBuf, PathBuf) {
    let pass = dir.join("pass.txt");
    fs::write(&pass, "correct horse battery staple\n").unwrap();
    let key = keygen(
        dir,
        "pass.key",
        &["--passphrase-file", pass.to_str().unwrap()],
    );
    (key, pass)
}

/// stderr of a failing command (exit status `code`).
fn stderr_of(cmd: &mut Command, code: i32) -> String {
    let out = cmd.output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "{err}");
    err
}

/// The MNIST sample's first images as PNG files in `dir`.
fn sample_pngs(dir: &Path, n: usize) -> PathBuf {
    let ds = pixveil_image::sample::load(pixveil_image::dataset::DatasetKind::Mnist).unwrap();
    let out = dir.join("pngs");
    fs::create_dir(&out).unwrap();
    for i in 0..n {
        pixveil_image::files::write_png(
            &out.join(format!("{i}.png")),
            ds.images.image(i).unwrap(),
            ds.images.shape(),
        )
        .unwrap();
    }
    out
}

#[test]
fn attack_and_analyze_take_the_passphrase_file() {
    let dir = TempDir::new().unwrap();
    let (key, pass) = passphrase_key(dir.path());
    // Without it: the error names the option, which the command then accepts.
    let err = stderr_of(
        pixveil()
            .args([
                "attack", "kpa", "--sample", "mnist", "--limit", "4", "--key",
            ])
            .arg(&key),
        1,
    );
    assert!(err.contains("--passphrase-file"), "{err}");
    let v = json_of(
        pixveil()
            .args([
                "attack", "kpa", "--sample", "mnist", "--limit", "4", "--json",
            ])
            .arg("--key")
            .arg(&key)
            .arg("--passphrase-file")
            .arg(&pass),
    );
    assert_eq!(v["held_out"], 4);
    let err = stderr_of(
        pixveil()
            .args(["analyze", "--sample", "mnist", "--limit", "8", "--key"])
            .arg(&key),
        1,
    );
    assert!(err.contains("--passphrase-file"), "{err}");
    pixveil()
        .args(["analyze", "--sample", "mnist", "--limit", "8"])
        .args(["--sensitivity-images", "2", "--json", "--key"])
        .arg(&key)
        .arg("--passphrase-file")
        .arg(&pass)
        .assert()
        .success();
}

#[test]
fn error_causes_are_printed_once() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let key = keygen(d, "k.key", &[]);
    let once = |err: &str, needle: &str| {
        assert!(err.starts_with("error: "), "{err}");
        assert_eq!(err.matches(needle).count(), 1, "{needle:?} in {err}");
    };
    // A missing key file, a missing input file.
    let err = stderr_of(
        pixveil()
            .args(["encrypt", "--key"])
            .arg(d.join("missing.key"))
            .arg(d.join("in"))
            .arg("-o")
            .arg(d.join("out")),
        1,
    );
    once(&err, "(os error 2)");
    assert!(err.contains("missing.key"), "{err}");
    let err = stderr_of(
        pixveil()
            .args(["encrypt", "--key"])
            .arg(&key)
            .arg(d.join("no-such-input"))
            .arg("-o")
            .arg(d.join("out")),
        1,
    );
    once(&err, "(os error 2)");
    assert!(err.contains("no-such-input"), "{err}");
    // A wrong passphrase.
    let (pkey, _) = passphrase_key(d);
    let wrong = d.join("wrong.txt");
    fs::write(&wrong, "Tr0ub4dor&3\n").unwrap();
    let err = stderr_of(
        pixveil()
            .args(["attack", "kpa", "--sample", "mnist", "--key"])
            .arg(&pkey)
            .arg("--passphrase-file")
            .arg(&wrong),
        1,
    );
    once(&err, "wrong passphrase");
}

#[test]
fn counts_of_zero_are_refused() {
    let dir = TempDir::new().unwrap();
    let key = keygen(dir.path(), "k.key", &[]);
    for attack in ["kpa", "cpa", "coa"] {
        let err = stderr_of(
            pixveil()
                .args([
                    "attack", attack, "--sample", "mnist", "--limit", "0", "--key",
                ])
                .arg(&key),
            1,
        );
        assert!(
            err.starts_with("error: ") && err.contains("--limit 0"),
            "{err}"
        );
    }
    // Usage errors (exit status 2) before any work.
    for flag in ["--sensitivity-images", "--attack-limit", "--coa-limit"] {
        let err = stderr_of(
            pixveil()
                .args(["analyze", "--sample", "mnist", flag, "0", "--key"])
                .arg(&key),
            2,
        );
        assert!(err.contains(flag), "{err}");
    }
}

#[test]
fn a_model_refuses_a_key_other_than_its_training_key() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let key = keygen(d, "train.key", &[]);
    let other = keygen(d, "other.key", &[]);
    let model = d.join("m.safetensors");
    train_sample(
        &model,
        "1",
        &["--limit", "8", "--key", key.to_str().unwrap()],
    );
    let eval = |k: &Path| {
        let mut c = pixveil();
        c.args([
            "eval",
            "--dataset",
            "sample-mnist",
            "--limit",
            "8",
            "--json",
        ])
        .arg("--model")
        .arg(&model)
        .arg("--key")
        .arg(k);
        c
    };
    eval(&key).assert().success();
    let err = stderr_of(&mut eval(&other), 1);
    assert!(
        err.contains("key mismatch") && err.contains("--allow-key-mismatch"),
        "{err}"
    );
    eval(&other).arg("--allow-key-mismatch").assert().success();

    let pngs = sample_pngs(d, 2);
    let predict = |k: &Path| {
        let mut c = pixveil();
        c.args(["predict", "--json", "--model"])
            .arg(&model)
            .arg("--key")
            .arg(k)
            .arg(&pngs);
        c
    };
    predict(&key).assert().success();
    let err = stderr_of(&mut predict(&other), 1);
    assert!(err.contains("key mismatch"), "{err}");
    predict(&other)
        .arg("--allow-key-mismatch")
        .assert()
        .success();
}

#[test]
fn encrypt_reports_the_time_waited_for() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let key = keygen(d, "k.key", &[]);
    let pngs = sample_pngs(d, 3);
    let v = json_of(
        pixveil()
            .args(["encrypt", "--json", "--key"])
            .arg(&key)
            .arg(&pngs)
            .arg("-o")
            .arg(d.join("enc")),
    );
    let (cipher, total) = (
        v["seconds"].as_f64().unwrap(),
        v["total_seconds"].as_f64().unwrap(),
    );
    assert!(total >= cipher && total > 0.0, "{v}");
    // The human summary names both (not --quiet here: it goes to stderr).
    let out = Command::cargo_bin("pixveil")
        .unwrap()
        .args(["encrypt", "--key"])
        .arg(&key)
        .arg(&pngs)
        .arg("-o")
        .arg(d.join("enc2"))
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("28x28x1") && err.contains("the cipher alone"),
        "{err}"
    );
}

#[test]
fn bench_encrypt_names_the_image_shape() {
    let out = pixveil()
        .args(["bench", "encrypt", "--quick"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    // The CPU and the cipher kernels chosen, then the table.
    assert!(lines.next().unwrap().contains("cipher kernels: "), "{text}");
    assert!(lines.next().unwrap().contains("shape"), "{text}");
    assert!(
        lines.all(|l| l.contains("32x32x3") || l.contains("28x28x1")),
        "{text}"
    );
}

#[test]
fn global_options_have_their_own_help_section() {
    let help = |args: &[&str]| {
        let out = Command::cargo_bin("pixveil")
            .unwrap()
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let keygen = help(&["keygen"]);
    assert!(keygen.contains("Global options:"), "{keygen}");
    assert!(!keygen.contains("--backend"), "{keygen}");
    let train = help(&["train"]);
    assert!(
        train.contains("--backend") && train.contains("Global options:"),
        "{train}"
    );
    // `--backend` where it worked before: before the command (any command), or among the
    // options of a command that trains or evaluates.
    let dir = TempDir::new().unwrap();
    pixveil()
        .args([
            "--backend",
            "rust",
            "keygen",
            "--scheme",
            "pe",
            "--shape",
            "28x28x1",
            "-o",
        ])
        .arg(dir.path().join("k.key"))
        .assert()
        .success();
    // Not an option of keygen any more: a usage error naming it.
    pixveil()
        .args([
            "keygen",
            "--backend",
            "rust",
            "--scheme",
            "pe",
            "--shape",
            "28x28x1",
            "-o",
        ])
        .arg(dir.path().join("k2.key"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--backend"));
    // (Both reach the model loader: a missing model file, status 1, not a usage error.)
    pixveil()
        .args([
            "--backend",
            "rust",
            "eval",
            "--dataset",
            "sample-mnist",
            "--model",
        ])
        .arg(dir.path().join("none.safetensors"))
        .assert()
        .code(1);
    pixveil()
        .args([
            "eval",
            "--backend",
            "rust",
            "--dataset",
            "sample-mnist",
            "--model",
        ])
        .arg(dir.path().join("none.safetensors"))
        .assert()
        .code(1);
}

#[test]
fn predict_into_a_closed_pipe_ends_quietly() {
    // `pixveil predict ... | head -3` (the README's usage): stdout closed early is no panic.
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let model = d.join("m.safetensors");
    train_on_sample("tenseal-cnn", &model, ["--epochs", "1", "--limit", "8"])
        .assert()
        .success();
    let pngs = sample_pngs(d, 4);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pixveil"))
        .args(["--quiet", "predict", "--model"])
        .arg(&model)
        .arg(&pngs)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("panicked"), "{err}");
}

/// SIGTERM while a folder of PNGs is being written: the temporary folder beside the output is
/// removed before the process dies (a killed process runs no destructor).
#[cfg(unix)]
#[test]
fn sigterm_mid_write_leaves_no_temporary_files() {
    use std::time::{Duration, Instant};
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let input = d.join("in");
    fs::create_dir(&input).unwrap();
    let shape = pixveil_image::Shape::new(64, 64, 3).unwrap();
    let img: Vec<u8> = (0..shape.len()).map(|i| (i * 7 % 251) as u8).collect();
    for i in 0..1000 {
        pixveil_image::files::write_png(&input.join(format!("{i}.png")), &img, shape).unwrap();
    }
    let key = d.join("k.key");
    pixveil()
        .args(["keygen", "--scheme", "pe", "--shape", "64x64x3", "-o"])
        .arg(&key)
        .assert()
        .success();
    let temporary = || {
        fs::read_dir(d)
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().into_string().ok())
            .filter(|n| n.contains("tmp"))
            .collect::<Vec<_>>()
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pixveil"))
        .args(["--quiet", "encrypt", "--key"])
        .arg(&key)
        .arg(&input)
        .arg("-o")
        .arg(d.join("out"))
        .spawn()
        .unwrap();
    // Wait for the write phase (its temporary folder), then SIGTERM.
    let start = Instant::now();
    let mut seen = false;
    while start.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if !temporary().is_empty() {
            seen = true;
            let status = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = child.wait().unwrap();
    // (The write phase of 1000 PNGs lasts far longer than the 2 ms between looks.)
    assert!(seen, "the write phase was not seen");
    // Killed by the signal (the handler re-raises it), unless it finished just before.
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.signal() == Some(15) || status.success(),
        "{status:?}"
    );
    assert!(temporary().is_empty(), "left behind: {:?}", temporary());
}
