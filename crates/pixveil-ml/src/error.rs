//! Errors of pixveil-ml.

use std::error::Error as StdError;

/// Everything that can go wrong in pixveil-ml. Messages are complete sentences for a user;
/// the [`Error::Context`] chain keeps the underlying cause as `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request that cannot be carried out as given: bad settings, a shape or scheme
    /// mismatch, a missing data folder. The message says what to change.
    #[error("{0}")]
    Invalid(String),
    /// What was being done when `source` failed.
    #[error("{context}")]
    Context {
        /// What was being done (names the file involved).
        context: String,
        /// The cause.
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },
    /// Image and dataset I/O.
    #[error(transparent)]
    Image(#[from] pixveil_image::Error),
    /// Keys and ciphers.
    #[error(transparent)]
    Cipher(#[from] pixveil_cipher::Error),
    /// The training engine.
    #[error(transparent)]
    Nn(#[from] pixveil_nn::Error),
    /// JSON serialisation.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// Result of pixveil-ml.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns early with [`Error::Invalid`] built like `format!`.
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::Invalid(format!($($arg)*)))
    };
}
pub(crate) use invalid;

/// Adds what was being done to an error, as [`Error::Context`].
pub(crate) trait Context<T> {
    /// Wraps the error with the message `f()`.
    fn context_with<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: StdError + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context_with<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: f().into(),
            source: Box::new(e),
        })
    }
}
