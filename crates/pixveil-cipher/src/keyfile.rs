//! Versioned key files.
//!
//! A key file is a [`pixveil_core::format`] container of kind `key`. Its JSON metadata holds the
//! scheme and its parameters, the image shape, the key mode, how the secret is protected, a
//! public 64-bit key id, the key-derivation version (`"kdf"`, see [`KdfVersion`]) and a MAC of
//! all of these (`"mac"`); its body holds the 256-bit master secret — or nothing, when the
//! secret is derived from a passphrase with Argon2id (then the metadata holds the salt, the
//! Argon2id costs and a 128-bit check value that detects a wrong passphrase).
//!
//! # Settings bound to the secret
//! The settings decide how strong the encryption is (a `per-image` key edited to `fixed` is
//! broken by one known pair), and the container's SHA-256 can be recomputed by anyone. So
//! `"mac"` is HMAC-SHA-256 under a subkey of the master secret with a label of its own
//! ([`format::settings_tag`], label [`format::SETTINGS_MAC_LABEL`]) over every other metadata
//! field. [`KeyFile::from_bytes`] recovers the secret (from the body, or from the passphrase),
//! checks the key id, then checks the MAC in constant time — before any setting is used — and
//! refuses an edited file ([`pixveil_core::Error::SettingsMac`]).
//!
//! # Key files without a MAC (written before issue 15)
//! They are **refused** ([`Error::LegacyKey`]), with a message that says how to convert them:
//! nothing in such a file shows whether its settings are the ones it was made with, so using
//! it — even with a warning, and worse, rewriting it with a MAC — would bless an edit.
//! [`KeyFile::upgrade_legacy`] (`pixveil rekey`) is the one explicit way in: it keeps the
//! secret and the old derivation ([`KdfVersion::V1`], so everything the key encrypted still
//! decrypts) and adds the MAC, after the user has checked the settings it prints.
//!
//! # Bounds
//! Before anything is derived: the image shape ([`MAX_KEY_IMAGE_BYTES`]), the scheme
//! ([`SchemeSpec::check_limits`]: stages, nesting, burn-in, table bytes) and the Argon2id costs
//! ([`Argon2Params::check`]) are checked against documented caps.
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

use zeroize::Zeroizing;

use crate::{BatchCipher, Error, KdfVersion, KeyMode, Result, SchemeSpec};

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
    /// Key-derivation version ([`KdfVersion::number`]); absent in files without a MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<u32>,
    /// Settings MAC, hex (32 bytes); absent in files written before issue 15.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
}

/// What the settings MAC signs: every metadata field except the MAC itself.
#[derive(Serialize)]
struct SignedSettings<'a> {
    spec: &'a SchemeSpec,
    shape: &'a Shape,
    mode: &'a KeyMode,
    protection: &'a Protection,
    key_id: &'a str,
    kdf: u32,
}

/// How a file's settings are authenticated, read from its metadata alone.
enum Auth {
    /// No MAC (written before issue 15).
    Legacy,
    /// A MAC under the secret, and the derivation version it covers.
    Mac { kdf: KdfVersion, tag: Vec<u8> },
}

impl KeyMeta {
    fn auth(&self) -> Result<Auth> {
        match (self.kdf, &self.mac) {
            (None, None) => Ok(Auth::Legacy),
            (Some(kdf), Some(mac)) => Ok(Auth::Mac {
                kdf: KdfVersion::from_number(kdf)?,
                tag: hex::decode(mac)
                    .map_err(|e| Error::InvalidKey(format!("bad settings MAC: {e}")))?,
            }),
            _ => Err(Error::InvalidKey(
                "the key file has only one of its derivation version and settings MAC (the file was edited)"
                    .into(),
            )),
        }
    }

    fn signed(&self, kdf: KdfVersion) -> SignedSettings<'_> {
        SignedSettings {
            spec: &self.spec,
            shape: &self.shape,
            mode: &self.mode,
            protection: &self.protection,
            key_id: &self.key_id,
            kdf: kdf.number(),
        }
    }

    /// The master secret: from the body, or from `passphrase`; its key id must match.
    fn secret(&self, body: &[u8], passphrase: Option<&[u8]>) -> Result<MasterSecret> {
        let secret = match (&self.protection, passphrase) {
            (Protection::Stored, _) => MasterSecret::from_slice(body)?,
            (Protection::Passphrase { .. }, None) => return Err(Error::PassphraseRequired),
            (
                Protection::Passphrase {
                    salt,
                    argon2,
                    check,
                },
                Some(pass),
            ) => {
                if !body.is_empty() {
                    return Err(Error::InvalidKey(
                        "a passphrase key must not store a secret".into(),
                    ));
                }
                let salt = Zeroizing::new(
                    hex::decode(salt).map_err(|e| Error::InvalidKey(format!("bad salt: {e}")))?,
                );
                let check = hex::decode(check)
                    .map_err(|e| Error::InvalidKey(format!("bad check value: {e}")))?;
                // Checks the Argon2id costs against their caps before allocating.
                let secret = kdf::secret_from_passphrase(pass, &salt, *argon2)?;
                if !bool::from(secret.check_value().as_slice().ct_eq(check.as_slice())) {
                    return Err(pixveil_core::Error::WrongPassphrase.into());
                }
                secret
            }
        };
        if key_id_of(&secret) != self.key_id {
            return Err(Error::InvalidKey(
                "key id does not match the secret (the file was edited)".into(),
            ));
        }
        Ok(secret)
    }
}

/// Whether `pixveil info` could check a key file's settings MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SettingsCheck {
    /// The MAC was checked and matches (the file stores its secret).
    Verified,
    /// The file has a MAC; checking it needs the passphrase (every use of the key checks it).
    NeedsPassphrase,
    /// The file has no MAC (written before issue 15): it is refused until re-keyed.
    Unauthenticated,
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
    /// Key-derivation version ([`KdfVersion::number`]; 1 for files without a MAC).
    pub kdf_version: u32,
    /// Whether the settings MAC was checked.
    pub settings: SettingsCheck,
}

/// A loaded (or newly generated) key: scheme, shape, mode, derivation version and master
/// secret.
///
/// Invariant: the settings were authenticated under the secret (loaded with a matching MAC),
/// made here, or explicitly accepted by [`KeyFile::upgrade_legacy`]; they fit the bounds of
/// the module docs.
#[derive(Clone)]
pub struct KeyFile {
    spec: SchemeSpec,
    shape: Shape,
    mode: KeyMode,
    kdf: KdfVersion,
    protection: Protection,
    secret: MasterSecret,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("scheme", &self.spec.name())
            .field("shape", &self.shape)
            .field("mode", &self.mode)
            .field("kdf", &self.kdf)
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

    /// A key from an explicit secret (tests, known-answer vectors), with the current key
    /// derivation.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the scheme does not fit the shape.
    pub fn with_secret(
        spec: SchemeSpec,
        shape: Shape,
        mode: KeyMode,
        secret: MasterSecret,
    ) -> Result<Self> {
        Self::assemble(
            spec,
            shape,
            mode,
            KdfVersion::CURRENT,
            Protection::Stored,
            secret,
        )
    }

    /// Checks the bounds and that the scheme builds for the shape, then makes the key.
    fn assemble(
        spec: SchemeSpec,
        shape: Shape,
        mode: KeyMode,
        kdf: KdfVersion,
        protection: Protection,
        secret: MasterSecret,
    ) -> Result<Self> {
        check_shape(shape)?;
        // Parameters only: the tables are derived once, by `batch_cipher`, when needed.
        spec.check(shape)?;
        Ok(Self {
            spec,
            shape,
            mode,
            kdf,
            protection,
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
        spec.check_limits(shape)?;
        let secret = kdf::secret_from_passphrase(passphrase, &salt, argon2)?;
        let protection = Protection::Passphrase {
            salt: hex::encode(salt),
            argon2,
            check: hex::encode(secret.check_value()),
        };
        Self::assemble(spec, shape, mode, KdfVersion::CURRENT, protection, secret)
    }

    /// The same key (secret, settings, derivation version, key id) with its secret stored in
    /// the file rather than derived from a passphrase: what a program ships to the trusted
    /// workers that encrypt for it (a Python pickle, a Ray object). Its bytes are as secret as
    /// the master secret itself.
    pub fn with_stored_secret(&self) -> Self {
        Self {
            protection: Protection::Stored,
            ..self.clone()
        }
    }

    /// Serialises the key file, with the MAC of its settings (the bytes hold the secret for a
    /// stored key, so they are wiped when dropped).
    ///
    /// # Errors
    /// Only if serialisation itself fails.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        let key_id = self.key_id();
        let mut meta = KeyMeta {
            spec: self.spec.clone(),
            shape: self.shape,
            mode: self.mode,
            protection: self.protection.clone(),
            key_id,
            kdf: Some(self.kdf.number()),
            mac: None,
        };
        let tag = format::settings_tag(&self.secret, KIND, &meta.signed(self.kdf))?;
        meta.mac = Some(hex::encode(tag));
        let body: &[u8] = match self.protection {
            Protection::Stored => self.secret.expose_bytes(),
            Protection::Passphrase { .. } => &[],
        };
        Ok(Zeroizing::new(format::encode(KIND, &meta, body)?))
    }

    fn decode(bytes: &[u8]) -> Result<format::Decoded<KeyMeta>> {
        Ok(format::decode::<KeyMeta>(bytes, KIND, 32)?)
    }

    /// Public facts about a serialised key, without needing its passphrase. The bounds are
    /// checked; for a key that stores its secret the settings MAC is checked too
    /// ([`SettingsCheck`]).
    ///
    /// # Errors
    /// Any structural error of the file, a bound exceeded, or settings that fail their MAC.
    pub fn inspect(bytes: &[u8]) -> Result<KeyInfo> {
        let d = Self::decode(bytes)?;
        let m = &d.meta;
        check_shape(m.shape)?;
        m.spec.check_limits(m.shape)?;
        let (kdf, settings) = match (m.auth()?, &m.protection) {
            (Auth::Legacy, _) => (KdfVersion::V1, SettingsCheck::Unauthenticated),
            (Auth::Mac { kdf, .. }, Protection::Passphrase { .. }) => {
                (kdf, SettingsCheck::NeedsPassphrase)
            }
            (Auth::Mac { kdf, tag }, Protection::Stored) => {
                let secret = m.secret(&d.body, None)?;
                format::verify_settings_tag(&secret, KIND, &m.signed(kdf), &tag)?;
                (kdf, SettingsCheck::Verified)
            }
        };
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
            kdf_version: kdf.number(),
            settings,
        })
    }

    /// Loads a key file; `passphrase` is needed iff the key is passphrase-protected.
    ///
    /// Order: structure and checksum, the secret (body or Argon2id within its caps, then the
    /// passphrase check value and the key id), the settings MAC (constant time), the bounds,
    /// and only then is the scheme built.
    ///
    /// # Errors
    /// Structural errors of the file, [`Error::PassphraseRequired`], a wrong passphrase
    /// ([`pixveil_core::Error::WrongPassphrase`]), edited settings
    /// ([`pixveil_core::Error::SettingsMac`]), a file without a MAC ([`Error::LegacyKey`]), or
    /// parameters that exceed a bound or do not fit the shape.
    pub fn from_bytes(bytes: &[u8], passphrase: Option<&[u8]>) -> Result<Self> {
        let d = Self::decode(bytes)?;
        let Auth::Mac { kdf, tag } = d.meta.auth()? else {
            return Err(Error::LegacyKey);
        };
        let secret = d.meta.secret(&d.body, passphrase)?;
        format::verify_settings_tag(&secret, KIND, &d.meta.signed(kdf), &tag)?;
        let m = d.meta;
        Self::assemble(m.spec, m.shape, m.mode, kdf, m.protection, secret)
    }

    /// Loads a key file written before issue 15 (no settings MAC), **trusting its settings**:
    /// the caller must have the user confirm them (`pixveil rekey` prints them). The key keeps
    /// its secret, key id and the derivation it was made with ([`KdfVersion::V1`]), so what it
    /// encrypted still decrypts; [`KeyFile::to_bytes`] then writes it with a MAC.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for a file that already has a MAC (nothing to upgrade), and the
    /// errors of [`KeyFile::from_bytes`] other than the MAC ones.
    pub fn upgrade_legacy(bytes: &[u8], passphrase: Option<&[u8]>) -> Result<Self> {
        let d = Self::decode(bytes)?;
        if !matches!(d.meta.auth()?, Auth::Legacy) {
            return Err(Error::InvalidKey(
                "this key file already has authenticated settings; there is nothing to re-key"
                    .into(),
            ));
        }
        let secret = d.meta.secret(&d.body, passphrase)?;
        let m = d.meta;
        Self::assemble(
            m.spec,
            m.shape,
            m.mode,
            KdfVersion::V1,
            m.protection,
            secret,
        )
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
    /// The key-derivation version the key uses.
    pub fn kdf_version(&self) -> KdfVersion {
        self.kdf
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
        BatchCipher::with_kdf(
            self.spec.clone(),
            self.shape,
            self.mode,
            &self.secret,
            self.kdf,
        )
    }
}
