//! Errors of the image crate, split by fault (as the `image` crate does).

use std::path::PathBuf;

/// Everything that can go wrong while reading or writing image data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A shape is invalid or does not fit the data.
    #[error("invalid shape: {0}")]
    InvalidShape(String),
    /// A file's content is malformed (bad magic, truncated, inconsistent header, …).
    #[error("{path}: {reason}")]
    Decoding {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A declared size exceeds pixveil's limits.
    #[error("{path}: {reason}")]
    Limits {
        /// The offending file.
        path: PathBuf,
        /// Which limit was exceeded.
        reason: String,
    },
    /// The input is of a kind pixveil does not handle.
    #[error("{path}: unsupported input: {reason}")]
    Unsupported {
        /// The offending path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Required data files are missing.
    #[error("{what}: none of these exists: {}", list_paths(tried))]
    NotFound {
        /// What was being looked for (e.g. "mnist test images").
        what: String,
        /// Every path tried, in order.
        tried: Vec<PathBuf>,
    },
    /// The caller asked for something inconsistent.
    #[error("{0}")]
    Parameter(String),
    /// An operating-system I/O error. The message names the file only: the cause is the
    /// `source()` (printing the chain, e.g. `{:#}` of `anyhow`, says `PATH: CAUSE` once).
    #[error("{path}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Result alias of the image crate.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the user-facing messages: every variant names the file (or what was sought).
    #[test]
    fn error_strings() {
        let p = || PathBuf::from("data/t10k-images-idx3-ubyte.gz");
        let cases = [
            (Error::InvalidShape("0x4x1".into()), "invalid shape: 0x4x1"),
            (
                Error::Decoding {
                    path: p(),
                    reason: "bad IDX magic".into(),
                },
                "data/t10k-images-idx3-ubyte.gz: bad IDX magic",
            ),
            (
                Error::Limits {
                    path: p(),
                    reason: "too big".into(),
                },
                "data/t10k-images-idx3-ubyte.gz: too big",
            ),
            (
                Error::Unsupported {
                    path: p(),
                    reason: "labels".into(),
                },
                "data/t10k-images-idx3-ubyte.gz: unsupported input: labels",
            ),
            (
                Error::NotFound {
                    what: "mnist test data".into(),
                    tried: vec![PathBuf::from("a"), PathBuf::from("b.gz")],
                },
                "mnist test data: none of these exists: a, b.gz",
            ),
            (Error::Parameter("per_row is 0".into()), "per_row is 0"),
            (
                Error::Io {
                    path: p(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
                },
                "data/t10k-images-idx3-ubyte.gz",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
        // A cause is printed once: by the chain, not by the message.
        let e = Error::Io {
            path: p(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        };
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("gone"));
    }
}
