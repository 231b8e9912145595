//! Foundations shared by every pixveil crate.
//!
//! * [`format`](mod@format): the one versioned, checksummed container used for key files, nonce files and
//!   other pixveil objects, and the MAC that binds a container's settings to a secret;
//! * [`secret`]: the 256-bit [`MasterSecret`], zeroized on drop, never printed, compared in
//!   constant time;
//! * [`fsio`]: the one atomic file writer (temporary file beside the destination, then a
//!   rename), with an owner-only option for secrets;
//! * [`kdf`]: HKDF-SHA-256 derivation of independent ChaCha20 streams from a master secret, and
//!   Argon2id for passphrases.
#![forbid(unsafe_code)]

pub mod error;
pub mod format;
pub mod fsio;
pub mod kdf;
pub mod machine;
pub mod secret;

pub use error::{Error, Result};
pub use secret::MasterSecret;
