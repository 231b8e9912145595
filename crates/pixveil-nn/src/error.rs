//! Errors of `pixveil-nn`.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised while building, training, saving or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The safetensors container is malformed or truncated.
    #[error("safetensors: {0}")]
    SafeTensors(String),
    /// The checkpoint metadata is missing, of another version, or disagrees with the
    /// tensors.
    #[error("checkpoint metadata: {0}")]
    Metadata(String),
    /// Input data does not fit the model (shape, label count, label range).
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// An unknown architecture name.
    #[error("unknown architecture {0:?}")]
    UnknownArchitecture(String),
    /// The compute backend is not in this build, or failed (LibTorch errors).
    #[error("backend: {0}")]
    Backend(String),
}

impl From<safetensors::SafeTensorError> for Error {
    fn from(e: safetensors::SafeTensorError) -> Self {
        Self::SafeTensors(e.to_string())
    }
}
