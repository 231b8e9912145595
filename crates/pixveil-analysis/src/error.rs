//! Errors of the analysis crate.

/// What can go wrong while measuring or attacking.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The cipher failed (shape mismatch, bad parameters, nonce generation…).
    #[error(transparent)]
    Cipher(#[from] pixveil_cipher::Error),
    /// An image-data error (shape, PNG encoding).
    #[error(transparent)]
    Image(#[from] pixveil_image::Error),
    /// The images do not have the shape the analysis expects.
    #[error("shape mismatch in {op}: expected {expected}, found {found}")]
    ShapeMismatch {
        /// The operation.
        op: &'static str,
        /// Expected shape or length.
        expected: String,
        /// What was given.
        found: String,
    },
    /// Not enough images for the requested analysis (e.g. `pairs` ≥ number of images).
    #[error("not enough images: {0}")]
    NotEnoughImages(String),
    /// The classifier of a content score failed.
    #[error("content classifier: {0}")]
    Classifier(String),
    /// An invalid analysis parameter.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
