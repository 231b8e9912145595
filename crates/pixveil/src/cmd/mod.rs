//! Subcommand implementations.

pub mod analyze;
pub mod attack;
mod bench;
mod crypt;
mod demo;
pub mod eval;
pub mod experiments;
pub mod he;
mod info;
mod keygen;
pub mod predict;
pub mod service;
pub mod train;

use std::path::Path;

use anyhow::{Context, Result};
use pixveil_core::fsio;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: &Cli) -> Result<()> {
    pixveil_ml::engine::set_backend(cli.backend(), cli.threads)?;
    match &cli.command {
        Command::Keygen(a) => keygen::run(a),
        Command::Rekey(a) => keygen::rekey(a),
        Command::Encrypt(a) => crypt::run(a, pixveil_ml::crypt::Direction::Encrypt, cli.quiet),
        Command::Decrypt(a) => crypt::run(a, pixveil_ml::crypt::Direction::Decrypt, cli.quiet),
        Command::Info(a) => info::run(a),
        Command::Analyze(a) => analyze::run(a, cli.quiet),
        Command::Attack(a) => attack::run(a, cli.quiet),
        Command::Bench(a) => bench::run(a),
        Command::Demo(a) => demo::run(a, cli.quiet),
        Command::Train(a) => train::run(a, cli.quiet),
        Command::Eval(a) => eval::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Experiments(a) => experiments::run(a, cli.quiet),
        Command::ExportModel(a) => he::export_model(a),
        Command::HeEval(a) => he::he_eval_cmd(a, cli.threads, cli.quiet),
        Command::Serve(a) => service::serve(a),
        Command::Client(c) => service::client(c, cli.quiet),
    }
}

/// Writes `bytes` to `path` atomically with ordinary permissions (pixveil-core's one atomic
/// writer), so a failure never leaves a partial file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    fsio::write_atomic(path, bytes, fsio::Access::Ordinary)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes a secret file (a key file) atomically, readable and writable by its owner only
/// (mode 0600 on unix, whatever the umask).
pub(crate) fn write_secret_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    fsio::write_atomic(path, bytes, fsio::Access::OwnerOnly)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Fails unless `path` can be written: not a folder, and its folder exists and accepts a new
/// file. Checked before long work starts.
pub(crate) fn check_writable(path: &Path) -> Result<()> {
    fsio::check_writable(path).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a passphrase file: its content minus one trailing newline, zeroized on drop.
pub(crate) fn read_passphrase(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    Ok(pixveil_ml::keys::read_passphrase(path)?)
}

/// Loads a key file (asking for the passphrase file when the key needs one).
pub(crate) fn load_key(
    path: &Path,
    passphrase_file: Option<&Path>,
) -> Result<pixveil_cipher::KeyFile> {
    Ok(pixveil_ml::keys::load_key(path, passphrase_file)?)
}
