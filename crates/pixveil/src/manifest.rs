//! The manifest written beside every encrypted output: `<OUTPUT>.pxv`.
//!
//! A [`pixveil_core::format`] container of kind `manifest`. Its metadata records the scheme,
//! shape, key mode, the public key id and the image count (and, for folders, the file names);
//! its body holds the 16-byte per-image nonces (per-image mode) in image order. `decrypt` finds
//! it by itself, refuses a key whose id differs, and takes the nonces from it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pixveil_cipher::{KeyMode, Nonce, SchemeSpec};
use pixveil_core::format;
use pixveil_image::Shape;
use serde::{Deserialize, Serialize};

/// Container kind of manifests.
pub const KIND: &str = "manifest";
/// Most images one manifest may describe (bounds the body allocation: 16 bytes each).
const MAX_IMAGES: u64 = 1 << 28;

/// What an encrypted output was made with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Scheme parameters.
    pub spec: SchemeSpec,
    /// Image shape.
    pub shape: Shape,
    /// Key mode.
    pub mode: KeyMode,
    /// Public id of the key that encrypted the data.
    pub key_id: String,
    /// Number of images.
    pub count: u64,
    /// File names, for folder outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// Per-image nonces (not in the JSON: in the body).
    #[serde(skip)]
    pub nonces: Vec<Nonce>,
}

/// `<path>.pxv`.
pub fn path_for(data: &Path) -> PathBuf {
    let mut s = data.as_os_str().to_owned();
    s.push(".pxv");
    PathBuf::from(s)
}

impl Manifest {
    /// Serialises the manifest.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let body: Vec<u8> = self.nonces.iter().flat_map(|n| n.0).collect();
        Ok(format::encode(KIND, self, &body)?)
    }

    /// Parses and validates a manifest.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let d = format::decode::<Manifest>(bytes, KIND, MAX_IMAGES * 16)?;
        let mut m = d.meta;
        if d.body.len() % 16 != 0 {
            bail!("manifest body is not a whole number of 16-byte nonces");
        }
        m.nonces = d
            .body
            .chunks_exact(16)
            .map(|c| {
                let mut a = [0u8; 16];
                a.copy_from_slice(c);
                Nonce(a)
            })
            .collect();
        let expected = match m.mode {
            KeyMode::Fixed => 0,
            KeyMode::PerImage => m.count,
        };
        if m.nonces.len() as u64 != expected {
            bail!(
                "manifest holds {} nonces for {} images in {} mode",
                m.nonces.len(),
                m.count,
                m.mode
            );
        }
        if let Some(names) = &m.names {
            if names.len() as u64 != m.count {
                bail!(
                    "manifest lists {} names for {} images",
                    names.len(),
                    m.count
                );
            }
        }
        Ok(m)
    }

    /// Reads the manifest beside `data`, if there is one.
    pub fn read_beside(data: &Path) -> Result<Option<Self>> {
        let path = path_for(data);
        match std::fs::read(&path) {
            Ok(bytes) => Self::from_bytes(&bytes)
                .with_context(|| format!("{}", path.display()))
                .map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}
