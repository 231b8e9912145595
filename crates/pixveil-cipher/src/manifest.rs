//! The manifest written beside every encrypted output: `<OUTPUT>.pxv`.
//!
//! A [`pixveil_core::format`] container of kind `manifest`. Its metadata records the scheme,
//! shape, key mode, the public key id and the image count (and, for folders, the file names);
//! its body holds the 16-byte per-image nonces (per-image mode) in image order. Decryption finds
//! it by itself, refuses a key whose id differs, and takes the nonces from it.

use std::path::{Path, PathBuf};

use pixveil_core::{format, fsio};
use pixveil_image::Shape;
use serde::{Deserialize, Serialize};

use crate::{KeyMode, Nonce, SchemeSpec};

/// Container kind of manifests.
pub const KIND: &str = "manifest";
/// Most images one manifest may describe (bounds the body allocation: 16 bytes each).
const MAX_IMAGES: u64 = 1 << 28;

/// What can go wrong reading or writing a manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The container is not a valid manifest container.
    #[error(transparent)]
    Format(#[from] pixveil_core::Error),
    /// The body length is not a multiple of 16 bytes.
    #[error("manifest body is not a whole number of 16-byte nonces")]
    RaggedBody,
    /// The nonce count does not fit the mode and image count.
    #[error("manifest holds {nonces} nonces for {count} images in {mode} mode")]
    NonceCount {
        /// Nonces in the body.
        nonces: usize,
        /// Images declared.
        count: u64,
        /// Key mode declared.
        mode: KeyMode,
    },
    /// The name list does not fit the image count.
    #[error("manifest lists {names} names for {count} images")]
    NameCount {
        /// Names listed.
        names: usize,
        /// Images declared.
        count: u64,
    },
    /// The manifest file at `path` is invalid.
    #[error("{}", path.display())]
    Invalid {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: Box<ManifestError>,
    },
    /// The manifest file cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The manifest file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest file cannot be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The manifest file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

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
    /// File names, for folder outputs (`count` of them when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// Per-image nonces in image order (not in the JSON: in the body): `count` of them in
    /// per-image mode, none in fixed mode.
    #[serde(skip)]
    pub nonces: Vec<Nonce>,
}

/// `<path>.pxv`: where the manifest of the output `data` (a file or a folder) lives.
pub fn path_for(data: &Path) -> PathBuf {
    let mut s = data.as_os_str().to_owned();
    s.push(".pxv");
    PathBuf::from(s)
}

impl Manifest {
    /// Serialises the manifest: the metadata as JSON, the nonces as the body (16 bytes each).
    ///
    /// # Errors
    /// Container encoding errors.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ManifestError> {
        let body: Vec<u8> = self.nonces.iter().flat_map(|n| n.0).collect();
        Ok(format::encode(KIND, self, &body)?)
    }

    /// Parses and validates a manifest: whole nonces, as many as the mode and count require,
    /// as many names as images.
    ///
    /// # Errors
    /// A damaged or foreign container, or counts that do not agree.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ManifestError> {
        let d = format::decode::<Manifest>(bytes, KIND, MAX_IMAGES * 16)?;
        let mut m = d.meta;
        if d.body.len() % 16 != 0 {
            return Err(ManifestError::RaggedBody);
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
            return Err(ManifestError::NonceCount {
                nonces: m.nonces.len(),
                count: m.count,
                mode: m.mode,
            });
        }
        if let Some(names) = &m.names {
            if names.len() as u64 != m.count {
                return Err(ManifestError::NameCount {
                    names: names.len(),
                    count: m.count,
                });
            }
        }
        Ok(m)
    }

    /// Reads the manifest beside `data` ([`path_for`]), if there is one.
    ///
    /// # Errors
    /// An unreadable or invalid manifest file (a missing one is `Ok(None)`).
    pub fn read_beside(data: &Path) -> Result<Option<Self>, ManifestError> {
        let path = path_for(data);
        match std::fs::read(&path) {
            Ok(bytes) => Self::from_bytes(&bytes)
                .map_err(|e| ManifestError::Invalid {
                    path: path.clone(),
                    source: Box::new(e),
                })
                .map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ManifestError::Read { path, source }),
        }
    }

    /// Writes the manifest beside `data` ([`path_for`]) atomically.
    ///
    /// # Errors
    /// Encoding or I/O errors; the manifest file is then left as it was.
    pub fn write_beside(&self, data: &Path) -> Result<(), ManifestError> {
        let path = path_for(data);
        let bytes = self.to_bytes()?;
        fsio::write_atomic(&path, &bytes, fsio::Access::Ordinary)
            .map_err(|source| ManifestError::Write { path, source })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn manifest(mode: KeyMode, count: u64, nonces: usize) -> Manifest {
        Manifest {
            spec: SchemeSpec::from_name("pe", None).unwrap(),
            shape: Shape::new(28, 28, 1).unwrap(),
            mode,
            key_id: "abc".into(),
            count,
            names: None,
            nonces: vec![Nonce([7; 16]); nonces],
        }
    }

    #[test]
    fn round_trip_and_count_checks() {
        let m = manifest(KeyMode::PerImage, 3, 3);
        let back = Manifest::from_bytes(&m.to_bytes().unwrap()).unwrap();
        assert_eq!(back.nonces.len(), 3);
        assert_eq!(back.count, 3);
        let bad = manifest(KeyMode::PerImage, 4, 3).to_bytes().unwrap();
        let e = Manifest::from_bytes(&bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "manifest holds 3 nonces for 4 images in per-image mode"
        );
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("out.idx");
        assert!(Manifest::read_beside(&data).unwrap().is_none());
        m.write_beside(&data).unwrap();
        assert!(path_for(&data).ends_with("out.idx.pxv"));
        assert_eq!(Manifest::read_beside(&data).unwrap().unwrap().count, 3);
    }
}
