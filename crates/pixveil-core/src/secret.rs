//! The 256-bit master secret every pixveil key is derived from.

use std::fmt;

use hmac::{Hmac, Mac};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, OsRng, RngCore, TryRngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{kdf, Error, Result};

/// Length of a master secret in bytes (256 bits).
pub const SECRET_LEN: usize = 32;

/// A 256-bit master secret.
///
/// Invariants: zeroized when dropped; its `Debug` output is redacted; equality is constant-time.
/// Every keystream, mask and permutation of every scheme is derived from it with
/// [`MasterSecret::derive_rng`], so a key file alone reproduces an encryption.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterSecret([u8; SECRET_LEN]);

impl MasterSecret {
    /// Wraps raw secret bytes.
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Self {
        Self(bytes)
    }

    /// Wraps a slice that must be exactly [`SECRET_LEN`] bytes.
    ///
    /// # Errors
    /// [`Error::SecretLength`] otherwise.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; SECRET_LEN] = bytes.try_into().map_err(|_| Error::SecretLength {
            expected: SECRET_LEN,
            found: bytes.len(),
        })?;
        Ok(Self(arr))
    }

    /// Draws a fresh secret from the given cryptographically secure generator.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut bytes = [0u8; SECRET_LEN];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Draws a fresh secret from the operating system's CSPRNG.
    ///
    /// # Panics
    /// Only if the operating system cannot provide randomness at all, in which case no key can
    /// be made safely.
    pub fn generate_os() -> Self {
        let mut bytes = [0u8; SECRET_LEN];
        #[allow(clippy::expect_used)]
        OsRng
            .try_fill_bytes(&mut bytes)
            .expect("the operating system's random number generator failed");
        Self(bytes)
    }

    /// The raw bytes, for serialisation into a key file only.
    pub fn expose_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    /// Derives an independent 256-bit subkey for `label` and `context` (HKDF-SHA-256).
    pub fn derive(&self, label: &str, context: &[u8]) -> MasterSecret {
        MasterSecret(kdf::hkdf_expand(&self.0, label, context))
    }

    /// Derives a ChaCha20 CSPRNG for `label` and `context` (HKDF-SHA-256 → 256-bit seed).
    ///
    /// Distinct labels/contexts give independent streams; the same inputs give the same stream on
    /// every machine.
    pub fn derive_rng(&self, label: &str, context: &[u8]) -> ChaCha20Rng {
        kdf::rng_from_seed(kdf::hkdf_expand(&self.0, label, context))
    }

    /// HMAC-SHA-256 of `message` under the subkey `derive(label, "")` (HKDF-SHA-256), so each
    /// use of a MAC has a key of its own that is independent of every stream and subkey.
    pub fn mac(&self, label: &str, message: &[u8]) -> [u8; 32] {
        let key = Zeroizing::new(kdf::hkdf_expand(&self.0, label, b""));
        #[allow(clippy::expect_used)]
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_slice())
            .expect("HMAC accepts keys of every length");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is [`MasterSecret::mac`]`(label, message)`, compared in constant time (a
    /// tag of another length is simply wrong).
    pub fn verify_mac(&self, label: &str, message: &[u8], tag: &[u8]) -> bool {
        let expected = self.mac(label, message);
        tag.len() == expected.len() && bool::from(expected.as_slice().ct_eq(tag))
    }

    /// A 128-bit public check value identifying this secret (for "wrong passphrase" detection).
    /// It reveals nothing useful about the secret (HKDF output under a dedicated label).
    pub fn check_value(&self) -> [u8; 16] {
        let full = kdf::hkdf_expand(&self.0, "pixveil/v1/check-value", b"");
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }
}

impl ConstantTimeEq for MasterSecret {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for MasterSecret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for MasterSecret {}

impl fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = MasterSecret::from_bytes([0xAB; 32]);
        let text = format!("{s:?}");
        assert!(!text.to_lowercase().contains("ab"), "{text}");
    }

    #[test]
    fn derivation_is_deterministic_and_separated() {
        let s = MasterSecret::from_bytes([7; 32]);
        let a = s.derive_rng("x", b"1").next_u64();
        assert_eq!(a, s.derive_rng("x", b"1").next_u64());
        assert_ne!(a, s.derive_rng("x", b"2").next_u64());
        assert_ne!(a, s.derive_rng("y", b"1").next_u64());
        assert_ne!(
            s.check_value(),
            MasterSecret::from_bytes([8; 32]).check_value()
        );
    }

    #[test]
    fn equality_and_lengths() {
        assert_eq!(
            MasterSecret::from_bytes([1; 32]),
            MasterSecret::from_bytes([1; 32])
        );
        assert_ne!(
            MasterSecret::from_bytes([1; 32]),
            MasterSecret::from_bytes([2; 32])
        );
        assert!(matches!(
            MasterSecret::from_slice(&[0; 31]),
            Err(Error::SecretLength {
                expected: 32,
                found: 31
            })
        ));
        assert_ne!(MasterSecret::generate_os(), MasterSecret::generate_os());
    }

    #[test]
    fn mac_is_keyed_labelled_and_checked() {
        let s = MasterSecret::from_bytes([7; 32]);
        let t = s.mac("a", b"message");
        assert!(s.verify_mac("a", b"message", &t));
        assert!(!s.verify_mac("a", b"messagf", &t));
        assert!(!s.verify_mac("b", b"message", &t));
        assert!(!s.verify_mac("a", b"message", &t[..31]));
        assert!(!MasterSecret::from_bytes([8; 32]).verify_mac("a", b"message", &t));
        // RFC 4231-style check of the construction: HMAC-SHA-256 keyed by derive(label, "").
        let key = kdf::hkdf_expand(&[7; 32], "a", b"");
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        m.update(b"message");
        assert_eq!(t.as_slice(), m.finalize().into_bytes().as_slice());
    }

    /// Pins the label → key derivation of key files and schemes (`docs/schemes.md` §1) for the
    /// master secret `0x00 … 0x1f`: a subkey, the key file's check value, a settings MAC and
    /// the first stream bytes of a derived generator (across a 64-byte block boundary). The
    /// expected values were computed outside pixveil, with Python's `hmac`/`hashlib` (HKDF per
    /// RFC 5869) and the RFC 8439 ChaCha20 block function of `scripts/reference/chacha20.py`:
    ///
    /// ```text
    /// H=lambda k,m:hmac.new(k,m,hashlib.sha256).digest(); ms=bytes(range(32))
    /// d=lambda label,ctx: H(H(b"pixveil/v1/hkdf",ms), label.encode()+b"\0"+ctx+b"\1")
    /// d("pixveil/v1/pe/np", struct.pack(">4I",32,32,3,1)).hex()
    /// d("pixveil/v1/check-value", b"")[:16].hex()
    /// H(d("pixveil/v2/settings-mac", b""), b"message").hex()
    /// chacha20.rng_stream(d("pixveil/v1/pe/np", ...), 80)   # bytes 0..16 and 64..80
    /// ```
    #[test]
    fn derivation_known_answer() {
        let s = MasterSecret::from_bytes(std::array::from_fn(|i| i as u8));
        let mut ctx = Vec::new();
        for v in [32u32, 32, 3, 1] {
            ctx.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(
            hex::encode(s.derive("pixveil/v1/pe/np", &ctx).expose_bytes()),
            "cd568031629d4fe253a5c237f1d73abcf346496d877499230a36a171d2c815ca"
        );
        assert_eq!(
            hex::encode(s.check_value()),
            "75dc747f0ae96f9f32bb0bf83a415415"
        );
        assert_eq!(
            hex::encode(s.mac(crate::format::SETTINGS_MAC_LABEL, b"message")),
            "f71516193eacf76dd8863f1ca1374745336d72a5b75cb6be8806f206c4d4d103"
        );
        let mut rng = s.derive_rng("pixveil/v1/pe/np", &ctx);
        let mut stream = [0u8; 80];
        rng.fill_bytes(&mut stream);
        assert_eq!(
            hex::encode(&stream[..16]),
            "583e90210065ffac967ed9d744c403ef"
        );
        assert_eq!(
            hex::encode(&stream[64..]),
            "c6f8ff645f12494d1c5f98e51ab0591f"
        );
    }
}
