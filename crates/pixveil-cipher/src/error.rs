//! Errors of the cipher crate.

/// Everything that can go wrong while building or applying a cipher or reading a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image does not have the shape the key was made for.
    #[error("shape mismatch: the key is for {expected} images, the data has {found}")]
    ShapeMismatch {
        /// Shape of the key / cipher.
        expected: String,
        /// Shape of the data.
        found: String,
    },
    /// A scheme parameter is invalid for this shape (e.g. a block size that does not divide it).
    #[error("invalid parameter for scheme {scheme}: {reason}")]
    InvalidParameter {
        /// Scheme name.
        scheme: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The key file is malformed, of a newer version, or protected by another passphrase.
    /// The message names the file kind only; what is wrong is the `source()` (printing the
    /// chain, e.g. `{:#}` of `anyhow`, says `key file: CAUSE` once).
    #[error("key file")]
    Key(#[from] pixveil_core::Error),
    /// The key file's content is inconsistent.
    #[error("key file: {0}")]
    InvalidKey(String),
    /// The key file has no settings MAC (written before issue 15): its scheme, mode, shape and
    /// parameters could have been edited without detection, so it is refused.
    #[error("key file: written by an older pixveil, its settings (scheme, mode, shape, parameters) are not authenticated, so an edit of them cannot be detected. Check them with `pixveil info KEY` and convert the key with `pixveil rekey KEY --output NEW` (same secret: what it encrypted still decrypts), or make a new key with `pixveil keygen`")]
    LegacyKey,
    /// A passphrase is needed to use this key file.
    #[error("this key file is protected by a passphrase: pass --passphrase-file")]
    PassphraseRequired,
    /// Per-image mode was used without nonces.
    #[error("nonces: per-image mode needs one nonce per image")]
    MissingNonces,
    /// Not one nonce per image.
    #[error("nonces: {images} images but {nonces} nonces")]
    NonceCount {
        /// Number of images.
        images: usize,
        /// Number of nonces given.
        nonces: usize,
    },
    /// A nonce is not 32 hex characters.
    #[error("nonces: bad nonce {nonce:?}: {reason}")]
    BadNonce {
        /// The text given.
        nonce: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The operating system could not provide randomness for fresh nonces.
    #[error("nonces: OS random number generator failed: {0}")]
    Randomness(String),
    /// The throughput benchmark could not run (e.g. its thread pool could not be built).
    #[error("benchmark: {0}")]
    Bench(String),
}

/// Result alias of the cipher crate.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn check_len(shape: pixveil_image::Shape, image: &[u8]) -> Result<()> {
    if image.len() == shape.len() {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            expected: format!("{shape} ({} bytes)", shape.len()),
            found: format!("{} bytes", image.len()),
        })
    }
}
