//! Versioned key files.
//!
//! A key file is a [`pixveil_core::format`] container of kind `key`. Its JSON metadata holds the
//! scheme and its parameters, the image shape, the key mode, how the secret is protected and a
//! public 64-bit key id; its body holds the 256-bit master secret — or nothing, when the secret
//! is derived from a passphrase with Argon2id (then the metadata holds the salt, the Argon2id
//! costs and a 128-bit check value that detects a wrong passphrase).
//!
//! The secret never appears in the metadata, in `Debug` output or in error messages.

use std::fmt;

use pixveil_core::{
    format,
    kdf::{self, Argon2Params},
    MasterSecret,
};
use pixveil_image::Shape;
use rand_core::{OsRng, TryRngCore};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::{BatchCipher, Error, KeyMode, Result, SchemeSpec};

/// Largest image accepted in a key, in bytes (`H·W·C`): 16 MiB, e.g. 2048×2048×3. Bounds the
/// tables a cipher precomputes, so a hostile key file cannot make pixveil allocate gigabytes.
pub const MAX_KEY_IMAGE_BYTES: usize = 1 << 24;

fn check_shape(shape: Shape) -> Result<()> {
    if shape.len() > MAX_KEY_IMAGE_BYTES {
        return Err(Error::InvalidKey(format!(
            "image shape {shape} is {} bytes, more than the {MAX_KEY_IMAGE_BYTES}-byte limit for keys",
            shape.len()
        )));
    }
    Ok(())
}

/// Container kind of key files.
pub const KIND: &str = "key";

/// How the master secret is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Protection {
    /// The secret is stored in the key file's body: protect the file itself.
    Stored,
    /// The secret is derived from a passphrase with Argon2id and not stored.
    Passphrase {
        /// Argon2id salt, hex (16 bytes).
        salt: String,
        /// Argon2id costs.
        argon2: Argon2Params,
        /// Check value of the derived secret, hex (16 bytes).
        check: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyMeta {
    spec: SchemeSpec,
    shape: Shape,
    mode: KeyMode,
    protection: Protection,
    key_id: String,
}

/// Public facts about a key file (no secret): what `pixveil info` prints.
#[derive(Clone, Debug, Serialize)]
pub struct KeyInfo {
    /// Scheme name.
    pub scheme: String,
    /// Scheme parameters.
    pub spec: SchemeSpec,
    /// Image shape.
    pub shape: Shape,
    /// Key mode.
    pub mode: KeyMode,
    /// `stored` or `passphrase`.
    pub protection: &'static str,
    /// Public key id (hex, 64 bits).
    pub key_id: String,
    /// Container format version.
    pub format_version: u16,
}

/// A loaded (or newly generated) key: scheme, shape, mode and master secret.
#[derive(Clone)]
pub struct KeyFile {
    spec: SchemeSpec,
    shape: Shape,
    mode: KeyMode,
    protection: Protection,
    secret: MasterSecret,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("scheme", &self.spec.name())
            .field("shape", &self.shape)
            .field("mode", &self.mode)
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

fn key_id_of(secret: &MasterSecret) -> String {
    let mut rng = secret.derive_rng("pixveil/v1/key-id", b"");
    let mut id = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rng, &mut id);
    hex::encode(id)
}

impl KeyFile {
    /// A new key with a secret from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the scheme does not fit the shape.
    pub fn generate(spec: SchemeSpec, shape: Shape, mode: KeyMode) -> Result<Self> {
        Self::with_secret(spec, shape, mode, MasterSecret::generate_os())
    }

    /// A key from an explicit secret (tests, known-answer vectors).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the scheme does not fit the shape.
    pub fn with_secret(
        spec: SchemeSpec,
        shape: Shape,
        mode: KeyMode,
        secret: MasterSecret,
    ) -> Result<Self> {
        check_shape(shape)?;
        spec.build(shape, &secret)?;
        Ok(Self {
            spec,
            shape,
            mode,
            protection: Protection::Stored,
            secret,
        })
    }

    /// A key whose secret is derived from `passphrase` with Argon2id and a fresh random salt.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the scheme does not fit the shape, [`Error::Key`] for bad
    /// Argon2id costs.
    pub fn from_passphrase(
        spec: SchemeSpec,
        shape: Shape,
        mode: KeyMode,
        passphrase: &[u8],
        argon2: Argon2Params,
    ) -> Result<Self> {
        let mut salt = [0u8; 16];
        OsRng
            .try_fill_bytes(&mut salt)
            .map_err(|e| Error::InvalidKey(format!("OS random number generator failed: {e}")))?;
        check_shape(shape)?;
        let secret = kdf::secret_from_passphrase(passphrase, &salt, argon2)?;
        spec.build(shape, &secret)?;
        Ok(Self {
            protection: Protection::Passphrase {
                salt: hex::encode(salt),
                argon2,
                check: hex::encode(secret.check_value()),
            },
            spec,
            shape,
            mode,
            secret,
        })
    }

    /// Serialises the key file.
    ///
    /// # Errors
    /// Only if serialisation itself fails.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let meta = KeyMeta {
            spec: self.spec.clone(),
            shape: self.shape,
            mode: self.mode,
            protection: self.protection.clone(),
            key_id: self.key_id(),
        };
        let body: &[u8] = match self.protection {
            Protection::Stored => self.secret.expose_bytes(),
            Protection::Passphrase { .. } => &[],
        };
        Ok(format::encode(KIND, &meta, body)?)
    }

    fn decode(bytes: &[u8]) -> Result<format::Decoded<KeyMeta>> {
        Ok(format::decode::<KeyMeta>(bytes, KIND, 32)?)
    }

    /// Public facts about a serialised key, without needing its passphrase.
    ///
    /// # Errors
    /// Any structural error of the file.
    pub fn inspect(bytes: &[u8]) -> Result<KeyInfo> {
        let d = Self::decode(bytes)?;
        let m = d.meta;
        Ok(KeyInfo {
            scheme: m.spec.name(),
            spec: m.spec,
            shape: m.shape,
            mode: m.mode,
            protection: match m.protection {
                Protection::Stored => "stored",
                Protection::Passphrase { .. } => "passphrase",
            },
            key_id: m.key_id,
            format_version: format::FORMAT_VERSION,
        })
    }

    /// Loads a key file; `passphrase` is needed iff the key is passphrase-protected.
    ///
    /// # Errors
    /// Structural errors of the file, [`Error::PassphraseRequired`], a wrong passphrase
    /// ([`pixveil_core::Error::WrongPassphrase`]), or parameters that do not fit the shape.
    pub fn from_bytes(bytes: &[u8], passphrase: Option<&[u8]>) -> Result<Self> {
        let d = Self::decode(bytes)?;
        let m = d.meta;
        let secret = match (&m.protection, passphrase) {
            (Protection::Stored, _) => MasterSecret::from_slice(&d.body)?,
            (Protection::Passphrase { .. }, None) => return Err(Error::PassphraseRequired),
            (
                Protection::Passphrase {
                    salt,
                    argon2,
                    check,
                },
                Some(pass),
            ) => {
                if !d.body.is_empty() {
                    return Err(Error::InvalidKey(
                        "a passphrase key must not store a secret".into(),
                    ));
                }
                let salt =
                    hex::decode(salt).map_err(|e| Error::InvalidKey(format!("bad salt: {e}")))?;
                let check = hex::decode(check)
                    .map_err(|e| Error::InvalidKey(format!("bad check value: {e}")))?;
                let secret = kdf::secret_from_passphrase(pass, &salt, *argon2)?;
                if !bool::from(secret.check_value().as_slice().ct_eq(check.as_slice())) {
                    return Err(pixveil_core::Error::WrongPassphrase.into());
                }
                secret
            }
        };
        if key_id_of(&secret) != m.key_id {
            return Err(Error::InvalidKey(
                "key id does not match the secret (the file was edited)".into(),
            ));
        }
        Self::with_secret(m.spec, m.shape, m.mode, secret).map(|k| Self {
            protection: m.protection,
            ..k
        })
    }

    /// The scheme.
    pub fn spec(&self) -> &SchemeSpec {
        &self.spec
    }
    /// The image shape the key is for.
    pub fn shape(&self) -> Shape {
        self.shape
    }
    /// The key mode.
    pub fn mode(&self) -> KeyMode {
        self.mode
    }
    /// How the secret is protected.
    pub fn protection(&self) -> &Protection {
        &self.protection
    }
    /// The master secret (for attacks' scoring and known-answer tests; never print it).
    pub fn secret(&self) -> &MasterSecret {
        &self.secret
    }
    /// Public 64-bit key id, hex: identifies the key in nonce files and `pixveil info`.
    pub fn key_id(&self) -> String {
        key_id_of(&self.secret)
    }
    /// A batch cipher for this key.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the scheme does not fit the shape.
    pub fn batch_cipher(&self) -> Result<BatchCipher> {
        BatchCipher::new(self.spec.clone(), self.shape, self.mode, &self.secret)
    }
}
