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
    /// Input data or tensors do not fit the model (input shape, tensor shape, tensor count,
    /// optimizer state of another model or kind).
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// Not one label per image.
    #[error("shape mismatch: {images} images but {labels} labels")]
    LabelCount {
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A label is not a class of the model.
    #[error("shape mismatch: label {label} out of range for {classes} classes")]
    LabelOutOfRange {
        /// The first offending label.
        label: u8,
        /// The model's class count.
        classes: usize,
    },
    /// A batch size of 0 was asked for.
    #[error("batch size 0")]
    ZeroBatchSize,
    /// A checkpoint lacks a tensor the model needs.
    #[error("missing tensor {name}")]
    MissingTensor {
        /// The tensor's name.
        name: String,
    },
    /// A checkpoint tensor holds NaN or infinite values.
    #[error("{name}: non-finite values")]
    NonFiniteTensor {
        /// The tensor's name.
        name: String,
    },
    /// A checkpoint tensor has an element type the reader does not take.
    #[error("{name}: unsupported dtype {dtype}")]
    UnsupportedDtype {
        /// The tensor's name.
        name: String,
        /// The safetensors dtype.
        dtype: String,
    },
    /// A training step produced a non-finite loss.
    #[error("training diverged (loss {loss}) after {images} images: lower the learning rate")]
    Diverged {
        /// The batch's summed loss (NaN or infinite).
        loss: f64,
        /// Images of the epoch trained before that batch.
        images: usize,
    },
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
