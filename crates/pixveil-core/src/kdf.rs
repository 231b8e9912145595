//! Key derivation: HKDF-SHA-256 for subkeys and stream seeds, Argon2id for passphrases.

use argon2::{Algorithm, Argon2, Params, Version};
use hkdf::Hkdf;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{secret::SECRET_LEN, Error, MasterSecret, Result};

/// Domain-separation salt of every HKDF call in pixveil.
const HKDF_SALT: &[u8] = b"pixveil/v1/hkdf";

/// HKDF-SHA-256 (RFC 5869): extracts with `salt` from `ikm`, expands for `info` into `okm`, and
/// returns the pseudorandom key `PRK` of the extract step. `okm` is at most 8160 bytes
/// (`255 · HashLen`); every caller in pixveil asks for 32.
pub(crate) fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], okm: &mut [u8]) -> [u8; 32] {
    let (prk, hk) = Hkdf::<Sha256>::extract(Some(salt), ikm);
    if hk.expand(info, okm).is_err() {
        unreachable!("HKDF-SHA-256 output of {} bytes asked for", okm.len());
    }
    prk.into()
}

/// HKDF-SHA-256 expansion of `ikm` into 32 bytes for `label ‖ 0x00 ‖ context`.
pub(crate) fn hkdf_expand(ikm: &[u8; SECRET_LEN], label: &str, context: &[u8]) -> [u8; 32] {
    let mut info = Zeroizing::new(Vec::with_capacity(label.len() + 1 + context.len()));
    info.extend_from_slice(label.as_bytes());
    info.push(0);
    info.extend_from_slice(context);
    let mut okm = [0u8; 32];
    // 32 bytes is far below HKDF-SHA-256's 8160-byte output limit.
    let _prk = Zeroizing::new(hkdf_sha256(HKDF_SALT, ikm, &info, &mut okm));
    okm
}

/// A ChaCha20 generator from a 256-bit seed (the seed is consumed).
pub(crate) fn rng_from_seed(seed: [u8; 32]) -> ChaCha20Rng {
    let seed = Zeroizing::new(seed);
    ChaCha20Rng::from_seed(*seed)
}

/// Argon2id cost parameters, stored in passphrase-protected key files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argon2Params {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP's first recommended Argon2id setting: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Params {
    /// Largest memory cost accepted (2 GiB, RFC 9106's first recommended setting), so a hostile
    /// key file cannot make pixveil allocate without limit.
    pub const MAX_MEMORY_KIB: u32 = 2 * 1024 * 1024;
    /// Most passes accepted.
    pub const MAX_ITERATIONS: u32 = 16;
    /// Most lanes accepted.
    pub const MAX_PARALLELISM: u32 = 16;
    /// Largest total work accepted, `memory_kib · iterations` (4 GiB·pass: a few seconds on one
    /// core; the default costs 38 MiB·pass), so a file cannot pair the largest memory with the
    /// most passes.
    pub const MAX_WORK_KIB: u64 = 4 * 1024 * 1024;
    /// Salt lengths accepted, in bytes (pixveil writes 16).
    pub const SALT_LEN: std::ops::RangeInclusive<usize> = 16..=64;

    /// Checks the costs against the caps above and Argon2's own minimums (at least one pass and
    /// one lane, at least 8 KiB of memory per lane).
    ///
    /// # Errors
    /// [`Error::KdfParams`] naming the first cost out of range.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::KdfParams(format!("Argon2id {what}")));
        if self.parallelism == 0 || self.parallelism > Self::MAX_PARALLELISM {
            return bad(format!(
                "lanes {} outside 1..={}",
                self.parallelism,
                Self::MAX_PARALLELISM
            ));
        }
        if self.iterations == 0 || self.iterations > Self::MAX_ITERATIONS {
            return bad(format!(
                "passes {} outside 1..={}",
                self.iterations,
                Self::MAX_ITERATIONS
            ));
        }
        let min_memory = 8 * self.parallelism;
        if self.memory_kib < min_memory || self.memory_kib > Self::MAX_MEMORY_KIB {
            return bad(format!(
                "memory {} KiB outside {min_memory}..={} KiB",
                self.memory_kib,
                Self::MAX_MEMORY_KIB
            ));
        }
        let work = u64::from(self.memory_kib) * u64::from(self.iterations);
        if work > Self::MAX_WORK_KIB {
            return bad(format!(
                "work {work} KiB·passes (memory × passes) above the limit of {} KiB·passes",
                Self::MAX_WORK_KIB
            ));
        }
        Ok(())
    }
}

/// Derives a master secret from a passphrase and a salt with Argon2id.
///
/// The costs are checked ([`Argon2Params::check`]) before any memory is allocated. Argon2's
/// memory blocks are wiped when it is done (its `zeroize` feature), and so is the output buffer.
///
/// # Errors
/// [`Error::KdfParams`] for out-of-range costs or a salt length outside
/// [`Argon2Params::SALT_LEN`].
pub fn secret_from_passphrase(
    passphrase: &[u8],
    salt: &[u8],
    params: Argon2Params,
) -> Result<MasterSecret> {
    if !Argon2Params::SALT_LEN.contains(&salt.len()) {
        return Err(Error::KdfParams(format!(
            "salt must be {} to {} bytes, got {}",
            Argon2Params::SALT_LEN.start(),
            Argon2Params::SALT_LEN.end(),
            salt.len()
        )));
    }
    params.check()?;
    let p = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(SECRET_LEN),
    )
    .map_err(|e| Error::KdfParams(e.to_string()))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
    let mut out = Zeroizing::new([0u8; SECRET_LEN]);
    argon
        .hash_password_into(passphrase, salt, out.as_mut_slice())
        .map_err(|e| Error::KdfParams(e.to_string()))?;
    Ok(MasterSecret::from_bytes(*out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Argon2Params = Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn passphrase_derivation() {
        let a = secret_from_passphrase(b"correct horse", &[1; 16], FAST).unwrap();
        let b = secret_from_passphrase(b"correct horse", &[1; 16], FAST).unwrap();
        let c = secret_from_passphrase(b"correct horsf", &[1; 16], FAST).unwrap();
        let d = secret_from_passphrase(b"correct horse", &[2; 16], FAST).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn bad_params() {
        assert!(secret_from_passphrase(b"x", &[1; 8], FAST).is_err());
        assert!(secret_from_passphrase(b"x", &[1; 65], FAST).is_err());
        assert!(secret_from_passphrase(b"x", &[1; 64], FAST).is_ok());
        let huge = Argon2Params {
            memory_kib: u32::MAX,
            ..FAST
        };
        assert!(secret_from_passphrase(b"x", &[1; 16], huge).is_err());
    }

    /// Every cost a key file can set is bounded; each cap is rejected just above its limit
    /// (before anything is allocated: these would take gigabytes or minutes otherwise).
    #[test]
    fn costs_are_capped() {
        let reject = |p: Argon2Params, what: &str| {
            let e = secret_from_passphrase(b"x", &[1; 16], p).unwrap_err();
            assert!(
                matches!(&e, Error::KdfParams(m) if m.contains(what)),
                "{p:?}: {e}"
            );
        };
        let max_mem = Argon2Params {
            memory_kib: Argon2Params::MAX_MEMORY_KIB,
            iterations: 1,
            parallelism: 1,
        };
        assert_eq!(max_mem.check(), Ok(()));
        reject(
            Argon2Params {
                memory_kib: Argon2Params::MAX_MEMORY_KIB + 1,
                ..max_mem
            },
            "memory",
        );
        reject(
            Argon2Params {
                iterations: Argon2Params::MAX_ITERATIONS + 1,
                ..FAST
            },
            "passes",
        );
        reject(
            Argon2Params {
                iterations: 0,
                ..FAST
            },
            "passes",
        );
        reject(
            Argon2Params {
                parallelism: Argon2Params::MAX_PARALLELISM + 1,
                memory_kib: 1024,
                ..FAST
            },
            "lanes",
        );
        reject(
            Argon2Params {
                parallelism: 0,
                ..FAST
            },
            "lanes",
        );
        // Each within its own cap, but 2 GiB × 3 passes is too much work.
        reject(
            Argon2Params {
                iterations: 3,
                ..max_mem
            },
            "work",
        );
        assert_eq!(
            Argon2Params {
                iterations: 2,
                ..max_mem
            }
            .check(),
            Ok(())
        );
        assert_eq!(Argon2Params::default().check(), Ok(()));
    }

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 5869, Appendix A, test cases 1–3 (HKDF-SHA-256), typed in from the RFC:
    /// IKM, salt, info, L, PRK, OKM. Source of truth: the RFC, not this crate.
    #[test]
    fn hkdf_rfc5869_test_vectors() {
        /// IKM, salt, info, L, PRK, OKM.
        type Case<'a> = (&'a [u8], &'a [u8], &'a [u8], usize, &'a str, &'a str);
        let cases: [Case<'_>; 3] = [
            // Case 1: basic test case.
            (
                &[0x0b; 22],
                &unhex("000102030405060708090a0b0c"),
                &unhex("f0f1f2f3f4f5f6f7f8f9"),
                42,
                "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf\
                 34007208d5b887185865",
            ),
            // Case 2: longer inputs/outputs (IKM 0x00..0x4f, salt 0x60..0xaf, info 0xb0..0xff).
            (
                &(0x00..=0x4fu8).collect::<Vec<u8>>(),
                &(0x60..=0xafu8).collect::<Vec<u8>>(),
                &(0xb0..=0xffu8).collect::<Vec<u8>>(),
                82,
                "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
                "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c\
                 59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71\
                 cc30c58179ec3e87c14c01d5c1f3434f1d87",
            ),
            // Case 3: zero-length salt and info.
            (
                &[0x0b; 22],
                &[],
                &[],
                42,
                "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
                "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d\
                 9d201395faa4b61a96c8",
            ),
        ];
        for (n, (ikm, salt, info, len, prk, okm)) in cases.into_iter().enumerate() {
            let mut out = vec![0u8; len];
            let got_prk = hkdf_sha256(salt, ikm, info, &mut out);
            assert_eq!(hex::encode(got_prk), prk, "RFC 5869 case {} PRK", n + 1);
            assert_eq!(hex::encode(out), okm, "RFC 5869 case {} OKM", n + 1);
        }
    }

    /// Pins pixveil's derivation (salt `"pixveil/v1/hkdf"`, info `label ‖ 0x00 ‖ ctx`, 32 bytes,
    /// `docs/schemes.md` §1) so that key files stay readable across pixveil versions. The
    /// expected values come from Python's standard library, not from this crate:
    ///
    /// ```text
    /// python3 -c 'import hmac,hashlib,sys;H=lambda k,m:hmac.new(k,m,hashlib.sha256).digest();
    ///   prk=H(b"pixveil/v1/hkdf",bytes(32));print(H(prk,b"label\0ctx"+b"\1").hex())'
    /// ```
    /// (one block of RFC 5869's expand: `T(1) = HMAC(PRK, info ‖ 0x01)` is the whole 32 bytes).
    #[test]
    fn hkdf_known_answer() {
        assert_eq!(
            hex::encode(hkdf_expand(&[0u8; 32], "label", b"ctx")),
            "b0fb8dedc4850ccbfc74a293e0c87ab57175b3037220497d41019127c809a598"
        );
        // The 0x00 separator is part of the info: "label" ‖ 0 ‖ "ctx" ≠ "label" ‖ 0 ‖ "ctx2".
        assert_ne!(
            hkdf_expand(&[0u8; 32], "label", b"ctx"),
            hkdf_expand(&[0u8; 32], "label", b"ctx2")
        );
    }
}
