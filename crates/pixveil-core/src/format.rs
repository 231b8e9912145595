//! The pixveil container: one versioned, length-checked, checksummed file format for every
//! object pixveil writes (key files, nonce files, CKKS parameters, keys and ciphertexts,
//! encrypted-inference wire objects, …).
//!
//! # Byte layout (all integers little-endian)
//!
//! | offset | size       | field                                                    |
//! |-------:|-----------:|----------------------------------------------------------|
//! | 0      | 4          | magic `PXVL`                                             |
//! | 4      | 2          | format version ([`FORMAT_VERSION`])                      |
//! | 6      | 2          | reserved, zero                                           |
//! | 8      | 8          | object kind, ASCII, NUL-padded (e.g. `key`, `nonces`)    |
//! | 16     | 4          | metadata length `m` (≤ [`MAX_META_LEN`])                 |
//! | 20     | 8          | body length `b` (≤ the reader's limit)                   |
//! | 28     | `m`        | metadata, UTF-8 JSON                                     |
//! | 28+m   | `b`        | body, raw bytes                                          |
//! | 28+m+b | 32         | SHA-256 of every preceding byte                          |
//!
//! Readers check, in this order: magic, version (newer is refused), kind, declared lengths
//! against the limits *and* the real data length (before allocating anything), the checksum,
//! and only then parse the metadata. The checksum detects damage only: anyone can recompute it
//! after an edit, so it is not a MAC (and pixveil's ciphers are not authenticated encryption).
//!
//! # Authenticated settings
//! Containers whose settings must not be changed by someone without the secret (key files: the
//! scheme, mode, shape and parameters decide how strong the encryption is) carry, in their
//! metadata, a [`settings_tag`]: HMAC-SHA-256 under the subkey
//! `derive(`[`SETTINGS_MAC_LABEL`]`, "")` of the master secret, over
//! `kind ‖ 0x00 ‖ JSON(settings)`, where `settings` is every metadata field except the tag itself
//! (serialised by serde_json from the parsed values, so the bytes signed are canonical for a
//! given set of values). Readers check it with [`verify_settings_tag`], in constant time,
//! before any setting is used.

use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Error, MasterSecret, Result};

/// HKDF label of the subkey that authenticates container settings ([`settings_tag`]).
pub const SETTINGS_MAC_LABEL: &str = "pixveil/v2/settings-mac";

/// Magic bytes at the start of every pixveil container.
pub const MAGIC: [u8; 4] = *b"PXVL";
/// Current (and highest readable) container format version.
pub const FORMAT_VERSION: u16 = 1;
/// Upper bound on the metadata length, in bytes.
pub const MAX_META_LEN: u32 = 1 << 20;
/// Length of the fixed header (magic … body length); the metadata starts here.
pub const HEADER_LEN: usize = 28;
/// Length of the SHA-256 trailer.
pub const DIGEST_LEN: usize = 32;
/// Bytes a container adds around its metadata and body: the 28-byte header and the 32-byte
/// SHA-256 trailer. A container's size is `FRAME_LEN + m + b`.
pub const FRAME_LEN: usize = HEADER_LEN + DIGEST_LEN;

/// A decoded container: its metadata and its body (zeroized on drop, as it may be secret).
pub struct Decoded<M> {
    /// The parsed metadata.
    pub meta: M,
    /// The raw body.
    pub body: Zeroizing<Vec<u8>>,
}

/// A decoded container whose body borrows the input ([`decode_ref`]): for large bodies that
/// the caller parses in place (CKKS keys and ciphertexts), so they are not copied. Nothing is
/// copied, so nothing needs wiping: the caller owns (and wipes, if secret) the input.
#[derive(Debug)]
pub struct DecodedRef<'a, M> {
    /// The parsed metadata.
    pub meta: M,
    /// The raw body, a slice of the input.
    pub body: &'a [u8],
}

fn kind_tag(kind: &str) -> [u8; 8] {
    let mut tag = [0u8; 8];
    for (t, b) in tag.iter_mut().zip(kind.bytes()) {
        *t = b;
    }
    tag
}

fn tag_to_string(tag: &[u8]) -> String {
    let end = tag.iter().position(|&b| b == 0).unwrap_or(tag.len());
    String::from_utf8_lossy(&tag[..end]).into_owned()
}

/// Serialises `meta` and `body` into a container of the given `kind` (at most 8 ASCII bytes).
///
/// # Errors
/// [`Error::Metadata`] if `meta` cannot be serialised or is larger than [`MAX_META_LEN`].
pub fn encode<M: Serialize>(kind: &str, meta: &M, body: &[u8]) -> Result<Vec<u8>> {
    debug_assert!(kind.len() <= 8 && kind.is_ascii());
    let meta = serde_json::to_vec(meta).map_err(|e| Error::Metadata(e.to_string()))?;
    let meta_len = u32::try_from(meta.len())
        .ok()
        .filter(|&m| m <= MAX_META_LEN)
        .ok_or(Error::TooLarge {
            field: "metadata",
            declared: meta.len() as u64,
            limit: u64::from(MAX_META_LEN),
        })?;
    let mut out = Vec::with_capacity(HEADER_LEN + meta.len() + body.len() + DIGEST_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&kind_tag(kind));
    out.extend_from_slice(&meta_len.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(body);
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    Ok(out)
}

/// The kind tag of a container, after checking magic and version only (for `pixveil info`).
///
/// # Errors
/// [`Error::BadMagic`], [`Error::Truncated`] or [`Error::UnsupportedVersion`].
pub fn peek_kind(data: &[u8]) -> Result<String> {
    let header = header(data)?;
    Ok(tag_to_string(&header[8..16]))
}

fn header(data: &[u8]) -> Result<&[u8]> {
    if data.len() >= 4 && data[..4] != MAGIC {
        return Err(Error::BadMagic);
    }
    let header = data.get(..HEADER_LEN).ok_or(Error::Truncated {
        needed: HEADER_LEN as u64,
        available: data.len() as u64,
    })?;
    let version = u16::from_le_bytes([header[4], header[5]]);
    if version > FORMAT_VERSION || version == 0 {
        return Err(Error::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    Ok(header)
}

/// Parses and validates a container of kind `kind` whose body may be at most `body_limit` bytes.
///
/// # Errors
/// Any of the structural errors of [`Error`]; see the module docs for the order of the checks.
pub fn decode<M: DeserializeOwned>(
    data: &[u8],
    kind: &'static str,
    body_limit: u64,
) -> Result<Decoded<M>> {
    let DecodedRef { meta, body } = decode_ref(data, kind, body_limit)?;
    Ok(Decoded {
        meta,
        body: Zeroizing::new(body.to_vec()),
    })
}

/// Like [`decode`], with the same checks in the same order, but the body borrows `data`
/// instead of being copied.
///
/// # Errors
/// As [`decode`].
pub fn decode_ref<'a, M: DeserializeOwned>(
    data: &'a [u8],
    kind: &'static str,
    body_limit: u64,
) -> Result<DecodedRef<'a, M>> {
    let (_, meta, body) = frame(data, Some(kind), body_limit)?;
    let meta = serde_json::from_slice(meta).map_err(|e| Error::Metadata(e.to_string()))?;
    Ok(DecodedRef { meta, body })
}

/// What [`inspect`] tells of a container of any kind, without its body.
#[derive(Debug)]
pub struct Inspected {
    /// The kind tag (`key`, `manifest`, `ckks-ct`, `henn-key`, …).
    pub kind: String,
    /// The metadata, as JSON.
    pub meta: serde_json::Value,
    /// Length of the body in bytes (the body itself, which may be secret, is not returned).
    pub body_len: usize,
}

/// Validates a container of any kind (the same checks as [`decode`], checksum included) and
/// returns its kind, metadata and body length: for `pixveil info` on objects it has no
/// special view of.
///
/// # Errors
/// Any of the structural errors of [`Error`].
pub fn inspect(data: &[u8]) -> Result<Inspected> {
    // The body is already in memory: its length is bounded by `data.len()`.
    let (kind, meta, body) = frame(data, None, u64::MAX)?;
    Ok(Inspected {
        kind,
        meta: serde_json::from_slice(meta).map_err(|e| Error::Metadata(e.to_string()))?,
        body_len: body.len(),
    })
}

/// Checks the frame of a container (header, the kind when one is `expected`, lengths,
/// checksum; see the module docs for the order) and returns its kind tag, metadata bytes and
/// body.
fn frame<'a>(
    data: &'a [u8],
    expected: Option<&'static str>,
    body_limit: u64,
) -> Result<(String, &'a [u8], &'a [u8])> {
    let header = header(data)?;
    let kind = tag_to_string(&header[8..16]);
    if let Some(expected) = expected {
        if kind != expected {
            return Err(Error::WrongKind {
                expected,
                found: kind,
            });
        }
    }
    let meta_len = u32::from_le_bytes([header[16], header[17], header[18], header[19]]);
    let mut body_len_bytes = [0u8; 8];
    body_len_bytes.copy_from_slice(&header[20..28]);
    let body_len = u64::from_le_bytes(body_len_bytes);
    if meta_len > MAX_META_LEN {
        return Err(Error::TooLarge {
            field: "metadata",
            declared: u64::from(meta_len),
            limit: u64::from(MAX_META_LEN),
        });
    }
    if body_len > body_limit {
        return Err(Error::TooLarge {
            field: "body",
            declared: body_len,
            limit: body_limit,
        });
    }
    let needed =
        (HEADER_LEN as u64 + u64::from(meta_len) + DIGEST_LEN as u64).saturating_add(body_len);
    let available = data.len() as u64;
    if available < needed {
        return Err(Error::Truncated { needed, available });
    }
    if available > needed {
        return Err(Error::TrailingBytes(available - needed));
    }
    // Lengths are now bounded by `data.len()`, so these conversions and slices are in range.
    let meta_end = HEADER_LEN + meta_len as usize;
    let body_end = meta_end + body_len as usize;
    let digest = Sha256::digest(&data[..body_end]);
    if digest.as_slice() != &data[body_end..] {
        return Err(Error::Checksum);
    }
    Ok((kind, &data[HEADER_LEN..meta_end], &data[meta_end..body_end]))
}

fn settings_message<S: Serialize>(kind: &str, settings: &S) -> Result<Vec<u8>> {
    let mut message = kind.as_bytes().to_vec();
    message.push(0);
    serde_json::to_writer(&mut message, settings).map_err(|e| Error::Metadata(e.to_string()))?;
    Ok(message)
}

/// The MAC that binds `settings` of a container of `kind` to `secret` (see the module docs).
///
/// # Errors
/// [`Error::Metadata`] if `settings` cannot be serialised.
pub fn settings_tag<S: Serialize>(
    secret: &MasterSecret,
    kind: &str,
    settings: &S,
) -> Result<[u8; 32]> {
    Ok(secret.mac(SETTINGS_MAC_LABEL, &settings_message(kind, settings)?))
}

/// Checks `tag` against [`settings_tag`]`(secret, kind, settings)` in constant time.
///
/// # Errors
/// [`Error::SettingsMac`] if it does not match, [`Error::Metadata`] if `settings` cannot be
/// serialised.
pub fn verify_settings_tag<S: Serialize>(
    secret: &MasterSecret,
    kind: &str,
    settings: &S,
    tag: &[u8],
) -> Result<()> {
    if secret.verify_mac(SETTINGS_MAC_LABEL, &settings_message(kind, settings)?, tag) {
        Ok(())
    } else {
        Err(Error::SettingsMac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Meta {
        name: String,
        n: u32,
    }

    fn sample() -> Vec<u8> {
        let meta = Meta {
            name: "x".into(),
            n: 7,
        };
        encode("test", &meta, &[1, 2, 3, 4]).unwrap()
    }

    #[test]
    fn inspect_reads_any_kind_with_every_check() {
        let c = inspect(&sample()).unwrap();
        assert_eq!(c.kind, "test");
        assert_eq!(c.meta, serde_json::json!({"name": "x", "n": 7}));
        assert_eq!(c.body_len, 4);
        // The same checks as decode: a flipped body byte, a cut or an extra byte are refused.
        let mut bad = sample();
        let body_at = bad.len() - DIGEST_LEN - 1;
        bad[body_at] ^= 1;
        assert!(matches!(inspect(&bad), Err(Error::Checksum)));
        let data = sample();
        assert!(matches!(
            inspect(&data[..data.len() - 1]),
            Err(Error::Truncated { .. })
        ));
        let mut longer = sample();
        longer.push(0);
        assert!(matches!(inspect(&longer), Err(Error::TrailingBytes(1))));
        // decode still checks the kind before anything else.
        assert!(matches!(
            decode_ref::<Meta>(&bad, "other", 16),
            Err(Error::WrongKind { .. })
        ));
    }

    #[test]
    fn round_trip() {
        let d: Decoded<Meta> = decode(&sample(), "test", 16).unwrap();
        assert_eq!(
            d.meta,
            Meta {
                name: "x".into(),
                n: 7
            }
        );
        assert_eq!(&d.body[..], &[1, 2, 3, 4]);
        assert_eq!(peek_kind(&sample()).unwrap(), "test");
        let data = sample();
        let r: DecodedRef<'_, Meta> = decode_ref(&data, "test", 16).unwrap();
        assert_eq!(r.meta, d.meta);
        assert_eq!(r.body, &d.body[..]);
        assert_eq!(data.len(), FRAME_LEN + br#"{"name":"x","n":7}"#.len() + 4);
    }

    #[test]
    fn structural_errors() {
        let good = sample();
        let mut bad_magic = good.clone();
        bad_magic[0] = b'Q';
        assert_eq!(
            decode::<Meta>(&bad_magic, "test", 16).err(),
            Some(Error::BadMagic)
        );

        let mut newer = good.clone();
        newer[4] = 9;
        assert!(matches!(
            decode::<Meta>(&newer, "test", 16).err(),
            Some(Error::UnsupportedVersion { found: 9, .. })
        ));
        assert!(matches!(
            decode::<Meta>(&good, "key", 16).err(),
            Some(Error::WrongKind { .. })
        ));
        assert!(matches!(
            decode::<Meta>(&good[..good.len() - 1], "test", 16).err(),
            Some(Error::Truncated { .. })
        ));
        assert!(matches!(
            decode::<Meta>(&good[..10], "test", 16).err(),
            Some(Error::Truncated { .. })
        ));
        assert!(matches!(
            decode::<Meta>(&good, "test", 3).err(),
            Some(Error::TooLarge { field: "body", .. })
        ));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            decode::<Meta>(&long, "test", 16).err(),
            Some(Error::TrailingBytes(1))
        );
    }

    #[test]
    fn huge_declared_body_is_refused_before_allocating() {
        let mut data = sample();
        data[20..28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode::<Meta>(&data, "test", u64::MAX).err(),
            Some(Error::Truncated { .. })
        ));
    }

    #[test]
    fn settings_tag_binds_values_kind_and_secret() {
        let s = MasterSecret::from_bytes([1; 32]);
        let m = Meta {
            name: "x".into(),
            n: 7,
        };
        let tag = settings_tag(&s, "test", &m).unwrap();
        assert_eq!(verify_settings_tag(&s, "test", &m, &tag), Ok(()));
        let edited = Meta {
            name: "x".into(),
            n: 8,
        };
        assert_eq!(
            verify_settings_tag(&s, "test", &edited, &tag),
            Err(Error::SettingsMac)
        );
        assert_eq!(
            verify_settings_tag(&s, "key", &m, &tag),
            Err(Error::SettingsMac)
        );
        let other = MasterSecret::from_bytes([2; 32]);
        assert_eq!(
            verify_settings_tag(&other, "test", &m, &tag),
            Err(Error::SettingsMac)
        );
    }

    proptest! {
        #[test]
        fn any_single_byte_flip_is_detected(pos in 0usize..64, bit in 0u8..8) {
            let good = sample();
            let pos = pos % good.len();
            let mut bad = good.clone();
            bad[pos] ^= 1 << bit;
            prop_assert!(decode::<Meta>(&bad, "test", 16).is_err());
        }
    }
}
