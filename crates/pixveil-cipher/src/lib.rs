//! Perceptual (pixel- and block-based) image ciphers for privacy-preserving deep learning.
//!
//! Every scheme implements [`Cipher`]: a keyed, exactly invertible map on one `H×W×C` image
//! (`HWC` bytes, see [`pixveil_image`]). A [`SchemeSpec`] names a scheme and its public
//! parameters; [`SchemeSpec::build`] turns it, an image [`Shape`] and a
//! 256-bit secret into a ready cipher whose masks, keystreams and permutations are computed
//! once, so encrypting many images with one key costs one pass over the data.
//!
//! Key modes ([`KeyMode`]): **fixed** (one key for every image, papers A and B: what lets a CNN
//! learn, and what a known-plaintext attack breaks) and **per-image** (each image gets its own
//! key derived from the master secret and a stored 128-bit nonce; under derivation v3 `pe`,
//! `pe-np`, `le` and `etc` read it from one ChaCha20 stream per image, see [`per_image`]).
//!
//! `unsafe` code is confined to the module `kernels` (AVX-512 and AVX2 byte kernels chosen at
//! run time, each with a portable path; [`bench::kernels`] names the ones chosen); every
//! `unsafe` block there states why it holds.
#![deny(unsafe_code)]

pub mod error;
pub mod keyfile;
pub mod manifest;
pub mod mode;
mod scheme_id;
pub mod spec;

pub mod bench;
pub mod kat;
#[allow(unsafe_code)]
mod kernels;
mod sample;
mod scratch;

pub mod chain;
pub mod etc;
pub mod le;
pub mod logistic;
pub mod pe;
pub mod per_image;

pub use error::{Error, Result};
pub use keyfile::{KeyFile, Protection};
pub use manifest::{Manifest, ManifestError};
pub use mode::{BatchCipher, KeyMode, Nonce};
pub use scheme_id::{scheme_id, PLAIN_SCHEME};
pub use spec::{KdfVersion, SchemeSpec};

use pixveil_image::Shape;

/// A keyed, exactly invertible transform of one image.
///
/// Implementations are built for one [`Shape`]; `encrypt` and `decrypt` take one image of that
/// shape (`shape().len()` bytes, `HWC`) and transform it in place.
///
/// Invariant: `decrypt(encrypt(x)) == x` for every image `x` of the shape.
pub trait Cipher: Send + Sync {
    /// The image shape this instance was built for.
    fn shape(&self) -> Shape;
    /// Encrypts one image in place.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `image.len() != self.shape().len()`.
    fn encrypt(&self, image: &mut [u8]) -> Result<()>;
    /// Decrypts one image in place (inverse of [`Cipher::encrypt`]).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `image.len() != self.shape().len()`.
    fn decrypt(&self, image: &mut [u8]) -> Result<()>;
}
