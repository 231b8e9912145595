//! Errors of `pixveil-service`.

use crate::api::Problem;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the server's setup and of the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or socket operation failed: what was being done; the cause is the `source()`.
    #[error("{0}")]
    Io(String, #[source] std::io::Error),
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Config(String),
    /// The server could not be reached (after retries).
    #[error("cannot reach the server {url}: {reason}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// The transport's error.
        reason: String,
    },
    /// The server answered with an error document.
    #[error("the server refused the request: {0}")]
    Server(Problem),
    /// The server answered something this client cannot read.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// A client key file is damaged, of another kind, or of another server's plan.
    #[error("client key: {0}")]
    ClientKey(String),
    /// The images do not fit the model.
    #[error("{0}")]
    Input(String),
    /// Encrypted inference refused an object.
    #[error(transparent)]
    He(#[from] pixveil_henn::Error),
    /// The perceptual key or cipher refused.
    #[error(transparent)]
    Cipher(#[from] pixveil_cipher::Error),
    /// The container format refused a file.
    #[error(transparent)]
    Format(#[from] pixveil_core::Error),
    /// Reading images failed.
    #[error(transparent)]
    Image(#[from] pixveil_image::Error),
    /// Reading the model failed.
    #[error(transparent)]
    Model(#[from] pixveil_nn::Error),
}
