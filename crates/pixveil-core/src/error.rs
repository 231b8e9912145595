//! Errors of the core crate.

/// Everything that can go wrong while reading pixveil containers or deriving keys.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The data does not start with the pixveil magic bytes.
    #[error("not a pixveil file (bad magic bytes)")]
    BadMagic,
    /// The container was written by a newer pixveil.
    #[error("file format version {found} is newer than the supported version {supported}; upgrade pixveil")]
    UnsupportedVersion {
        /// Version found in the file.
        found: u16,
        /// Highest version this build reads.
        supported: u16,
    },
    /// The container holds another kind of object than the one asked for.
    #[error("expected a {expected} file, found a {found} file")]
    WrongKind {
        /// Kind the caller asked for.
        expected: &'static str,
        /// Kind found in the file.
        found: String,
    },
    /// The data ends before the declared lengths.
    #[error("file is truncated: needs {needed} bytes, has {available}")]
    Truncated {
        /// Bytes required by the header.
        needed: u64,
        /// Bytes actually present.
        available: u64,
    },
    /// A declared length exceeds the hard limit for this field.
    #[error("{field} length {declared} exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Which field.
        field: &'static str,
        /// Declared length.
        declared: u64,
        /// Maximum accepted.
        limit: u64,
    },
    /// Bytes after the end of the container.
    #[error("{0} unexpected trailing bytes after the end of the file")]
    TrailingBytes(u64),
    /// The SHA-256 checksum does not match: the file was modified or damaged.
    #[error("checksum mismatch: the file is corrupt or has been tampered with")]
    Checksum,
    /// The metadata is not valid JSON for the expected structure.
    #[error("invalid metadata: {0}")]
    Metadata(String),
    /// A passphrase-derived key does not match the key file's check value.
    #[error("wrong passphrase for this key file")]
    WrongPassphrase,
    /// The settings of an authenticated container (a key file's scheme, mode, shape and
    /// parameters) do not match their MAC under the secret: the file was edited or damaged.
    #[error("its settings (scheme, mode, shape, parameters) fail their authentication check under the secret: the file was edited or damaged; do not use it")]
    SettingsMac,
    /// Key-derivation parameters are out of range.
    #[error("invalid key-derivation parameters: {0}")]
    KdfParams(String),
    /// A secret has the wrong length.
    #[error("secret must be {expected} bytes, got {found}")]
    SecretLength {
        /// Required length.
        expected: usize,
        /// Length found.
        found: usize,
    },
}

/// Result alias of the core crate.
pub type Result<T> = std::result::Result<T, Error>;
