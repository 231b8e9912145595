//! Versioned, validated binary serialization of parameters, keys, plaintexts and ciphertexts.
//!
//! # Container
//! Every object is one pixveil container ([`pixveil_core::format`]: magic `PXVL`, container
//! version, an 8-byte kind tag, metadata and body lengths, JSON metadata, the body, and a
//! SHA-256 of everything before it). Kind tags: `ckks-par` (parameters), `ckks-sk` (secret
//! key), `ckks-pk` (public key), `ckks-rlk` (relinearization key), `ckks-gk` (Galois keys),
//! `ckks-ct` (ciphertext), `ckks-pt` (plaintext). Metadata, with unknown fields refused:
//!
//! ```text
//! {"layout":2,"params":"<32 lowercase hex digits>"}
//! ```
//!
//! `layout` is the version of the payload layout below ([`LAYOUT_VERSION`]; 2 added the level
//! of each Galois key; a newer one is refused) and `params` the 16-byte parameter fingerprint
//! the object was made under. The body is the payload. The frame costs
//! `28 + 56 + 32` = [`FRAME_OVERHEAD`] = 116 bytes per object (the legacy frame below: 64).
//!
//! Loading is defensive: magic, container version, kind, the declared lengths (against the
//! bytes actually present, before anything is allocated), trailing bytes and the checksum
//! are verified by the container; then the metadata, the layout version and the fingerprint;
//! then every payload length is computed from the parameters and compared with the bytes
//! present *before* anything is allocated; trailing payload bytes are an error. The checksum
//! detects corruption, not forgery: it is not a MAC.
//!
//! # Payloads
//! All integers little-endian. Polynomials are bit-packed row by row, `bitlen(q_i)` bits per
//! coefficient, each row padded to a whole byte; every coefficient is checked to be reduced on
//! load. Seeded polynomials (`a` of keys and fresh secret-key ciphertexts) are stored as their
//! 32-byte ChaCha20 seed and expanded on load, which halves their size.
//! - parameters: `log_n u8, security u8, log_scale u8, L u8, log_q[L] u8, K u8, log_p[K] u8,
//!   primes (L+K)×u64` (re-validated and compared on load);
//! - secret key: `N` ternary coefficients, 2 bits each (0, 1, 2 = −1);
//! - public key: `seed[32]`, `b` over `Q·P`;
//! - key-switching key for level `ℓ`: `seed[32]`, `b_0 … b_ℓ` over `q_0 … q_ℓ, P`; relin key =
//!   one for the top level;
//! - Galois keys: `count u32`, then `count × (element u32, level u8, key-switching key)`;
//! - ciphertext: `level u8, size u8, flags u8 (bit 0 = seeded), scale f64, [seed[32]]`, then
//!   the parts over `q_0 … q_level` (`c_0` only when seeded);
//! - plaintext: `level u8, scale f64`, the polynomial.
//!
//! # Legacy frame (read only)
//! Objects written before the container (selected by their magic `PXCK`) still load, with the
//! same checks; nothing writes them any more. Their payloads are the layout-2 payloads above:
//!
//! ```text
//! offset  size  field
//! 0       4     magic "PXCK"
//! 4       2     format version (2; 2 added the level of each Galois key)
//! 6       1     object kind (1 params, 2 secret key, 3 public key, 4 relin key,
//!               5 Galois keys, 6 ciphertext, 7 plaintext)
//! 7       1     reserved, 0
//! 8       16    parameter fingerprint
//! 24      8     payload length in bytes
//! 32      len   payload
//! 32+len  32    SHA-256 of bytes [0, 32+len)
//! ```

use crate::encoder::Plaintext;
use crate::encrypt::Ciphertext;
use crate::keys::{GaloisKeys, KeyRow, KeySwitchKey, PublicKey, RelinKey, SecretKey};
use crate::params::{Fingerprint, Parameters, ParametersLiteral, SecurityLevel, FINGERPRINT_LEN};
use crate::{Error, Result};
use pixveil_core::format;
use pixveil_ring::sample::uniform_from_seed;
use pixveil_ring::{Basis, Ntt, Poly};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Version of the payload layout (the container's metadata field `layout`).
pub const LAYOUT_VERSION: u16 = 2;
/// Offset of the payload in a serialized object: the container header, then the metadata,
/// whose length is fixed (a one-digit layout and a 32-digit fingerprint).
pub const PAYLOAD_OFFSET: usize = format::HEADER_LEN + META_LEN;
/// Bytes the container adds to a payload: header, metadata and SHA-256 trailer (116).
pub const FRAME_OVERHEAD: usize = PAYLOAD_OFFSET + format::DIGEST_LEN;
/// Length of the serialized [`Meta`]: `{"layout":2,"params":"` (22) + 32 + `"}` (2).
const META_LEN: usize = 56;

/// Object kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Params,
    SecretKey,
    PublicKey,
    RelinKey,
    GaloisKeys,
    Ciphertext,
    Plaintext,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Params,
        Kind::SecretKey,
        Kind::PublicKey,
        Kind::RelinKey,
        Kind::GaloisKeys,
        Kind::Ciphertext,
        Kind::Plaintext,
    ];

    /// The container kind tag (at most 8 ASCII bytes).
    fn tag(self) -> &'static str {
        match self {
            Kind::Params => "ckks-par",
            Kind::SecretKey => "ckks-sk",
            Kind::PublicKey => "ckks-pk",
            Kind::RelinKey => "ckks-rlk",
            Kind::GaloisKeys => "ckks-gk",
            Kind::Ciphertext => "ckks-ct",
            Kind::Plaintext => "ckks-pt",
        }
    }
}

/// The container metadata of every CKKS object.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    /// Payload layout version ([`LAYOUT_VERSION`]).
    layout: u16,
    /// Parameter fingerprint, lowercase hex.
    params: String,
}

/// Frames `payload` as a container of `kind` made under fingerprint `fp`.
fn frame(kind: Kind, fp: &Fingerprint, payload: &[u8]) -> Vec<u8> {
    let meta = Meta {
        layout: LAYOUT_VERSION,
        params: crate::params::hex(fp),
    };
    format::encode(kind.tag(), &meta, payload)
        .expect("the metadata (a number and 32 hex digits) serialises, far below the limit")
}

/// A container error as this crate reports it (the legacy reader's errors, so callers that
/// classify them see one set).
fn container_error(e: pixveil_core::Error) -> Error {
    use pixveil_core::Error as C;
    /// Byte counts in errors are reports only: saturate rather than fail (exact on 64-bit).
    fn count(x: u64) -> usize {
        usize::try_from(x).unwrap_or(usize::MAX)
    }
    match e {
        C::BadMagic => Error::BadMagic,
        C::UnsupportedVersion { found, supported } => {
            Error::UnsupportedVersion { found, supported }
        }
        C::WrongKind { expected, found } => Error::WrongKind { expected, found },
        C::Truncated { needed, available } => Error::Truncated {
            needed: count(needed),
            available: count(available),
        },
        C::TrailingBytes(_) => Error::Corrupt {
            reason: "trailing bytes after checksum",
        },
        C::Checksum => Error::Corrupt {
            reason: "checksum mismatch",
        },
        C::TooLarge { .. } => Error::Corrupt {
            reason: "declared length exceeds its limit",
        },
        C::Metadata(_) => Error::Corrupt {
            reason: "invalid container metadata",
        },
        // Key-derivation and passphrase errors: `decode_ref` does not return them.
        _ => Error::Corrupt {
            reason: "invalid container",
        },
    }
}

/// Parses a 32-digit lowercase hex fingerprint.
fn parse_fingerprint(s: &str) -> Option<Fingerprint> {
    let b = s.as_bytes();
    if b.len() != 2 * FINGERPRINT_LEN {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut fp = [0u8; FINGERPRINT_LEN];
    for (f, pair) in fp.iter_mut().zip(b.chunks_exact(2)) {
        *f = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(fp)
}

/// Checks the frame (container, or legacy frame by its magic) and returns
/// `(fingerprint, payload)`.
fn unframe(bytes: &[u8], kind: Kind) -> Result<(Fingerprint, &[u8])> {
    if bytes.starts_with(&legacy::MAGIC) {
        return legacy::unframe(bytes, kind);
    }
    // The container compares the declared lengths with the bytes present: the input bounds
    // the body, and the payload parsers bound every count by the parameters.
    let d: format::DecodedRef<'_, Meta> =
        format::decode_ref(bytes, kind.tag(), u64::MAX).map_err(container_error)?;
    if d.meta.layout != LAYOUT_VERSION {
        return Err(Error::UnsupportedVersion {
            found: d.meta.layout,
            supported: LAYOUT_VERSION,
        });
    }
    let fp = parse_fingerprint(&d.meta.params).ok_or(Error::Corrupt {
        reason: "parameter fingerprint is not 32 lowercase hex digits",
    })?;
    Ok((fp, d.body))
}

/// The legacy `PXCK` frame (see the module docs): read only.
mod legacy {
    use super::{Kind, Reader};
    use crate::params::{Fingerprint, FINGERPRINT_LEN};
    use crate::{Error, Result};
    use sha2::{Digest, Sha256};

    /// Magic of the legacy frame.
    pub(super) const MAGIC: [u8; 4] = *b"PXCK";
    /// The only legacy version read.
    pub(super) const VERSION: u16 = 2;
    pub(super) const HEADER_LEN: usize = 32;
    pub(super) const CHECKSUM_LEN: usize = 32;

    /// The legacy kind code.
    pub(super) fn code(kind: Kind) -> u8 {
        match kind {
            Kind::Params => 1,
            Kind::SecretKey => 2,
            Kind::PublicKey => 3,
            Kind::RelinKey => 4,
            Kind::GaloisKeys => 5,
            Kind::Ciphertext => 6,
            Kind::Plaintext => 7,
        }
    }

    /// Writes a legacy frame, for tests of the reader (nothing ships legacy bytes).
    #[cfg(test)]
    pub(super) fn frame(kind: Kind, fp: &Fingerprint, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + CHECKSUM_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.push(code(kind));
        out.push(0);
        out.extend_from_slice(fp);
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(payload);
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Checks a legacy frame and returns `(fingerprint, payload)`.
    pub(super) fn unframe(bytes: &[u8], kind: Kind) -> Result<(Fingerprint, &[u8])> {
        let mut r = Reader::new(bytes);
        if r.take(4)? != MAGIC {
            return Err(Error::BadMagic);
        }
        let version = r.u16()?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: VERSION,
            });
        }
        let k = r.u8()?;
        if k != code(kind) {
            let found = Kind::ALL
                .into_iter()
                .find(|&x| code(x) == k)
                .map_or_else(|| format!("legacy kind {k}"), |x| x.tag().to_owned());
            return Err(Error::WrongKind {
                expected: kind.tag(),
                found,
            });
        }
        if r.u8()? != 0 {
            return Err(Error::Corrupt {
                reason: "reserved header byte is not zero",
            });
        }
        let mut fp = [0u8; FINGERPRINT_LEN];
        fp.copy_from_slice(r.take(FINGERPRINT_LEN)?);
        let len = r.u64()?;
        let avail = r.remaining();
        let need = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(CHECKSUM_LEN))
            .ok_or(Error::Corrupt {
                reason: "payload length overflows",
            })?;
        if need > avail {
            return Err(Error::Truncated {
                needed: need,
                available: avail,
            });
        }
        if need < avail {
            return Err(Error::Corrupt {
                reason: "trailing bytes after checksum",
            });
        }
        let body_end = HEADER_LEN + need - CHECKSUM_LEN;
        let sum = Sha256::digest(&bytes[..body_end]);
        if sum.as_slice() != &bytes[body_end..] {
            return Err(Error::Corrupt {
                reason: "checksum mismatch",
            });
        }
        Ok((fp, &bytes[HEADER_LEN..body_end]))
    }
}

/// Bounds-checked little-endian reader.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Self { b, pos: 0 }
    }
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::Truncated {
                needed: n,
                available: self.remaining(),
            });
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        let mut a = [0u8; 2];
        a.copy_from_slice(self.take(2)?);
        Ok(u16::from_le_bytes(a))
    }
    fn u32(&mut self) -> Result<u32> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn seed(&mut self) -> Result<[u8; 32]> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }
    fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(Error::Corrupt {
                reason: "unexpected bytes at end of payload",
            });
        }
        Ok(())
    }
}

fn row_bytes(n: usize, bits: u32) -> usize {
    (n * bits as usize).div_ceil(8)
}

/// Bytes of a packed polynomial over `basis`.
fn poly_bytes(params: &Parameters, basis: Basis) -> usize {
    let ctx = params.ring();
    (0..basis.len())
        .map(|r| row_bytes(ctx.degree(), ctx.modulus(ctx.prime_index(basis, r)).bits()))
        .sum()
}

/// Appends one row, `bits` bits per value, padded to a whole byte.
fn write_row(out: &mut Vec<u8>, bits: u32, values: impl Iterator<Item = u64>) {
    let mut acc: u128 = 0;
    let mut nacc = 0u32;
    for x in values {
        acc |= (x as u128) << nacc;
        nacc += bits;
        while nacc >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            nacc -= 8;
        }
    }
    if nacc > 0 {
        out.push(acc as u8);
    }
}

fn write_poly(out: &mut Vec<u8>, p: &Poly<Ntt>) {
    let ctx = p.context();
    for r in 0..p.basis().len() {
        let bits = ctx.modulus(p.prime_index(r)).bits();
        write_row(out, bits, p.row(r).iter().copied());
    }
}

fn read_poly(r: &mut Reader<'_>, params: &Parameters, basis: Basis) -> Result<Poly<Ntt>> {
    let ctx = params.ring();
    ctx.check_basis(basis)?;
    let need = poly_bytes(params, basis);
    if need > r.remaining() {
        return Err(Error::Truncated {
            needed: need,
            available: r.remaining(),
        });
    }
    let n = ctx.degree();
    let mut data = vec![0u64; basis.len() * n];
    for (row, chunk) in data.chunks_exact_mut(n).enumerate() {
        let m = ctx.modulus(ctx.prime_index(basis, row));
        let bits = m.bits();
        let bytes = r.take(row_bytes(n, bits))?;
        let mask = (1u128 << bits) - 1;
        let mut acc: u128 = 0;
        let mut nacc = 0u32;
        let mut it = bytes.iter();
        for slot in chunk.iter_mut() {
            while nacc < bits {
                let b = *it
                    .next()
                    .expect("row_bytes(n, bits) holds n·bits bits, enough for every coefficient");
                acc |= (b as u128) << nacc;
                nacc += 8;
            }
            let v = (acc & mask) as u64;
            if v >= m.value() {
                return Err(Error::Corrupt {
                    reason: "coefficient not reduced modulo its prime",
                });
            }
            *slot = v;
            acc >>= bits;
            nacc -= bits;
        }
    }
    Ok(Poly::from_raw(ctx, basis, data)?)
}

impl Parameters {
    /// Serializes the parameters.
    pub fn to_bytes(&self) -> Vec<u8> {
        let l = self.literal();
        let mut p = vec![l.log_n as u8, l.security.tag(), l.log_scale as u8];
        p.push(l.log_q.len() as u8);
        p.extend(l.log_q.iter().map(|&b| b as u8));
        p.push(l.log_p.len() as u8);
        p.extend(l.log_p.iter().map(|&b| b as u8));
        for x in self.q().iter().chain(self.p()) {
            p.extend_from_slice(&x.to_le_bytes());
        }
        frame(Kind::Params, self.fingerprint(), &p)
    }

    /// Loads and re-validates parameters (including the security check). A file cannot
    /// downgrade security: parameters saved without a security level (the feature-gated
    /// `SecurityLevel::None`, tag 0) are refused here, in every build.
    ///
    /// # Errors
    /// Format errors, the validation errors of [`Parameters::new`], and
    /// [`Error::InvalidParameter`] (field `security`) for a file without a security level.
    pub fn from_bytes(bytes: &[u8]) -> Result<Arc<Self>> {
        Self::read(bytes, None)
    }

    /// Like [`Parameters::from_bytes`] but also accepts files without a security level.
    /// **Not secure**: only with the `insecure-params` feature, for tests and experiments.
    ///
    /// # Errors
    /// Format errors or the validation errors of [`Parameters::new`].
    #[cfg(any(test, feature = "insecure-params"))]
    pub fn from_bytes_allow_insecure(bytes: &[u8]) -> Result<Arc<Self>> {
        Self::read(bytes, Some(SecurityLevel::None))
    }

    /// Parses parameters; a file with security tag 0 gets `insecure` (refused if `None`).
    fn read(bytes: &[u8], insecure: Option<SecurityLevel>) -> Result<Arc<Self>> {
        let (fp, payload) = unframe(bytes, Kind::Params)?;
        let mut r = Reader::new(payload);
        let log_n = r.u8()? as u32;
        let security = match r.u8()? {
            0 => insecure.ok_or_else(|| Error::InvalidParameter {
                field: "security",
                reason: "the file holds parameters without a security level; only test \
                         builds (feature `insecure-params`) load them, with \
                         from_bytes_allow_insecure"
                    .into(),
            })?,
            1 => SecurityLevel::Bits128,
            2 => SecurityLevel::Bits192,
            3 => SecurityLevel::Bits256,
            _ => {
                return Err(Error::Corrupt {
                    reason: "unknown security level",
                })
            }
        };
        let log_scale = r.u8()? as u32;
        let nq = r.u8()? as usize;
        let log_q = r.take(nq)?.iter().map(|&b| b as u32).collect();
        let np = r.u8()? as usize;
        let log_p = r.take(np)?.iter().map(|&b| b as u32).collect();
        let mut primes = Vec::new();
        for _ in 0..nq + np {
            primes.push(r.u64()?);
        }
        r.finish()?;
        let params = Self::new(&ParametersLiteral {
            log_n,
            log_q,
            log_p,
            log_scale,
            security,
        })?;
        if params.ring().primes() != primes {
            return Err(Error::Corrupt {
                reason: "stored primes differ from the regenerated ones",
            });
        }
        params.check_fingerprint(&fp)?;
        Ok(params)
    }
}

fn load<'a>(params: &Parameters, bytes: &'a [u8], kind: Kind) -> Result<Reader<'a>> {
    let (fp, payload) = unframe(bytes, kind)?;
    params.check_fingerprint(&fp)?;
    Ok(Reader::new(payload))
}

impl SecretKey {
    /// Serializes the secret key (2 bits per coefficient). Handle the bytes as a secret.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut p = vec![0u8; self.coeffs.len().div_ceil(4)];
        for (i, &c) in self.coeffs.iter().enumerate() {
            let code = match c {
                1 => 1u8,
                -1 => 2,
                _ => 0,
            };
            p[i / 4] |= code << (2 * (i % 4));
        }
        let out = frame(Kind::SecretKey, &self.fingerprint, &p);
        zeroize::Zeroize::zeroize(&mut p);
        out
    }

    /// Loads a secret key.
    ///
    /// # Errors
    /// Format errors, [`Error::ParameterMismatch`], [`Error::Corrupt`] for invalid codes.
    pub fn from_bytes(params: &Arc<Parameters>, bytes: &[u8]) -> Result<Self> {
        let mut r = load(params, bytes, Kind::SecretKey)?;
        let n = params.degree();
        let packed = r.take(n.div_ceil(4))?;
        r.finish()?;
        // Zeroized if a later code is invalid.
        let mut coeffs = zeroize::Zeroizing::new(vec![0i64; n]);
        for (i, c) in coeffs.iter_mut().enumerate() {
            *c = match (packed[i / 4] >> (2 * (i % 4))) & 3 {
                0 => 0,
                1 => 1,
                2 => -1,
                _ => {
                    return Err(Error::Corrupt {
                        reason: "invalid ternary code",
                    })
                }
            };
        }
        Self::from_coeffs(params, coeffs)
    }
}

impl PublicKey {
    /// Serializes the public key (`a` as its seed).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut p = self.seed.to_vec();
        write_poly(&mut p, &self.b);
        frame(Kind::PublicKey, &self.fingerprint, &p)
    }

    /// Loads a public key, expanding `a` from its seed.
    ///
    /// # Errors
    /// Format errors or [`Error::ParameterMismatch`].
    pub fn from_bytes(params: &Arc<Parameters>, bytes: &[u8]) -> Result<Self> {
        let mut r = load(params, bytes, Kind::PublicKey)?;
        let seed = r.seed()?;
        let basis = params.ring().full_basis();
        let b = read_poly(&mut r, params, basis)?;
        r.finish()?;
        let a = uniform_from_seed(params.ring(), basis, &seed)?;
        Ok(Self {
            b,
            a,
            seed,
            fingerprint: *params.fingerprint(),
        })
    }
}

fn write_ksk(out: &mut Vec<u8>, k: &KeySwitchKey) {
    out.extend_from_slice(&k.seed);
    for digit in 0..k.digits() {
        for row in 0..k.rows() {
            let bits = k.row_bits(row);
            match k.b_stored_row(digit, row) {
                KeyRow::U32(r) => write_row(out, bits, r.iter().map(|&x| x as u64)),
                KeyRow::U64(r) => write_row(out, bits, r.iter().copied()),
            }
        }
    }
}

fn read_ksk(r: &mut Reader<'_>, params: &Parameters, level: usize) -> Result<KeySwitchKey> {
    let seed = r.seed()?;
    let basis = KeySwitchKey::basis(params, level);
    let digits = level + 1;
    let need = digits * poly_bytes(params, basis);
    if need > r.remaining() {
        return Err(Error::Truncated {
            needed: need,
            available: r.remaining(),
        });
    }
    let b = (0..digits)
        .map(|_| read_poly(r, params, basis))
        .collect::<Result<Vec<_>>>()?;
    let a = KeySwitchKey::expand_a(params, &seed, level)?;
    Ok(KeySwitchKey::from_polys(params, &b, &a, seed, level))
}

impl RelinKey {
    /// Serializes the relinearization key.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut p = Vec::new();
        write_ksk(&mut p, &self.key);
        frame(Kind::RelinKey, &self.fingerprint, &p)
    }

    /// Loads a relinearization key.
    ///
    /// # Errors
    /// Format errors or [`Error::ParameterMismatch`].
    pub fn from_bytes(params: &Arc<Parameters>, bytes: &[u8]) -> Result<Self> {
        let mut r = load(params, bytes, Kind::RelinKey)?;
        let key = read_ksk(&mut r, params, params.max_level())?;
        r.finish()?;
        Ok(Self {
            key,
            fingerprint: *params.fingerprint(),
        })
    }
}

impl GaloisKeys {
    /// Serializes the Galois keys.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut p = (self.keys.len() as u32).to_le_bytes().to_vec();
        for (&g, k) in &self.keys {
            p.extend_from_slice(&(g as u32).to_le_bytes());
            p.push(k.level() as u8);
            write_ksk(&mut p, k);
        }
        frame(Kind::GaloisKeys, &self.fingerprint, &p)
    }

    /// Loads Galois keys (elements must be distinct odd numbers below `2N`).
    ///
    /// # Errors
    /// Format errors or [`Error::ParameterMismatch`].
    pub fn from_bytes(params: &Arc<Parameters>, bytes: &[u8]) -> Result<Self> {
        let mut r = load(params, bytes, Kind::GaloisKeys)?;
        let count = r.u32()? as usize;
        // Smallest possible key (level 0): bounds the count before anything is allocated.
        let min_key = 4 + 1 + 32 + poly_bytes(params, KeySwitchKey::basis(params, 0));
        if count.saturating_mul(min_key) > r.remaining() {
            return Err(Error::Corrupt {
                reason: "Galois key count does not match the data length",
            });
        }
        let mut keys = BTreeMap::new();
        for _ in 0..count {
            let g = r.u32()? as usize;
            if g.is_multiple_of(2) || g >= 2 * params.degree() || g == 1 || keys.contains_key(&g) {
                return Err(Error::Corrupt {
                    reason: "invalid or repeated Galois element",
                });
            }
            let level = read_level(&mut r, params)?;
            keys.insert(g, read_ksk(&mut r, params, level)?);
        }
        r.finish()?;
        Ok(Self {
            keys,
            fingerprint: *params.fingerprint(),
        })
    }
}

fn read_scale(r: &mut Reader<'_>) -> Result<f64> {
    let s = f64::from_bits(r.u64()?);
    if !(s.is_finite() && s > 0.0) {
        return Err(Error::Corrupt {
            reason: "scale is not positive and finite",
        });
    }
    Ok(s)
}

fn read_level(r: &mut Reader<'_>, params: &Parameters) -> Result<usize> {
    let level = r.u8()? as usize;
    if level > params.max_level() {
        return Err(Error::InvalidLevel {
            level,
            max: params.max_level(),
            op: "deserialize",
        });
    }
    Ok(level)
}

impl Ciphertext {
    /// Serializes the ciphertext; a fresh secret-key ciphertext stores `c_1` as its seed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut p = vec![
            self.level() as u8,
            self.parts.len() as u8,
            self.seed.is_some() as u8,
        ];
        p.extend_from_slice(&self.scale.to_bits().to_le_bytes());
        match &self.seed {
            Some(seed) => {
                p.extend_from_slice(seed);
                write_poly(&mut p, &self.parts[0]);
            }
            None => self.parts.iter().for_each(|x| write_poly(&mut p, x)),
        }
        frame(Kind::Ciphertext, &self.fingerprint, &p)
    }

    /// Loads and validates a ciphertext.
    ///
    /// # Errors
    /// Format errors, [`Error::ParameterMismatch`], [`Error::InvalidLevel`], [`Error::Corrupt`].
    pub fn from_bytes(params: &Arc<Parameters>, bytes: &[u8]) -> Result<Self> {
        let mut r = load(params, bytes, Kind::Ciphertext)?;
        let level = read_level(&mut r, params)?;
        let size = r.u8()? as usize;
        let flags = r.u8()?;
        if !(2..=3).contains(&size) || flags > 1 || (flags == 1 && size != 2) {
            return Err(Error::Corrupt {
                reason: "invalid ciphertext size or flags",
            });
        }
        let scale = read_scale(&mut r)?;
        let basis = Basis { q: level + 1, p: 0 };
        let seeded = flags == 1;
        let seed = if seeded { Some(r.seed()?) } else { None };
        let stored = if seeded { 1 } else { size };
        if stored * poly_bytes(params, basis) != r.remaining() {
            return Err(Error::Corrupt {
                reason: "ciphertext length does not match its level",
            });
        }
        let mut parts = (0..stored)
            .map(|_| read_poly(&mut r, params, basis))
            .collect::<Result<Vec<_>>>()?;
        r.finish()?;
        if let Some(s) = &seed {
            parts.push(uniform_from_seed(params.ring(), basis, s)?);
        }
        Ok(Self {
            parts,
            scale,
            fingerprint: *params.fingerprint(),
            seed,
        })
    }
}

impl Plaintext {
    /// Serializes the plaintext.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut p = vec![self.level() as u8];
        p.extend_from_slice(&self.scale.to_bits().to_le_bytes());
        write_poly(&mut p, &self.poly);
        frame(Kind::Plaintext, &self.fingerprint, &p)
    }

    /// Loads a plaintext.
    ///
    /// # Errors
    /// Format errors, [`Error::ParameterMismatch`], [`Error::InvalidLevel`], [`Error::Corrupt`].
    pub fn from_bytes(params: &Arc<Parameters>, bytes: &[u8]) -> Result<Self> {
        let mut r = load(params, bytes, Kind::Plaintext)?;
        let level = read_level(&mut r, params)?;
        let scale = read_scale(&mut r)?;
        let poly = read_poly(&mut r, params, Basis { q: level + 1, p: 0 })?;
        r.finish()?;
        Ok(Self {
            poly,
            scale,
            fingerprint: *params.fingerprint(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use sha2::{Digest, Sha256};

    fn params() -> Arc<Parameters> {
        Parameters::new(&ParametersLiteral {
            log_n: 10,
            log_q: vec![40, 30],
            log_p: vec![40],
            log_scale: 30,
            security: SecurityLevel::None,
        })
        .unwrap()
    }

    /// One object of each kind over [`params`], drawn from a generator seeded with `seed`.
    struct Objects {
        p: Arc<Parameters>,
        rng: ChaCha20Rng,
        kg: KeyGenerator,
        pk: PublicKey,
        /// Rotations by 1 and -3, with conjugation.
        gk: GaloisKeys,
        /// (1, 2, 3) at level 1 and the default scale.
        pt: Plaintext,
        /// `pt` under `pk`.
        ct: Ciphertext,
    }

    fn objects(seed: u8) -> Objects {
        let p = params();
        let mut rng = ChaCha20Rng::from_seed([seed; 32]);
        let kg = KeyGenerator::new(&p, &mut rng).unwrap();
        let pk = kg.public_key(&mut rng).unwrap();
        let gk = kg.galois_keys(&[1, -3], true, &mut rng).unwrap();
        let pt = Encoder::new(&p)
            .unwrap()
            .encode_real(&[1.0, 2.0, 3.0], 1, p.default_scale())
            .unwrap();
        let ct = Encryptor::with_public_key(&p, &pk)
            .unwrap()
            .encrypt(&pt, &mut rng)
            .unwrap();
        Objects {
            p,
            rng,
            kg,
            pk,
            gk,
            pt,
            ct,
        }
    }

    /// Every strict prefix and every single-byte change must be rejected.
    fn assert_tamper_evident(bytes: &[u8], load: impl Fn(&[u8]) -> bool) {
        assert!(load(bytes));
        let step = (bytes.len() / 97).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            assert!(!load(&bytes[..cut]), "prefix {cut} accepted");
        }
        for pos in (0..bytes.len()).step_by(step) {
            let mut b = bytes.to_vec();
            b[pos] ^= 0x5a;
            assert!(!load(&b), "flip at {pos} accepted");
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(!load(&long));
    }

    #[test]
    fn roundtrips_and_corruption() {
        let Objects {
            p,
            mut rng,
            kg,
            pk,
            gk,
            pt,
            ct: ct_pk,
        } = objects(3);
        let rlk = kg.relin_key(&mut rng).unwrap();
        let ct_sk = Encryptor::with_secret_key(&p, kg.secret_key())
            .unwrap()
            .encrypt(&pt, &mut rng)
            .unwrap();
        let ev = Evaluator::new(&p);
        let ct3 = ev.mul(&ct_pk, &ct_pk).unwrap();

        let pb = p.to_bytes();
        let back = Parameters::from_bytes_allow_insecure(&pb).unwrap();
        assert_eq!(p.fingerprint(), back.fingerprint());
        assert!(matches!(
            Parameters::from_bytes(&pb),
            Err(Error::InvalidParameter {
                field: "security",
                ..
            })
        ));
        assert_tamper_evident(&pb, |b| Parameters::from_bytes_allow_insecure(b).is_ok());
        let secure = Parameters::preset(Preset::TenSeal8192).unwrap();
        let back = Parameters::from_bytes(&secure.to_bytes()).unwrap();
        assert_eq!(back.fingerprint(), secure.fingerprint());

        let skb = kg.secret_key().to_bytes();
        assert_eq!(
            SecretKey::from_bytes(&p, &skb).unwrap().coeffs,
            kg.secret_key().coeffs
        );
        assert_tamper_evident(&skb, |b| SecretKey::from_bytes(&p, b).is_ok());

        let pkb = pk.to_bytes();
        assert_eq!(PublicKey::from_bytes(&p, &pkb).unwrap(), pk);
        assert_tamper_evident(&pkb, |b| PublicKey::from_bytes(&p, b).is_ok());

        let rb = rlk.to_bytes();
        assert_eq!(RelinKey::from_bytes(&p, &rb).unwrap(), rlk);
        assert_tamper_evident(&rb, |b| RelinKey::from_bytes(&p, b).is_ok());

        let gb = gk.to_bytes();
        assert_eq!(GaloisKeys::from_bytes(&p, &gb).unwrap(), gk);
        assert_tamper_evident(&gb, |b| GaloisKeys::from_bytes(&p, b).is_ok());

        for ct in [&ct_sk, &ct_pk, &ct3] {
            let cb = ct.to_bytes();
            assert_eq!(&Ciphertext::from_bytes(&p, &cb).unwrap(), ct);
            assert_tamper_evident(&cb, |b| Ciphertext::from_bytes(&p, b).is_ok());
        }
        // Seeded ciphertexts are about half the size.
        assert!(ct_sk.to_bytes().len() * 10 < ct_pk.to_bytes().len() * 6);

        let ptb = pt.to_bytes();
        assert_eq!(Plaintext::from_bytes(&p, &ptb).unwrap(), pt);
        assert_tamper_evident(&ptb, |b| Plaintext::from_bytes(&p, b).is_ok());

        // Kind, version, magic and parameter checks have their own errors.
        assert!(matches!(
            Ciphertext::from_bytes(&p, &pkb),
            Err(Error::WrongKind { .. })
        ));
        let mut v = ct_pk.to_bytes();
        v[4] = 9;
        assert!(matches!(
            Ciphertext::from_bytes(&p, &v),
            Err(Error::UnsupportedVersion { found: 9, .. })
        ));
        v[0] = b'X';
        assert_eq!(Ciphertext::from_bytes(&p, &v), Err(Error::BadMagic));
        let other = Parameters::preset(Preset::TenSeal8192).unwrap();
        assert!(matches!(
            Ciphertext::from_bytes(&other, &ct_pk.to_bytes()),
            Err(Error::ParameterMismatch { .. })
        ));
        assert!(matches!(
            Ciphertext::from_bytes(&p, &[]),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn insecure_parameters_are_refused_on_load_too() {
        // A file claiming 128-bit security for an over-sized chain fails validation.
        let mut lit = Preset::TenSeal8192.literal();
        lit.security = SecurityLevel::None;
        lit.log_q.push(30);
        let p = Parameters::new(&lit).unwrap();
        let mut b = p.to_bytes();
        b[PAYLOAD_OFFSET + 1] = 1; // security: 128-bit
        let body_end = b.len() - format::DIGEST_LEN;
        let sum = Sha256::digest(&b[..body_end]);
        b[body_end..].copy_from_slice(&sum);
        assert!(matches!(
            Parameters::from_bytes(&b),
            Err(Error::Insecure { .. })
        ));
    }

    /// Mutations behind a *valid* checksum reach the parsers: they must return errors (or a
    /// valid object), never panic or over-allocate.
    #[test]
    fn parsers_survive_mutations_behind_a_valid_checksum() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let Objects {
            p,
            kg,
            pk,
            gk,
            pt,
            ct,
            ..
        } = objects(4);
        let objects = [
            p.to_bytes(),
            kg.secret_key().to_bytes(),
            pk.to_bytes(),
            gk.to_bytes(),
            ct.to_bytes(),
            pt.to_bytes(),
            to_legacy(&ct.to_bytes(), Kind::Ciphertext),
            to_legacy(&gk.to_bytes(), Kind::GaloisKeys),
        ];
        let reseal = |mut b: Vec<u8>| {
            if b.len() >= format::DIGEST_LEN {
                let end = b.len() - format::DIGEST_LEN;
                let sum = Sha256::digest(&b[..end]);
                b[end..].copy_from_slice(&sum);
            }
            b
        };
        let mut runner = TestRunner::new(Config::with_cases(64));
        runner
            .run(
                &(0usize..8, any::<u64>(), any::<u8>(), 0usize..4),
                |(which, pos, val, mode)| {
                    let mut b = objects[which].clone();
                    let len = b.len();
                    // Focus on the header and the first payload bytes (lengths, levels, sizes).
                    let i = if mode == 0 {
                        pos as usize % len
                    } else {
                        pos as usize % (PAYLOAD_OFFSET + 16).min(len)
                    };
                    b[i] = val;
                    if mode == 3 {
                        b.truncate(PAYLOAD_OFFSET + (pos as usize % 64));
                    }
                    let b = reseal(b);
                    let _ = Parameters::from_bytes_allow_insecure(&b);
                    let _ = SecretKey::from_bytes(&p, &b);
                    let _ = PublicKey::from_bytes(&p, &b);
                    let _ = GaloisKeys::from_bytes(&p, &b);
                    let _ = Ciphertext::from_bytes(&p, &b);
                    let _ = Plaintext::from_bytes(&p, &b);
                    Ok(())
                },
            )
            .unwrap();
    }

    /// The same object in the legacy `PXCK` frame.
    fn to_legacy(bytes: &[u8], kind: Kind) -> Vec<u8> {
        let (fp, payload) = unframe(bytes, kind).unwrap();
        legacy::frame(kind, &fp, payload)
    }

    /// A container of `kind` around `payload` with arbitrary metadata.
    fn with_meta(kind: Kind, meta: serde_json::Value, payload: &[u8]) -> Vec<u8> {
        format::encode(kind.tag(), &meta, payload).unwrap()
    }

    #[test]
    fn frame_overhead_is_fixed() {
        let fp = [0xab; FINGERPRINT_LEN];
        for kind in Kind::ALL {
            for len in [0, 1, 1000] {
                let payload = vec![7u8; len];
                let b = frame(kind, &fp, &payload);
                assert_eq!(b.len(), FRAME_OVERHEAD + len);
                assert_eq!(&b[PAYLOAD_OFFSET..PAYLOAD_OFFSET + len], &payload[..]);
                assert_eq!(unframe(&b, kind).unwrap(), (fp, &payload[..]));
                assert_eq!(format::peek_kind(&b).unwrap(), kind.tag());
            }
        }
        assert_eq!(FRAME_OVERHEAD, 116);
        assert_eq!(legacy::HEADER_LEN + legacy::CHECKSUM_LEN, 64);
    }

    #[test]
    fn metadata_is_checked() {
        let fp = crate::params::hex(&[0xab; FINGERPRINT_LEN]);
        let ok = with_meta(
            Kind::Plaintext,
            serde_json::json!({"layout": 2, "params": fp}),
            &[1, 2],
        );
        assert_eq!(unframe(&ok, Kind::Plaintext).unwrap().1, &[1, 2]);
        let newer = with_meta(
            Kind::Plaintext,
            serde_json::json!({"layout": 3, "params": fp}),
            &[],
        );
        assert_eq!(
            unframe(&newer, Kind::Plaintext),
            Err(Error::UnsupportedVersion {
                found: 3,
                supported: 2
            })
        );
        for bad in [
            serde_json::json!({"layout": 2, "params": fp.to_uppercase()}),
            serde_json::json!({"layout": 2, "params": &fp[2..]}),
            serde_json::json!({"layout": 2, "params": format!("{}zz", &fp[2..])}),
        ] {
            assert!(matches!(
                unframe(&with_meta(Kind::Plaintext, bad, &[]), Kind::Plaintext),
                Err(Error::Corrupt { .. })
            ));
        }
        for bad in [
            serde_json::json!({"layout": 2}),
            serde_json::json!({"layout": 2, "params": fp, "extra": 1}),
            serde_json::json!({"layout": "2", "params": fp}),
        ] {
            assert_eq!(
                unframe(&with_meta(Kind::Plaintext, bad, &[]), Kind::Plaintext),
                Err(Error::Corrupt {
                    reason: "invalid container metadata"
                })
            );
        }
    }

    #[test]
    fn legacy_frames_load_with_the_same_checks() {
        let Objects { p, kg, ct, .. } = objects(5);
        let old = to_legacy(&ct.to_bytes(), Kind::Ciphertext);
        assert_eq!(&old[..4], b"PXCK");
        assert_eq!(old.len() + FRAME_OVERHEAD - 64, ct.to_bytes().len());
        assert_eq!(Ciphertext::from_bytes(&p, &old).unwrap(), ct);
        assert_tamper_evident(&old, |b| Ciphertext::from_bytes(&p, b).is_ok());
        assert_eq!(
            Plaintext::from_bytes(&p, &old),
            Err(Error::WrongKind {
                expected: "ckks-pt",
                found: "ckks-ct".into()
            })
        );
        let mut v = old.clone();
        v[4] = 1;
        assert!(matches!(
            Ciphertext::from_bytes(&p, &v),
            Err(Error::UnsupportedVersion { found: 1, .. })
        ));
        let pold = to_legacy(&p.to_bytes(), Kind::Params);
        assert_eq!(
            Parameters::from_bytes_allow_insecure(&pold)
                .unwrap()
                .fingerprint(),
            p.fingerprint()
        );
        let skold = to_legacy(&kg.secret_key().to_bytes(), Kind::SecretKey);
        assert_eq!(
            SecretKey::from_bytes(&p, &skold).unwrap().coeffs,
            kg.secret_key().coeffs
        );
    }
}
