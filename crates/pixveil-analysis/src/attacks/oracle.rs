//! The victim's encryption oracle.

use std::sync::atomic::{AtomicUsize, Ordering};

use pixveil_cipher::{BatchCipher, KeyMode, Nonce};
use pixveil_image::Shape;

use crate::{Error, Result};

/// Plays the victim: encrypts images with the victim's [`BatchCipher`] and counts the attacker's
/// chosen-plaintext queries.
///
/// In per-image mode every call draws a fresh nonce (as `pixveil encrypt` does), so two queries
/// — or a query and a target — are encrypted under unrelated keys. That is exactly why the
/// attacks fail in that mode.
#[derive(Debug)]
pub struct EncryptionOracle<'a> {
    cipher: &'a BatchCipher,
    queries: AtomicUsize,
}

impl<'a> EncryptionOracle<'a> {
    /// An oracle for `cipher`, with a query count of 0.
    pub fn new(cipher: &'a BatchCipher) -> Self {
        Self {
            cipher,
            queries: AtomicUsize::new(0),
        }
    }

    /// The image shape.
    pub fn shape(&self) -> Shape {
        self.cipher.shape()
    }
    /// The key mode.
    pub fn mode(&self) -> KeyMode {
        self.cipher.mode()
    }
    /// The scheme (public, Kerckhoffs).
    pub fn spec(&self) -> &pixveil_cipher::SchemeSpec {
        self.cipher.spec()
    }

    /// Chosen-plaintext query: the encryption of `image` (`H·W·C` bytes). Counted.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a wrong length; cipher errors.
    pub fn query(&self, image: &[u8]) -> Result<Vec<u8>> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.encrypt_uncounted(image)
    }

    /// The victim encrypting one of its own images (known pairs, targets). Not counted as a
    /// query.
    ///
    /// # Errors
    /// As [`EncryptionOracle::query`].
    pub fn encrypt_uncounted(&self, image: &[u8]) -> Result<Vec<u8>> {
        let shape = self.shape();
        if image.len() != shape.len() {
            return Err(Error::ShapeMismatch {
                op: "oracle",
                expected: shape.to_string(),
                found: format!("{} bytes", image.len()),
            });
        }
        let nonce = match self.mode() {
            KeyMode::Fixed => None,
            KeyMode::PerImage => Nonce::fresh(1)?.into_iter().next(),
        };
        let c = self.cipher.cipher_for(nonce.as_ref())?;
        let mut out = image.to_vec();
        c.get().encrypt(&mut out)?;
        Ok(out)
    }

    /// Number of chosen-plaintext queries so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }
}
