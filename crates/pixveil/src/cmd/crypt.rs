//! `pixveil encrypt` and `pixveil decrypt`: the library's [`pixveil_ml::crypt`] with a progress
//! bar and a summary.

use anyhow::Result;
use pixveil_ml::crypt::{self, CryptRequest, Direction};

use crate::{cli::CryptArgs, progress};

/// Encrypts or decrypts `a.input` into `a.output`, then prints the summary (JSON on stdout with
/// `--json`, else one line on stderr unless `quiet`).
pub fn run(a: &CryptArgs, direction: Direction, quiet: bool) -> Result<()> {
    let key = super::load_key(&a.key, a.passphrase.path())?;
    let req = CryptRequest {
        direction,
        key: &key,
        key_path: &a.key,
        input: &a.input,
        output: &a.output,
    };
    let label = match direction {
        Direction::Encrypt => "encrypting",
        Direction::Decrypt => "decrypting",
    };
    let pb = progress::bar(0, label, quiet);
    let summary = crypt::crypt_file(&req, &|done, total| {
        pb.set_length(total as u64);
        pb.inc(done as u64);
    });
    pb.finish_and_clear();
    let summary = summary?;
    for w in &summary.warnings {
        eprintln!("warning: {w}");
    }
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else if !quiet {
        eprintln!(
            "{}ed {} images ({}, {}, {} mode) in {:.3} s (reading, cipher, writing; the cipher \
             alone {:.3} s, {:.0} MB/s) -> {}",
            summary.direction.as_str(),
            summary.images,
            summary.shape,
            summary.scheme,
            summary.mode,
            summary.total_seconds,
            summary.seconds,
            summary.mb_s,
            summary.output
        );
    }
    Ok(())
}
