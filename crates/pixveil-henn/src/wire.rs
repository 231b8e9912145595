//! What crosses from client to evaluator and back: evaluation keys, encrypted inputs and
//! encrypted scores, each serialized as one pixveil container (`pixveil_core::format`, magic
//! `PXVL`) around the CKKS engine's validated objects.
//!
//! # Layout
//! Container kind `henn-key` (evaluation keys), `henn-in` (encrypted input) or `henn-out`
//! (encrypted scores); metadata `{"mode":"latency"|"throughput","plan":"<32 hex digits>",
//! "images":<u32>}` (the [`PlanSpec::id`](crate::PlanSpec::id) it was made for, the image
//! count; unknown fields are refused); body: the item count (`u32` LE, at most
//! [`MAX_ITEMS`]), then per item a `u64` LE length and the engine's bytes
//! (`pixveil_ckks::serialize`, themselves checksummed containers, checked coefficient by
//! coefficient). The container checks magic, version, kind, declared lengths (against the
//! bytes present, before anything is allocated), trailing bytes and its SHA-256 trailer; each
//! item length is checked against the bytes left before it is sliced. The trailer detects
//! corruption, not forgery.
//!
//! # Legacy envelope (read only)
//! Objects written before the container (magic `PXHN`, selected by it): version 1, kind
//! (1 keys, 2 input, 3 scores), mode (1 latency, 2 throughput), one reserved zero byte, the
//! 16-byte plan id, the image count (`u32` LE), the item count (`u32` LE), the items as
//! above, and a SHA-256 trailer over everything before it. The service's key store keeps
//! evaluation keys on disk, so those written by an earlier version still load.

use std::sync::Arc;

use pixveil_ckks::prelude::*;
use pixveil_core::format;
use rayon::iter::{IntoParallelRefIterator, ParallelIterator};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::Mode;
use crate::{Error, Result};

/// Magic of the legacy envelope.
const LEGACY_MAGIC: &[u8; 4] = b"PXHN";
const LEGACY_VERSION: u8 = 1;
const LEGACY_HEADER: usize = 4 + 4 + 16 + 4 + 4;
const TRAILER: usize = 32;
/// Most items in one object (a throughput-mode input of a 64×64×3 image has 12 288).
pub const MAX_ITEMS: usize = 1 << 16;

/// Kinds of object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Keys = 1,
    Input = 2,
    Scores = 3,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Keys => "evaluation keys",
            Kind::Input => "encrypted input",
            Kind::Scores => "encrypted scores",
        }
    }

    /// The container kind tag.
    fn tag(self) -> &'static str {
        match self {
            Kind::Keys => "henn-key",
            Kind::Input => "henn-in",
            Kind::Scores => "henn-out",
        }
    }
}

/// The container metadata of every wire object.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    /// Packing of the ciphertexts (and which keys: Galois keys in latency mode).
    mode: Mode,
    /// The plan id, 32 lowercase hex digits.
    plan: String,
    /// Images carried (0 for keys).
    images: u32,
}

fn legacy_mode(m: u8) -> Option<Mode> {
    match m {
        1 => Some(Mode::Latency),
        2 => Some(Mode::Throughput),
        _ => None,
    }
}

struct Envelope<'a> {
    mode: Mode,
    plan: [u8; 16],
    images: u32,
    items: Vec<&'a [u8]>,
}

/// Bytes of the body holding `items`.
fn body_len<'a>(items: impl Iterator<Item = &'a Vec<u8>>) -> usize {
    4 + items.map(|i| 8 + i.len()).sum::<usize>()
}

fn meta(mode: Mode, plan: &[u8; 16], images: usize) -> Meta {
    Meta {
        mode,
        plan: hex::encode(plan),
        images: u32::try_from(images).expect("an object carries fewer than 2^32 images"),
    }
}

fn seal(kind: Kind, mode: Mode, plan: &[u8; 16], images: usize, items: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::with_capacity(body_len(items.iter()));
    body.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for i in items {
        body.extend_from_slice(&(i.len() as u64).to_le_bytes());
        body.extend_from_slice(i);
    }
    format::encode(kind.tag(), &meta(mode, plan, images), &body)
        .expect("the metadata (a mode, 32 hex digits, a count) serialises, far below the limit")
}

/// Splits `body` (count, then length-prefixed items) into its items.
fn split_items(kind: Kind, body: &[u8]) -> Result<Vec<&[u8]>> {
    let bad = |reason: String| Error::Malformed {
        what: kind.name(),
        reason,
    };
    let (count, mut rest) = body
        .split_first_chunk::<4>()
        .ok_or_else(|| bad("no item count".into()))?;
    let count = u32::from_le_bytes(*count) as usize;
    if count > MAX_ITEMS {
        return Err(bad(format!("{count} items (at most {MAX_ITEMS})")));
    }
    let mut items = Vec::with_capacity(count);
    for i in 0..count {
        let (len, r) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| bad(format!("truncated before item {i}")))?;
        let len = u64::from_le_bytes(*len);
        if len > r.len() as u64 {
            return Err(bad(format!(
                "item {i} claims {len} bytes, {} remain",
                r.len()
            )));
        }
        let (item, r) = r.split_at(len as usize);
        items.push(item);
        rest = r;
    }
    if !rest.is_empty() {
        return Err(bad(format!("{} trailing bytes", rest.len())));
    }
    Ok(items)
}

fn open(kind: Kind, bytes: &[u8]) -> Result<Envelope<'_>> {
    if bytes.starts_with(LEGACY_MAGIC) {
        return open_legacy(kind, bytes);
    }
    let bad = |reason: String| Error::Malformed {
        what: kind.name(),
        reason,
    };
    // Lengths are checked against `bytes` by the container: the limit is the input itself.
    let d: format::DecodedRef<'_, Meta> =
        format::decode_ref(bytes, kind.tag(), u64::MAX).map_err(|e| bad(e.to_string()))?;
    let mut plan = [0u8; 16];
    hex::decode_to_slice(&d.meta.plan, &mut plan)
        .map_err(|e| bad(format!("plan id {:?}: {e}", d.meta.plan)))?;
    Ok(Envelope {
        mode: d.meta.mode,
        plan,
        images: d.meta.images,
        items: split_items(kind, d.body)?,
    })
}

/// Reads the legacy `PXHN` envelope (see the module docs).
fn open_legacy(kind: Kind, bytes: &[u8]) -> Result<Envelope<'_>> {
    let bad = |reason: String| Error::Malformed {
        what: kind.name(),
        reason,
    };
    if bytes.len() < LEGACY_HEADER + TRAILER {
        return Err(bad(format!("{} bytes is too short", bytes.len())));
    }
    if bytes[4] != LEGACY_VERSION {
        return Err(bad(format!(
            "version {}, this build reads {LEGACY_VERSION}",
            bytes[4]
        )));
    }
    if bytes[5] != kind as u8 {
        return Err(bad(format!(
            "wrong kind {} (expected {})",
            bytes[5], kind as u8
        )));
    }
    let mode = legacy_mode(bytes[6]).ok_or_else(|| bad(format!("unknown mode {}", bytes[6])))?;
    let (body, trailer) = bytes.split_at(bytes.len() - TRAILER);
    if Sha256::digest(body).as_slice() != trailer {
        return Err(bad("checksum mismatch (corrupted or changed)".into()));
    }
    let mut plan = [0u8; 16];
    plan.copy_from_slice(&bytes[8..24]);
    let images = u32::from_le_bytes(bytes[24..28].try_into().expect("4 bytes"));
    // From the item count on, the legacy body is laid out as the container's.
    Ok(Envelope {
        mode,
        plan,
        images,
        items: split_items(kind, &body[LEGACY_HEADER - 4..])?,
    })
}

fn check_plan(what: &'static str, found: &[u8; 16], plan: &[u8; 16]) -> Result<()> {
    if found != plan {
        return Err(Error::PlanMismatch {
            what,
            found: hex::encode(found),
            expected: hex::encode(plan),
        });
    }
    Ok(())
}

/// The public keys an evaluator needs: a relinearization key, and in latency mode the
/// Galois keys for exactly the plan's rotation steps.
#[derive(Clone, Debug)]
pub struct EvaluationKeys {
    /// Relinearization key (both modes).
    pub relin: RelinKey,
    /// Galois keys (latency mode only).
    pub galois: Option<GaloisKeys>,
}

impl EvaluationKeys {
    /// The mode these keys serve (Galois keys present: latency).
    pub fn mode(&self) -> Mode {
        if self.galois.is_some() {
            Mode::Latency
        } else {
            Mode::Throughput
        }
    }

    /// Serializes the keys for the plan with id `plan`.
    pub fn to_bytes(&self, plan: &[u8; 16]) -> Vec<u8> {
        let mut items = vec![self.relin.to_bytes()];
        if let Some(g) = &self.galois {
            items.push(g.to_bytes());
        }
        seal(Kind::Keys, self.mode(), plan, 0, &items)
    }

    /// Parses keys made for plan `plan` under `params`.
    ///
    /// # Errors
    /// [`Error::Malformed`] for damaged bytes, [`Error::Mismatch`] for keys of another plan,
    /// [`Error::Ckks`] if the engine refuses a key.
    pub fn from_bytes(params: &Arc<Parameters>, plan: &[u8; 16], bytes: &[u8]) -> Result<Self> {
        let env = open(Kind::Keys, bytes)?;
        check_plan("key set", &env.plan, plan)?;
        let expected = match env.mode {
            Mode::Latency => 2,
            Mode::Throughput => 1,
        };
        if env.items.len() != expected {
            return Err(Error::Malformed {
                what: "evaluation keys",
                reason: format!("{} items for {} mode", env.items.len(), env.mode.name()),
            });
        }
        Ok(Self {
            relin: RelinKey::from_bytes(params, env.items[0])?,
            galois: env
                .items
                .get(1)
                .map(|b| GaloisKeys::from_bytes(params, b))
                .transpose()?,
        })
    }
}

/// Ciphertexts with their mode and image count: an encrypted input (client → evaluator)
/// or encrypted scores (evaluator → client).
///
/// Latency input: the plan's `input.ciphertexts` im2col ciphertexts of one image.
/// Throughput input: one ciphertext per input value (`C·H·W`), slot `i` = image `i`.
/// Latency scores: one ciphertext, class `c` in slot `c`. Throughput scores: one ciphertext
/// per class, slot `i` = image `i`.
#[derive(Clone, Debug)]
pub struct Encrypted {
    /// Packing.
    pub mode: Mode,
    /// Images carried (1 in latency mode).
    pub images: usize,
    /// The ciphertexts.
    pub ciphertexts: Vec<Ciphertext>,
}

impl Encrypted {
    fn to_bytes(&self, kind: Kind, plan: &[u8; 16]) -> Vec<u8> {
        let items: Vec<Vec<u8>> = self
            .ciphertexts
            .par_iter()
            .map(Ciphertext::to_bytes)
            .collect();
        seal(kind, self.mode, plan, self.images, &items)
    }

    fn from_bytes(
        kind: Kind,
        params: &Arc<Parameters>,
        plan: &[u8; 16],
        bytes: &[u8],
    ) -> Result<Self> {
        let env = open(kind, bytes)?;
        check_plan(kind.name(), &env.plan, plan)?;
        let ciphertexts = env
            .items
            .par_iter()
            .map(|b| Ciphertext::from_bytes(params, b))
            .collect::<pixveil_ckks::Result<Vec<_>>>()?;
        Ok(Self {
            mode: env.mode,
            images: env.images as usize,
            ciphertexts,
        })
    }

    /// Serialized size in bytes (as [`Encrypted::input_to_bytes`] writes it).
    pub fn byte_len(&self) -> usize {
        let meta = serde_json::to_vec(&meta(self.mode, &[0; 16], self.images))
            .expect("the metadata serialises");
        let items: Vec<Vec<u8>> = self.ciphertexts.iter().map(Ciphertext::to_bytes).collect();
        format::FRAME_LEN + meta.len() + body_len(items.iter())
    }

    /// Serializes an encrypted input for plan `plan`.
    pub fn input_to_bytes(&self, plan: &[u8; 16]) -> Vec<u8> {
        self.to_bytes(Kind::Input, plan)
    }

    /// Parses an encrypted input made for plan `plan`.
    ///
    /// # Errors
    /// As [`EvaluationKeys::from_bytes`].
    pub fn input_from_bytes(
        params: &Arc<Parameters>,
        plan: &[u8; 16],
        bytes: &[u8],
    ) -> Result<Self> {
        Self::from_bytes(Kind::Input, params, plan, bytes)
    }

    /// Serializes encrypted scores for plan `plan`.
    pub fn scores_to_bytes(&self, plan: &[u8; 16]) -> Vec<u8> {
        self.to_bytes(Kind::Scores, plan)
    }

    /// Parses encrypted scores made for plan `plan`.
    ///
    /// # Errors
    /// As [`EvaluationKeys::from_bytes`].
    pub fn scores_from_bytes(
        params: &Arc<Parameters>,
        plan: &[u8; 16],
        bytes: &[u8],
    ) -> Result<Self> {
        Self::from_bytes(Kind::Scores, params, plan, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const PLAN: [u8; 16] = *b"pixveil-testplan";

    fn params() -> Arc<Parameters> {
        Parameters::new(&ParametersLiteral {
            log_n: 4,
            log_q: vec![30, 25],
            log_p: vec![30],
            log_scale: 20,
            security: SecurityLevel::None,
        })
        .unwrap()
    }

    /// The legacy `PXHN` writer (removed from the library), for the reader's tests.
    fn seal_legacy(
        kind: Kind,
        mode: Mode,
        plan: &[u8; 16],
        images: u32,
        items: &[Vec<u8>],
    ) -> Vec<u8> {
        let mut out = LEGACY_MAGIC.to_vec();
        let mode = match mode {
            Mode::Latency => 1,
            Mode::Throughput => 2,
        };
        out.extend_from_slice(&[LEGACY_VERSION, kind as u8, mode, 0]);
        out.extend_from_slice(plan);
        out.extend_from_slice(&images.to_le_bytes());
        out.extend_from_slice(&(items.len() as u32).to_le_bytes());
        for i in items {
            out.extend_from_slice(&(i.len() as u64).to_le_bytes());
            out.extend_from_slice(i);
        }
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    fn fixture() -> (Arc<Parameters>, EvaluationKeys, Encrypted) {
        let p = params();
        let mut rng = ChaCha20Rng::from_seed([8; 32]);
        let kg = KeyGenerator::new(&p, &mut rng).unwrap();
        let pk = kg.public_key(&mut rng).unwrap();
        let keys = EvaluationKeys {
            relin: kg.relin_key(&mut rng).unwrap(),
            galois: Some(kg.galois_keys(&[1], false, &mut rng).unwrap()),
        };
        let enc = Encoder::new(&p).unwrap();
        let pt = enc.encode_real(&[1.0, 2.0], 1, p.default_scale()).unwrap();
        let ct = Encryptor::with_public_key(&p, &pk)
            .unwrap()
            .encrypt(&pt, &mut rng)
            .unwrap();
        let input = Encrypted {
            mode: Mode::Throughput,
            images: 7,
            ciphertexts: vec![ct.clone(), ct],
        };
        (p, keys, input)
    }

    fn same(a: &Encrypted, b: &Encrypted) {
        assert_eq!((a.mode, a.images), (b.mode, b.images));
        assert_eq!(a.ciphertexts, b.ciphertexts);
    }

    #[test]
    fn objects_round_trip_as_containers() {
        let (p, keys, input) = fixture();
        let kb = keys.to_bytes(&PLAN);
        assert_eq!(format::peek_kind(&kb).unwrap(), "henn-key");
        let back = EvaluationKeys::from_bytes(&p, &PLAN, &kb).unwrap();
        assert_eq!(back.relin, keys.relin);
        assert_eq!(back.galois, keys.galois);
        let ib = input.input_to_bytes(&PLAN);
        assert_eq!(ib.len(), input.byte_len());
        same(
            &Encrypted::input_from_bytes(&p, &PLAN, &ib).unwrap(),
            &input,
        );
        let sb = input.scores_to_bytes(&PLAN);
        same(
            &Encrypted::scores_from_bytes(&p, &PLAN, &sb).unwrap(),
            &input,
        );
        // Kind, plan and damage are refused.
        assert!(matches!(
            Encrypted::scores_from_bytes(&p, &PLAN, &ib),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            Encrypted::input_from_bytes(&p, b"another-plan-id!", &ib),
            Err(Error::PlanMismatch { .. })
        ));
        for cut in [0, 10, ib.len() / 2, ib.len() - 1] {
            assert!(Encrypted::input_from_bytes(&p, &PLAN, &ib[..cut]).is_err());
        }
        let mut bad = ib.clone();
        bad[ib.len() / 2] ^= 1;
        assert!(Encrypted::input_from_bytes(&p, &PLAN, &bad).is_err());
    }

    #[test]
    fn legacy_envelopes_still_load() {
        let (p, keys, input) = fixture();
        let items = vec![
            keys.relin.to_bytes(),
            keys.galois.as_ref().unwrap().to_bytes(),
        ];
        let kb = seal_legacy(Kind::Keys, Mode::Latency, &PLAN, 0, &items);
        let back = EvaluationKeys::from_bytes(&p, &PLAN, &kb).unwrap();
        assert_eq!(back.relin, keys.relin);
        assert_eq!(back.galois, keys.galois);
        let cts: Vec<Vec<u8>> = input.ciphertexts.iter().map(|c| c.to_bytes()).collect();
        let ib = seal_legacy(Kind::Input, input.mode, &PLAN, 7, &cts);
        same(
            &Encrypted::input_from_bytes(&p, &PLAN, &ib).unwrap(),
            &input,
        );
        assert!(matches!(
            Encrypted::scores_from_bytes(&p, &PLAN, &ib),
            Err(Error::Malformed { .. })
        ));
        let mut bad = ib.clone();
        bad[40] ^= 1;
        assert!(Encrypted::input_from_bytes(&p, &PLAN, &bad).is_err());
        assert!(Encrypted::input_from_bytes(&p, &PLAN, &ib[..ib.len() - 1]).is_err());
    }

    #[test]
    fn item_lists_are_checked_before_slicing() {
        let k = Kind::Input;
        assert!(split_items(k, &[]).is_err());
        assert_eq!(split_items(k, &0u32.to_le_bytes()).unwrap().len(), 0);
        let mut body = 1u32.to_le_bytes().to_vec();
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(split_items(k, &body).is_err());
        let mut body = (MAX_ITEMS as u32 + 1).to_le_bytes().to_vec();
        body.extend_from_slice(&[0; 64]);
        assert!(split_items(k, &body).is_err());
        let mut body = 1u32.to_le_bytes().to_vec();
        body.extend_from_slice(&2u64.to_le_bytes());
        body.extend_from_slice(&[1, 2, 3]);
        assert!(split_items(k, &body).is_err(), "a trailing byte");
        assert_eq!(
            split_items(k, &body[..body.len() - 1]).unwrap(),
            vec![&[1u8, 2][..]]
        );
    }
}
