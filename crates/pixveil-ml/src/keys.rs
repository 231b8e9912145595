//! Key files and passphrase files.

use std::path::Path;

use pixveil_cipher::KeyFile;
use zeroize::Zeroizing;

use crate::error::{invalid, Context, IoContext, Result};

/// Reads a passphrase file: its content minus one trailing newline (`\n` or `\r\n`), wiped
/// when dropped.
///
/// # Errors
/// An unreadable or empty file.
pub fn read_passphrase(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(std::fs::read(path).io_context("read passphrase file", path)?);
    for suffix in [&b"\r\n"[..], b"\n"] {
        if bytes.ends_with(suffix) {
            let n = bytes.len() - suffix.len();
            bytes.truncate(n);
            break;
        }
    }
    if bytes.is_empty() {
        invalid!("passphrase file {} is empty", path.display());
    }
    Ok(bytes)
}

/// Loads a key file, with the passphrase from `passphrase_file` when the key needs one.
///
/// # Errors
/// An unreadable or corrupt key file, a wrong or missing passphrase.
pub fn load_key(path: &Path, passphrase_file: Option<&Path>) -> Result<KeyFile> {
    // A stored key's bytes hold its secret: wiped when dropped.
    let bytes = Zeroizing::new(std::fs::read(path).io_context("read key file", path)?);
    let pass = passphrase_file.map(read_passphrase).transpose()?;
    KeyFile::from_bytes(&bytes, pass.as_ref().map(|p| p.as_slice()))
        .context_with(|| format!("{}", path.display()))
}
