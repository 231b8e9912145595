//! CKKS parameters: an unchecked, serde-friendly [`ParametersLiteral`] and the validated,
//! immutable [`Parameters`] built from it.
//!
//! Validation enforces the HomomorphicEncryption.org security standard (Albrecht et al.
//! 2018, ternary secret, classical attacks; the same table as SEAL's `hestdparms.h`): the
//! total bit count of all primes, ciphertext *and* special, must not exceed
//!
//! | N      | 128-bit | 192-bit | 256-bit |
//! |--------|---------|---------|---------|
//! | 1024   | 27      | 19      | 14      |
//! | 2048   | 54      | 37      | 29      |
//! | 4096   | 109     | 75      | 58      |
//! | 8192   | 218     | 152     | 118     |
//! | 16384  | 438     | 305     | 237     |
//! | 32768  | 881     | 611     | 476     |
//!
//! Anything else is refused with [`Error::Insecure`]. Only builds with the
//! `insecure-params` cargo feature (tests and benchmarks on small rings) have
//! `SecurityLevel::None`, which skips the table: without the feature no literal, built or
//! deserialized, and no serialized parameter file can avoid the check.

use crate::{Error, Result};
use pixveil_math::primes::ntt_primes;
use pixveil_math::{BasisConverter, RnsComposer};
use pixveil_ring::RingContext;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Required security level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SecurityLevel {
    /// 128-bit classical security (the default).
    Bits128,
    /// 192-bit classical security.
    Bits192,
    /// 256-bit classical security.
    Bits256,
    /// No security check at all. **Not secure**: for tests and experiments only. Exists only
    /// with the `insecure-params` cargo feature (and in this crate's own unit tests); without
    /// it, deserializing a literal that says `"None"` fails ("unknown variant").
    #[cfg(any(test, feature = "insecure-params"))]
    None,
}

impl SecurityLevel {
    /// The byte that encodes this level (in fingerprints and serialized parameters).
    pub(crate) fn tag(self) -> u8 {
        match self {
            Self::Bits128 => 1,
            Self::Bits192 => 2,
            Self::Bits256 => 3,
            #[cfg(any(test, feature = "insecure-params"))]
            Self::None => 0,
        }
    }

    /// Whether parameters at this level must fit the security table (all levels but the
    /// feature-gated `None`).
    pub fn is_checked(self) -> bool {
        match self {
            Self::Bits128 | Self::Bits192 | Self::Bits256 => true,
            #[cfg(any(test, feature = "insecure-params"))]
            Self::None => false,
        }
    }

    /// Largest total `log2(QP)` in bits for degree `n`, or `None` if the table has no entry
    /// (or no check applies, for the feature-gated `SecurityLevel::None`).
    pub fn max_log_qp(self, n: usize) -> Option<u32> {
        let row = match n {
            1024 => [27, 19, 14],
            2048 => [54, 37, 29],
            4096 => [109, 75, 58],
            8192 => [218, 152, 118],
            16384 => [438, 305, 237],
            32768 => [881, 611, 476],
            _ => return None,
        };
        match self {
            Self::Bits128 => Some(row[0]),
            Self::Bits192 => Some(row[1]),
            Self::Bits256 => Some(row[2]),
            #[cfg(any(test, feature = "insecure-params"))]
            Self::None => None,
        }
    }
}

/// Unchecked description of a parameter set. Turn it into [`Parameters`] with
/// [`Parameters::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParametersLiteral {
    /// `log2(N)`: the ring degree is `N = 2^log_n`, with `N/2` complex slots.
    pub log_n: u32,
    /// Bit sizes of the ciphertext primes `q_0, q_1, …` (`q_0` first, the last one is dropped
    /// first by rescaling). A ciphertext at level `ℓ` uses `q_0 … q_ℓ`.
    pub log_q: Vec<u32>,
    /// Bit sizes of the special primes `p_0 … p_{K-1}` used by key switching (1 to 8). Their
    /// product `P` must be at least as large as every `q_i` **by value** (checked after the
    /// primes are generated; special primes are generated first, so one special prime as
    /// wide as the widest `q_i` always suffices).
    pub log_p: Vec<u32>,
    /// Default scale `Δ = 2^log_scale` used by the encoder.
    pub log_scale: u32,
    /// Required security level.
    pub security: SecurityLevel,
}

/// Named parameter sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Preset {
    /// The TenSEAL MNIST chain: `N = 8192`, `q = [31, 26×6]`, `P = 31` (218 bits, 128-bit
    /// secure), `Δ = 2^26`: six rescales, ≈ 5 bits of integer headroom in `q_0`. `P` is the
    /// largest 31-bit NTT prime (2147352577) and `q_0` the next (2147205121), so `P > q_0`
    /// (SEAL's `CoeffModulus::Create` gives these chains the other way round).
    TenSeal8192,
    /// A more precise 128-bit chain at `N = 8192`: `q = [40, 26×5]`, `P = 48` (218 bits),
    /// `Δ = 2^26`: five rescales, 14 bits of headroom, and a 48-bit special prime that makes
    /// key-switching noise ≈ 2^17 times smaller than with `P = 31`.
    Precise8192,
    /// `N = 16384`, `q = [50, 40×8]`, `P = 60` (430 bits ≤ 438), `Δ = 2^40`: eight rescales at
    /// 40-bit precision.
    Standard16384,
    /// A precise chain at `N = 8192` whose primes are all below 2^31 (every kernel vectorized):
    /// `q = [31, 26×5]`, two special primes `P = [28, 28]` (217 bits), `Δ = 2^26`: five
    /// rescales and a 56-bit `P` for small key-switching noise.
    Fast8192,
}

impl Preset {
    /// The literal of this preset.
    pub fn literal(self) -> ParametersLiteral {
        let (log_n, log_q, log_p, log_scale) = match self {
            Self::TenSeal8192 => (13, [vec![31], vec![26; 6]].concat(), vec![31], 26),
            Self::Precise8192 => (13, [vec![40], vec![26; 5]].concat(), vec![48], 26),
            Self::Standard16384 => (14, [vec![50], vec![40; 8]].concat(), vec![60], 40),
            Self::Fast8192 => (13, [vec![31], vec![26; 5]].concat(), vec![28, 28], 26),
        };
        ParametersLiteral {
            log_n,
            log_q,
            log_p,
            log_scale,
            security: SecurityLevel::Bits128,
        }
    }

    /// Short name (`tenseal`, `precise`, `n16384`, `fast`).
    pub fn name(self) -> &'static str {
        match self {
            Self::TenSeal8192 => "tenseal",
            Self::Precise8192 => "precise",
            Self::Standard16384 => "n16384",
            Self::Fast8192 => "fast",
        }
    }
}

/// Largest number of special primes.
pub const MAX_SPECIAL_PRIMES: usize = 8;

/// Length of the parameter fingerprint in bytes.
pub const FINGERPRINT_LEN: usize = 16;

/// A parameter fingerprint: the first 16 bytes of SHA-256 over a canonical encoding of
/// `(N, primes, special primes, Δ, security)`. Every plaintext, ciphertext and key carries it.
pub type Fingerprint = [u8; FINGERPRINT_LEN];

/// Per-level constants for rescaling and key switching.
#[derive(Debug)]
pub(crate) struct LevelTables {
    /// `q_ℓ^{-1} mod q_j` (with Shoup companion) for `j < ℓ`.
    pub(crate) inv_last: Vec<(u64, u64)>,
}

/// Validated CKKS parameters (immutable, shared with `Arc`).
#[derive(Debug)]
pub struct Parameters {
    literal: ParametersLiteral,
    n: usize,
    q: Vec<u64>,
    p: Vec<u64>,
    ctx: Arc<RingContext>,
    fingerprint: Fingerprint,
    log_qp: u32,
    pub(crate) levels: Vec<LevelTables>,
    pub(crate) composers: Vec<RnsComposer>,
    /// `P mod q_j` for every ciphertext prime.
    pub(crate) p_mod_q: Vec<u64>,
    /// `P^{-1} mod q_j` with Shoup companion.
    pub(crate) p_inv_mod_q: Vec<(u64, u64)>,
    /// Fast basis conversion `P → q_0 … q_ℓ` per level (only with several special primes).
    pub(crate) p_to_q: Vec<BasisConverter>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidParameter {
        field,
        reason: reason.into(),
    }
}

impl Parameters {
    /// Validates a literal and generates its primes: the largest unused NTT-friendly prime
    /// (`≡ 1 mod 2N`) of each requested size, special primes first, then `q_0, q_1, …`.
    ///
    /// Invariant established here: `P = Π p_k ≥ q_i` for every ciphertext prime (by value),
    /// which keeps the key-switching noise `≈ Σ_i |d_i|·|e_i| / P` with `|d_i| ≤ q_i/2` small.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for malformed literals (including `P < q_i`),
    /// [`Error::Insecure`] if the total
    /// modulus exceeds the security table (or `N` has no table entry), unless the level is
    /// the feature-gated `SecurityLevel::None`.
    pub fn new(literal: &ParametersLiteral) -> Result<Arc<Self>> {
        let l = literal;
        if !(3..=17).contains(&l.log_n) {
            return Err(invalid("log_n", format!("{} not in 3..=17", l.log_n)));
        }
        let n = 1usize << l.log_n;
        if l.log_q.is_empty() || l.log_q.len() > 64 {
            return Err(invalid("log_q", "need 1..=64 ciphertext primes"));
        }
        if l.log_p.is_empty() || l.log_p.len() > MAX_SPECIAL_PRIMES {
            return Err(invalid(
                "log_p",
                format!("need 1..={MAX_SPECIAL_PRIMES} special primes"),
            ));
        }
        let min_bits = l.log_n + 2;
        for &b in l.log_q.iter().chain(&l.log_p) {
            if !(min_bits..=60).contains(&b) {
                return Err(invalid(
                    "log_q/log_p",
                    format!("prime size {b} not in {min_bits}..=60 bits"),
                ));
            }
        }
        if l.log_scale == 0 || l.log_scale >= l.log_q[0] || l.log_scale > 60 {
            return Err(invalid(
                "log_scale",
                format!("{} must be in 1..log_q[0] = {}", l.log_scale, l.log_q[0]),
            ));
        }
        // Every prime is the largest unused NTT-friendly prime of its size, all distinct. The
        // special primes are taken first: a special prime of the same size as a ciphertext
        // prime is then the larger of the two, so `P ≥ q_i` holds whenever the sizes allow it
        // (SEAL's `CoeffModulus::Create` hands the largest prime to `q_0` instead).
        let mut used: Vec<u64> = Vec::new();
        let mut take = |bits: u32| -> Result<u64> {
            let p = ntt_primes(bits, 1, n, &used)?[0];
            used.push(p);
            Ok(p)
        };
        let p = l
            .log_p
            .iter()
            .map(|&b| take(b))
            .collect::<Result<Vec<_>>>()?;
        let q = l
            .log_q
            .iter()
            .map(|&b| take(b))
            .collect::<Result<Vec<_>>>()?;
        // Key switching divides by P a sum of digits |d_i| ≤ q_i/2 times small errors; the
        // noise bound (docs/ckks.md) needs P ≥ q_i by value, not only by bit count. A product
        // that overflows u128 exceeds every prime of at most 60 bits.
        let big_p = p
            .iter()
            .fold(1u128, |acc, &x| acc.saturating_mul(u128::from(x)));
        if let Some((i, &qi)) = q
            .iter()
            .enumerate()
            .find(|&(_, &qi)| u128::from(qi) > big_p)
        {
            return Err(invalid(
                "log_p",
                format!(
                    "special modulus P = {big_p} must be at least as large as every ciphertext \
                     prime, but q_{i} = {qi} is larger (make P wider)"
                ),
            ));
        }
        let log_qp: u32 = q.iter().chain(&p).map(|&x| 64 - x.leading_zeros()).sum();
        if l.security.is_checked() {
            let insecure = |max_log_qp| Error::Insecure {
                log_qp,
                max_log_qp,
                degree: n,
            };
            match l.security.max_log_qp(n) {
                Some(max) if log_qp <= max => {}
                Some(max) => return Err(insecure(max)),
                // A degree without a table entry allows no modulus at all.
                None => return Err(insecure(0)),
            }
        }
        let ctx = RingContext::new(n, &q, &p)?;
        let fingerprint = fingerprint(n, &q, &p, l.log_scale, l.security);
        let levels = (0..q.len())
            .map(|lvl| LevelTables {
                inv_last: (0..lvl)
                    .map(|j| {
                        let m = ctx.modulus(j);
                        let inv = m
                            .inv(q[lvl])
                            .expect("distinct primes are invertible modulo each other");
                        (inv, m.shoup(inv))
                    })
                    .collect(),
            })
            .collect();
        let composers = (1..=q.len())
            .map(|k| RnsComposer::new(&q[..k]))
            .collect::<pixveil_math::Result<Vec<_>>>()?;
        let p_total: Vec<u64> = (0..q.len())
            .map(|j| {
                let m = ctx.modulus(j);
                p.iter().fold(1, |acc, &pk| m.mul(acc, m.reduce(pk)))
            })
            .collect();
        let p_inv_mod_q = (0..q.len())
            .map(|j| {
                let m = ctx.modulus(j);
                let inv = m
                    .inv(p_total[j])
                    .expect("P is a product of primes distinct from q_j");
                (inv, m.shoup(inv))
            })
            .collect();
        let p_to_q = if p.len() > 1 {
            (0..q.len())
                .map(|lvl| BasisConverter::new(&p, &q[..=lvl]))
                .collect::<pixveil_math::Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        Ok(Arc::new(Self {
            p_to_q,
            literal: l.clone(),
            n,
            q,
            p,
            ctx,
            fingerprint,
            log_qp,
            levels,
            composers,
            p_mod_q: p_total,
            p_inv_mod_q,
        }))
    }

    /// Parameters of a named preset.
    ///
    /// # Errors
    /// Never for the shipped presets (they are validated like any literal).
    pub fn preset(p: Preset) -> Result<Arc<Self>> {
        Self::new(&p.literal())
    }

    /// The literal these parameters were built from.
    pub fn literal(&self) -> &ParametersLiteral {
        &self.literal
    }
    /// Ring degree `N`.
    pub fn degree(&self) -> usize {
        self.n
    }
    /// Number of complex slots `N/2`.
    pub fn slots(&self) -> usize {
        self.n / 2
    }
    /// Ciphertext primes `q_0 … q_{L-1}`.
    pub fn q(&self) -> &[u64] {
        &self.q
    }
    /// Special primes.
    pub fn p(&self) -> &[u64] {
        &self.p
    }
    /// Highest level `L − 1` (a fresh ciphertext's level).
    pub fn max_level(&self) -> usize {
        self.q.len() - 1
    }
    /// Default scale `Δ = 2^log_scale`.
    pub fn default_scale(&self) -> f64 {
        (self.literal.log_scale as f64).exp2()
    }
    /// Total bit count of all primes (the quantity the security table bounds).
    pub fn log_qp(&self) -> u32 {
        self.log_qp
    }
    /// The parameter fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
    /// The ring context (ciphertext primes then special primes).
    pub fn ring(&self) -> &Arc<RingContext> {
        &self.ctx
    }

    /// Checks a fingerprint against these parameters.
    ///
    /// # Errors
    /// [`Error::ParameterMismatch`].
    pub fn check_fingerprint(&self, f: &Fingerprint) -> Result<()> {
        if f != &self.fingerprint {
            return Err(Error::ParameterMismatch {
                expected: hex(&self.fingerprint),
                actual: hex(f),
            });
        }
        Ok(())
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn fingerprint(n: usize, q: &[u64], p: &[u64], log_scale: u32, sec: SecurityLevel) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(b"pixveil-ckks/parameters/v1");
    h.update((n as u64).to_le_bytes());
    h.update((q.len() as u32).to_le_bytes());
    for x in q {
        h.update(x.to_le_bytes());
    }
    h.update((p.len() as u32).to_le_bytes());
    for x in p {
        h.update(x.to_le_bytes());
    }
    h.update(log_scale.to_le_bytes());
    h.update([sec.tag()]);
    let d = h.finalize();
    let mut f = [0u8; FINGERPRINT_LEN];
    f.copy_from_slice(&d[..FINGERPRINT_LEN]);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_secure_and_distinct() {
        let a = Parameters::preset(Preset::TenSeal8192).unwrap();
        assert_eq!(a.log_qp(), 218);
        assert_eq!(a.max_level(), 6);
        assert!(a.q().iter().chain(a.p()).all(|&x| x % 16384 == 1));
        let b = Parameters::preset(Preset::Precise8192).unwrap();
        assert_eq!(b.log_qp(), 218);
        assert_ne!(a.fingerprint(), b.fingerprint());
        let c = Parameters::preset(Preset::Standard16384).unwrap();
        assert!(c.log_qp() <= 438);
        let d = Parameters::preset(Preset::Fast8192).unwrap();
        assert!(d.log_qp() <= 218 && d.p().len() == 2);
        assert!(d.q().iter().chain(d.p()).all(|&x| x < 1 << 31));
    }

    /// `P ≥ q_i` holds by value for every preset and for pixveil-henn's chains (one special
    /// prime as wide as `q_0`), and a literal whose bit counts satisfy it but whose primes
    /// do not is refused. The `TenSeal8192` preset used to have `P = 2147205121 < q_0 =
    /// 2147352577`.
    #[test]
    fn special_modulus_is_at_least_every_prime_by_value() {
        for preset in [
            Preset::TenSeal8192,
            Preset::Precise8192,
            Preset::Standard16384,
            Preset::Fast8192,
        ] {
            let params = Parameters::preset(preset).unwrap();
            let big_p: u128 = params.p().iter().map(|&x| u128::from(x)).product();
            let max_q = params.q().iter().copied().max().unwrap();
            assert!(big_p >= u128::from(max_q), "{}", preset.name());
        }
        let t = Parameters::preset(Preset::TenSeal8192).unwrap();
        assert_eq!(t.p(), [2147352577]);
        assert_eq!(t.q()[0], 2147205121);
        // Two 10-bit special primes against a 20-bit q_0 (N = 8): 20 bits each way, but
        // 1009 · 977 < q_0.
        let lit = ParametersLiteral {
            log_n: 3,
            log_q: vec![20],
            log_p: vec![10, 10],
            log_scale: 10,
            security: SecurityLevel::Bits128,
        };
        assert!(lit.log_p.iter().sum::<u32>() >= lit.log_q[0]);
        let err = Parameters::new(&lit).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidParameter { field: "log_p", reason } if reason.contains("q_0")),
            "{err}"
        );
    }

    #[test]
    fn rejects_insecure_unless_allowed() {
        let mut l = Preset::TenSeal8192.literal();
        l.log_q.push(26);
        assert_eq!(
            Parameters::new(&l).unwrap_err(),
            Error::Insecure {
                log_qp: 244,
                max_log_qp: 218,
                degree: 8192
            }
        );
        l.security = SecurityLevel::Bits192;
        assert!(matches!(
            Parameters::new(&l),
            Err(Error::Insecure {
                max_log_qp: 152,
                ..
            })
        ));
        l.security = SecurityLevel::None;
        assert!(Parameters::new(&l).is_ok());
        // Small N has no room for any useful chain at 128 bits.
        let small = ParametersLiteral {
            log_n: 10,
            log_q: vec![30, 20],
            log_p: vec![30],
            log_scale: 20,
            security: SecurityLevel::Bits128,
        };
        assert!(matches!(
            Parameters::new(&small),
            Err(Error::Insecure { degree: 1024, .. })
        ));
        // N with no table entry is refused unless explicitly allowed.
        let tiny = ParametersLiteral {
            log_n: 5,
            ..small.clone()
        };
        assert!(matches!(
            Parameters::new(&tiny),
            Err(Error::Insecure { max_log_qp: 0, .. })
        ));
    }

    #[test]
    fn rejects_malformed() {
        let base = Preset::Precise8192.literal();
        let cases = [
            ParametersLiteral {
                log_n: 2,
                ..base.clone()
            },
            ParametersLiteral {
                log_q: vec![],
                ..base.clone()
            },
            ParametersLiteral {
                log_p: vec![],
                ..base.clone()
            },
            ParametersLiteral {
                log_p: vec![30],
                ..base.clone()
            },
            ParametersLiteral {
                log_q: vec![61],
                ..base.clone()
            },
            ParametersLiteral {
                log_scale: 40,
                ..base.clone()
            },
            ParametersLiteral {
                log_scale: 0,
                ..base.clone()
            },
            ParametersLiteral {
                log_q: vec![14, 14],
                ..base.clone()
            },
        ];
        for c in cases {
            assert!(
                matches!(Parameters::new(&c), Err(Error::InvalidParameter { .. })),
                "{c:?}"
            );
        }
    }

    #[test]
    fn literal_json_roundtrip() {
        let l = Preset::Precise8192.literal();
        let j = serde_json::to_string(&l).unwrap();
        assert_eq!(serde_json::from_str::<ParametersLiteral>(&j).unwrap(), l);
        assert_eq!(Parameters::new(&l).unwrap().literal(), &l);
    }
}
