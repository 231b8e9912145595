//! Errors of pixveil-ml.

use std::error::Error as StdError;
use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in pixveil-ml. Messages are complete sentences for a user.
/// A variant that wraps a cause keeps it as `source()` and never repeats it in its own
/// message (the wrapped errors of other crates are transparent: their message is the cause's),
/// so printing the chain (`{:#}` of `anyhow`, [`full_message`]) says everything once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request that cannot be carried out as given (a bad spec): a setting out of range, an
    /// unknown name, a model that does not take the dataset's images, a missing data folder.
    /// The message says what to change.
    #[error("{0}")]
    Invalid(String),
    /// A key that does not fit what it is used with: another image shape, another scheme or
    /// key mode than the model was trained on, no key for a model trained on encrypted
    /// images.
    #[error("{0}")]
    KeyMismatch(String),
    /// A training run diverged: the mean loss of an epoch is not finite.
    #[error("training diverged in epoch {epoch} (loss {loss}); lower --lr")]
    Diverged {
        /// The epoch, 1-based.
        epoch: usize,
        /// Its mean training loss (NaN or infinite).
        loss: f64,
    },
    /// A file or folder that cannot be read, written or created.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done: `read key file`, `write`, `create`, ….
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
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
    /// Manifests (beside encrypted outputs).
    #[error(transparent)]
    Manifest(#[from] pixveil_cipher::ManifestError),
    /// The training engine.
    #[error(transparent)]
    Nn(#[from] pixveil_nn::Error),
    /// JSON serialisation.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// CSV serialisation (`results.csv`).
    #[error(transparent)]
    Csv(#[from] csv::Error),
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

/// Returns early with [`Error::KeyMismatch`] built like `format!`.
macro_rules! key_mismatch {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::KeyMismatch(format!($($arg)*)))
    };
}
pub(crate) use key_mismatch;

/// Names the file of an I/O error, as [`Error::Io`].
pub(crate) trait IoContext<T> {
    /// Wraps the error: "cannot `action` `path`".
    fn io_context(self, action: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn io_context(self, action: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The message of `e` and of every cause after it, joined by `": "` (what `anyhow` prints for
/// `{:#}`): the one-line form of an error recorded as text, e.g. in a results table.
pub fn full_message(e: &(dyn StdError + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

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
