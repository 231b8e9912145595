//! What crosses from client to evaluator and back: evaluation keys, encrypted inputs and
//! encrypted scores, each serialized as one envelope around the CKKS engine's validated
//! objects.
//!
//! Envelope: magic `PXHN`, version 1, kind (1 keys, 2 input, 3 scores), mode (1 latency,
//! 2 throughput), one reserved zero byte, the 16-byte [`PlanSpec::id`](crate::PlanSpec::id)
//! it was made for, the image count (`u32` LE), the item count (`u32` LE), then per item a
//! `u64` LE length and the engine's bytes (`pixveil_ckks::serialize`, itself checksummed and
//! checked coefficient by coefficient), and a SHA-256 trailer over everything before it.
//! Lengths are checked against the bytes present before anything is allocated. The
//! trailer detects corruption, not forgery.

use std::sync::Arc;

use pixveil_ckks::prelude::*;
use rayon::iter::{IntoParallelRefIterator, ParallelIterator};
use sha2::{Digest, Sha256};

use crate::plan::Mode;
use crate::{Error, Result};

const MAGIC: &[u8; 4] = b"PXHN";
const VERSION: u8 = 1;
const HEADER: usize = 4 + 4 + 16 + 4 + 4;
const TRAILER: usize = 32;
/// Most items in one envelope (a throughput-mode input of a 64×64×3 image has 12 288).
const MAX_ITEMS: usize = 1 << 16;

/// Kinds of envelope.
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
}

fn mode_byte(m: Mode) -> u8 {
    match m {
        Mode::Latency => 1,
        Mode::Throughput => 2,
    }
}

struct Envelope<'a> {
    mode: Mode,
    plan: [u8; 16],
    images: u32,
    items: Vec<&'a [u8]>,
}

fn seal(kind: Kind, mode: Mode, plan: &[u8; 16], images: usize, items: &[Vec<u8>]) -> Vec<u8> {
    let body: usize = items.iter().map(|i| 8 + i.len()).sum();
    let mut out = Vec::with_capacity(HEADER + body + TRAILER);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, kind as u8, mode_byte(mode), 0]);
    out.extend_from_slice(plan);
    out.extend_from_slice(&(images as u32).to_le_bytes());
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for i in items {
        out.extend_from_slice(&(i.len() as u64).to_le_bytes());
        out.extend_from_slice(i);
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

fn open(kind: Kind, bytes: &[u8]) -> Result<Envelope<'_>> {
    let bad = |reason: String| Error::Malformed {
        what: kind.name(),
        reason,
    };
    if bytes.len() < HEADER + TRAILER {
        return Err(bad(format!("{} bytes is too short", bytes.len())));
    }
    if &bytes[..4] != MAGIC {
        return Err(bad(
            "not a pixveil encrypted-inference object (bad magic)".into()
        ));
    }
    if bytes[4] != VERSION {
        return Err(bad(format!(
            "version {}, this build reads {VERSION}",
            bytes[4]
        )));
    }
    if bytes[5] != kind as u8 {
        return Err(bad(format!(
            "wrong kind {} (expected {})",
            bytes[5], kind as u8
        )));
    }
    let mode = match bytes[6] {
        1 => Mode::Latency,
        2 => Mode::Throughput,
        m => return Err(bad(format!("unknown mode {m}"))),
    };
    let (body, trailer) = bytes.split_at(bytes.len() - TRAILER);
    if Sha256::digest(body).as_slice() != trailer {
        return Err(bad("checksum mismatch (corrupted or changed)".into()));
    }
    let mut plan = [0u8; 16];
    plan.copy_from_slice(&bytes[8..24]);
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
    let images = u32_at(24);
    let count = u32_at(28) as usize;
    if count > MAX_ITEMS {
        return Err(bad(format!("{count} items (at most {MAX_ITEMS})")));
    }
    let mut items = Vec::with_capacity(count);
    let mut rest = &body[HEADER..];
    for i in 0..count {
        if rest.len() < 8 {
            return Err(bad(format!("truncated before item {i}")));
        }
        let len = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        rest = &rest[8..];
        if len > rest.len() as u64 {
            return Err(bad(format!(
                "item {i} claims {len} bytes, {} remain",
                rest.len()
            )));
        }
        let (item, r) = rest.split_at(len as usize);
        items.push(item);
        rest = r;
    }
    if !rest.is_empty() {
        return Err(bad(format!("{} trailing bytes", rest.len())));
    }
    Ok(Envelope {
        mode,
        plan,
        images,
        items,
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
        self.ciphertexts
            .iter()
            .map(|c| 8 + c.to_bytes().len())
            .sum::<usize>()
            + HEADER
            + TRAILER
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
