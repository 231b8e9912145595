//! Helpers shared by the end-to-end tests.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `pixveil --quiet`.
pub fn pixveil() -> Command {
    let mut c = Command::cargo_bin("pixveil").unwrap();
    c.arg("--quiet");
    c
}

/// Runs `cmd`, which must succeed, and parses its stdout as one JSON value.
pub fn json_of(cmd: &mut Command) -> Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `cmd` fails with exit status 1 and one `error: …` line containing `needle`.
pub fn assert_error(cmd: &mut Command, needle: &str) {
    cmd.assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: ").and(predicate::str::contains(needle)));
}

/// `pixveil train --dataset sample-mnist --model <arch> -o <out> <extra…>`: the command the
/// training tests start from (finish it with `.arg(..)`, `.assert()`, `json_of` or `assert_error`).
pub fn train_on_sample<I, S>(arch: &str, out: &Path, extra: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut c = pixveil();
    c.args(["train", "--dataset", "sample-mnist", "--model", arch, "-o"])
        .arg(out)
        .args(extra);
    c
}

/// `train` of the TenSEAL CNN on the built-in MNIST sample, batch 16, `epochs` passes, with
/// `extra` arguments, writing `model`; returns the JSON report.
pub fn train_sample(model: &Path, epochs: &str, extra: &[&str]) -> Value {
    json_of(
        train_on_sample(
            "tenseal-cnn",
            model,
            ["--batch-size", "16", "--epochs", epochs, "--json"],
        )
        .args(extra),
    )
}

/// `keygen` of a stored (no passphrase) key of `scheme`, `shape` (`HxWxC`) and `mode` into
/// `dir/name`; returns its path.
pub fn keygen(dir: &Path, name: &str, scheme: &str, shape: &str, mode: &str) -> PathBuf {
    let key = dir.join(name);
    pixveil()
        .args([
            "keygen", "--scheme", scheme, "--shape", shape, "--mode", mode, "-o",
        ])
        .arg(&key)
        .assert()
        .success();
    key
}
