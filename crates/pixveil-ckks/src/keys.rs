//! Secret, public, relinearization and Galois keys.
//!
//! Key switching is SEAL-style *hybrid* key switching with one special prime `P` and one
//! digit per ciphertext prime: the key for a target secret `s'` is, for `i = 0 … L−1`,
//! `(b_i, a_i) = (−a_i·s + e_i + P·[s']_{q_i}·δ_i, a_i)` over `Q·P`, where `δ_i ≡ 1 (mod q_i)`
//! and `≡ 0` modulo the other primes. The `a_i` are expanded from one 32-byte seed, so a
//! serialized key is about half the size of its polynomials.
//!
//! Galois keys are stored *pre-permuted*: the key for the automorphism `σ` switches `s` to
//! `σ^{-1}(s)` (it is `σ^{-1}` applied to the textbook key `σ(s) → s`, with fresh `a_i`). A
//! rotation can then use the digits of `c_1` as they are and permute only its two output
//! polynomials, instead of permuting every digit.

use crate::params::{Fingerprint, Parameters};
use crate::Result;
use pixveil_ring::sample;
use pixveil_ring::{galois_element_conjugate, galois_element_for_step, Basis, Ntt, Poly};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The secret key `s`, a uniform ternary polynomial. Zeroized on drop; `Debug` is redacted.
#[derive(Clone)]
pub struct SecretKey {
    pub(crate) coeffs: Vec<i64>,
    /// `s` in NTT form over the full basis `Q ∪ P`.
    pub(crate) ntt: Poly<Ntt>,
    pub(crate) fingerprint: Fingerprint,
}

impl Zeroize for SecretKey {
    fn zeroize(&mut self) {
        self.coeffs.zeroize();
        self.ntt.zeroize();
    }
}
impl Drop for SecretKey {
    fn drop(&mut self) {
        self.zeroize();
    }
}
impl ZeroizeOnDrop for SecretKey {}

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecretKey")
            .field("coeffs", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// Samples a fresh uniform ternary secret.
    ///
    /// # Errors
    /// Never for validated parameters.
    pub fn generate<R: RngCore + CryptoRng>(params: &Arc<Parameters>, rng: &mut R) -> Result<Self> {
        Self::from_coeffs(params, sample::ternary(params.degree(), rng))
    }

    /// The key with ternary coefficients `coeffs` (moved into the key; zeroized on error).
    pub(crate) fn from_coeffs(
        params: &Arc<Parameters>,
        mut coeffs: Zeroizing<Vec<i64>>,
    ) -> Result<Self> {
        let ctx = params.ring();
        let ntt = Poly::from_i64(ctx, ctx.full_basis(), &coeffs)?.into_ntt();
        Ok(Self {
            coeffs: core::mem::take(&mut *coeffs),
            ntt,
            fingerprint: *params.fingerprint(),
        })
    }

    /// Parameter fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// `s` restricted to `basis`.
    pub(crate) fn at(&self, basis: Basis) -> Result<Poly<Ntt>> {
        restrict(&self.ntt, basis)
    }
}

/// Copies the rows of `p` (which must be over the full basis) that belong to `basis`.
pub(crate) fn restrict(p: &Poly<Ntt>, basis: Basis) -> Result<Poly<Ntt>> {
    let ctx = p.context();
    let n = ctx.degree();
    if p.basis() != ctx.full_basis() {
        return Err(pixveil_ring::Error::BasisMismatch {
            left: p.basis(),
            right: ctx.full_basis(),
        }
        .into());
    }
    ctx.check_basis(basis)?;
    let mut data = pixveil_math::pool::take::<u64>(basis.len() * n);
    for (r, dst) in data.chunks_exact_mut(n).enumerate() {
        // Over the full basis, row index = context prime index.
        dst.copy_from_slice(p.row(ctx.prime_index(basis, r)));
    }
    Ok(Poly::from_raw(ctx, basis, data)?)
}

/// The public key `(b, a) = (−a·s + e, a)` over `Q·P` (`a` expanded from a seed).
#[derive(Debug, Clone, PartialEq)]
pub struct PublicKey {
    pub(crate) b: Poly<Ntt>,
    pub(crate) a: Poly<Ntt>,
    pub(crate) seed: [u8; 32],
    pub(crate) fingerprint: Fingerprint,
}

impl PublicKey {
    /// Parameter fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
}

/// Key polynomials of all digits, row-major `[digit][row][coefficient]` over the full basis
/// `Q ∪ P`; stored as `u32` when every prime is below 2^32 (half the memory and memory traffic).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KeyData {
    U32(Vec<u32>),
    U64(Vec<u64>),
}

/// One row of [`KeyData`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyRow<'a> {
    U32(&'a [u32]),
    U64(&'a [u64]),
}

impl KeyData {
    fn pack(polys: &[Poly<Ntt>], compact: bool) -> Self {
        if compact {
            Self::U32(
                polys
                    .iter()
                    .flat_map(|p| p.data().iter().map(|&x| x as u32))
                    .collect(),
            )
        } else {
            Self::U64(
                polys
                    .iter()
                    .flat_map(|p| p.data().iter().copied())
                    .collect(),
            )
        }
    }

    fn row(&self, start: usize, n: usize) -> KeyRow<'_> {
        match self {
            Self::U32(v) => KeyRow::U32(&v[start..start + n]),
            Self::U64(v) => KeyRow::U64(&v[start..start + n]),
        }
    }
}

/// A key-switching key from a target secret `s'` to `s`, one digit per ciphertext prime,
/// for ciphertexts up to level `level`: digits `0 … level`, each over `q_0 … q_level, P`
/// (a key for the top level covers the full basis; a lower one is level-trimmed, smaller by
/// the digits and rows it leaves out).
#[derive(Debug, Clone, PartialEq)]
pub struct KeySwitchKey {
    b: KeyData,
    a: KeyData,
    level: usize,
    num_q: usize,
    n: usize,
    /// Bit size of each stored row's prime (for serialization).
    bits: Vec<u32>,
    pub(crate) seed: [u8; 32],
}

impl KeySwitchKey {
    /// The basis of every digit of a key for ciphertexts up to `level`.
    pub(crate) fn basis(params: &Parameters, level: usize) -> Basis {
        Basis {
            q: level + 1,
            p: params.ring().num_p(),
        }
    }

    /// Builds the key from its polynomials (`b_i`, `a_i` over [`KeySwitchKey::basis`]).
    pub(crate) fn from_polys(
        params: &Parameters,
        b: &[Poly<Ntt>],
        a: &[Poly<Ntt>],
        seed: [u8; 32],
        level: usize,
    ) -> Self {
        let ctx = params.ring();
        let compact = ctx.primes().iter().all(|&q| q < 1 << 32);
        let basis = Self::basis(params, level);
        Self {
            b: KeyData::pack(b, compact),
            a: KeyData::pack(a, compact),
            level,
            num_q: ctx.num_q(),
            n: ctx.degree(),
            bits: (0..basis.len())
                .map(|r| ctx.modulus(ctx.prime_index(basis, r)).bits())
                .collect(),
            seed,
        }
    }

    /// Highest ciphertext level this key switches.
    pub fn level(&self) -> usize {
        self.level
    }

    /// Bit size of the prime of stored row `row`.
    pub(crate) fn row_bits(&self, row: usize) -> u32 {
        self.bits[row]
    }

    /// Stored rows per digit (`level + 1 + K`).
    pub(crate) fn rows(&self) -> usize {
        self.bits.len()
    }

    /// Number of digits (`level + 1`).
    pub(crate) fn digits(&self) -> usize {
        self.level + 1
    }

    /// Stored row of context prime `idx` (a ciphertext prime `≤ level` or a special prime).
    fn row_of(&self, idx: usize) -> usize {
        if idx <= self.level {
            idx
        } else {
            assert!(
                idx >= self.num_q,
                "prime {idx} is above the key's level {}",
                self.level
            );
            self.level + 1 + (idx - self.num_q)
        }
    }

    /// Stored row `row` of `b_digit`.
    pub(crate) fn b_stored_row(&self, digit: usize, row: usize) -> KeyRow<'_> {
        self.b.row((digit * self.rows() + row) * self.n, self.n)
    }

    /// Row of context prime `idx` of `b_digit`.
    pub(crate) fn b_row(&self, digit: usize, idx: usize) -> KeyRow<'_> {
        self.b_stored_row(digit, self.row_of(idx))
    }

    /// Row of context prime `idx` of `a_digit`.
    pub(crate) fn a_row(&self, digit: usize, idx: usize) -> KeyRow<'_> {
        self.a
            .row((digit * self.rows() + self.row_of(idx)) * self.n, self.n)
    }

    /// Expands the `a_i` of a key for `level` from `seed` (digit after digit, each over
    /// [`KeySwitchKey::basis`]; at the top level this is the full basis).
    pub(crate) fn expand_a(
        params: &Parameters,
        seed: &[u8; 32],
        level: usize,
    ) -> Result<Vec<Poly<Ntt>>> {
        let ctx = params.ring();
        let basis = Self::basis(params, level);
        let mut rng = ChaCha20Rng::from_seed(*seed);
        (0..=level)
            .map(|_| Ok(sample::uniform(ctx, basis, &mut rng)?))
            .collect()
    }

    /// Generates the key switching from `target` (NTT, full basis) to `sk`, for every level.
    pub(crate) fn generate<R: RngCore + CryptoRng>(
        params: &Parameters,
        sk: &SecretKey,
        target: &Poly<Ntt>,
        rng: &mut R,
    ) -> Result<Self> {
        Self::generate_for(params, &sk.ntt, target, params.max_level(), rng)
    }

    /// Key switching from `target` to `source` (both NTT, full basis) for ciphertexts up to
    /// `level`: an encryption of `P·target·δ_i` under `source` for digits `i ≤ level`.
    pub(crate) fn generate_for<R: RngCore + CryptoRng>(
        params: &Parameters,
        source: &Poly<Ntt>,
        target: &Poly<Ntt>,
        level: usize,
        rng: &mut R,
    ) -> Result<Self> {
        let ctx = params.ring();
        let n = params.degree();
        let basis = Self::basis(params, level);
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let a = Self::expand_a(params, &seed, level)?;
        let mut source = restrict(source, basis)?;
        let mut b = Vec::with_capacity(a.len());
        for (i, ai) in a.iter().enumerate() {
            let e = Poly::from_i64(ctx, basis, &sample::gaussian(n, rng))?.into_ntt();
            let mut bi = ai.clone();
            bi.mul_assign(&source)?;
            bi.neg_assign();
            bi.add_assign(&e)?;
            // Row i gets P·s' (P ≡ 0 modulo the special prime, so nothing is added there).
            let m = *ctx.modulus(i);
            let pm = params.p_mod_q[i];
            let pms = m.shoup(pm);
            for (x, &y) in bi.row_mut(i).iter_mut().zip(target.row(i)) {
                *x = m.add(*x, m.mul_shoup(y, pm, pms));
            }
            b.push(bi);
        }
        source.zeroize();
        Ok(Self::from_polys(params, &b, &a, seed, level))
    }
}

/// Relinearization key (switches `s²` to `s`).
#[derive(Debug, Clone, PartialEq)]
pub struct RelinKey {
    pub(crate) key: KeySwitchKey,
    pub(crate) fingerprint: Fingerprint,
}

impl RelinKey {
    /// Parameter fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
}

/// Galois keys for a chosen set of rotations (and optionally conjugation), indexed by Galois
/// element.
#[derive(Debug, Clone, PartialEq)]
pub struct GaloisKeys {
    pub(crate) keys: BTreeMap<usize, KeySwitchKey>,
    pub(crate) fingerprint: Fingerprint,
}

impl GaloisKeys {
    /// Parameter fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
    /// Galois elements with a key.
    pub fn elements(&self) -> impl Iterator<Item = usize> + '_ {
        self.keys.keys().copied()
    }
    /// Whether a key for the Galois element exists.
    pub fn contains(&self, element: usize) -> bool {
        self.keys.contains_key(&element)
    }
    /// Highest ciphertext level the key for `element` serves, if there is one.
    pub fn level(&self, element: usize) -> Option<usize> {
        self.keys.get(&element).map(KeySwitchKey::level)
    }
    pub(crate) fn get(&self, element: usize) -> Option<&KeySwitchKey> {
        self.keys.get(&element)
    }
}

/// Generates all keys from one secret key.
#[derive(Debug)]
pub struct KeyGenerator {
    params: Arc<Parameters>,
    sk: SecretKey,
}

impl KeyGenerator {
    /// A key generator with a fresh secret key.
    ///
    /// # Errors
    /// Never for validated parameters.
    pub fn new<R: RngCore + CryptoRng>(params: &Arc<Parameters>, rng: &mut R) -> Result<Self> {
        Ok(Self {
            params: params.clone(),
            sk: SecretKey::generate(params, rng)?,
        })
    }

    /// A key generator for an existing secret key.
    ///
    /// # Errors
    /// [`crate::Error::ParameterMismatch`] if the key belongs to other parameters.
    pub fn from_secret_key(params: &Arc<Parameters>, sk: SecretKey) -> Result<Self> {
        params.check_fingerprint(&sk.fingerprint)?;
        Ok(Self {
            params: params.clone(),
            sk,
        })
    }

    /// The secret key.
    pub fn secret_key(&self) -> &SecretKey {
        &self.sk
    }

    /// A public key with a seeded `a`.
    ///
    /// # Errors
    /// Never for validated parameters.
    pub fn public_key<R: RngCore + CryptoRng>(&self, rng: &mut R) -> Result<PublicKey> {
        let ctx = self.params.ring();
        // Over `Q·P`: encryption works modulo `q_0 … q_ℓ·P` and divides by `P`, which
        // removes the encryption noise (as SEAL does).
        let basis = ctx.full_basis();
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let a = sample::uniform_from_seed(ctx, basis, &seed)?;
        let e =
            Poly::from_i64(ctx, basis, &sample::gaussian(self.params.degree(), rng))?.into_ntt();
        let mut b = a.clone();
        b.mul_assign(&self.sk.at(basis)?)?;
        b.neg_assign();
        b.add_assign(&e)?;
        Ok(PublicKey {
            b,
            a,
            seed,
            fingerprint: *self.params.fingerprint(),
        })
    }

    /// The relinearization key (switches `s²` to `s`).
    ///
    /// # Errors
    /// Never for validated parameters.
    pub fn relin_key<R: RngCore + CryptoRng>(&self, rng: &mut R) -> Result<RelinKey> {
        let mut s2 = self.sk.ntt.clone();
        s2.mul_assign(&self.sk.ntt)?;
        let key = KeySwitchKey::generate(&self.params, &self.sk, &s2, rng)?;
        s2.zeroize();
        Ok(RelinKey {
            key,
            fingerprint: *self.params.fingerprint(),
        })
    }

    /// Galois keys for exactly the rotation steps asked for (positive = left), plus the
    /// conjugation key if `conjugate`, each for every level. Steps are taken modulo `N/2`;
    /// step 0 is ignored.
    ///
    /// # Errors
    /// Never for validated parameters.
    pub fn galois_keys<R: RngCore + CryptoRng>(
        &self,
        steps: &[i64],
        conjugate: bool,
        rng: &mut R,
    ) -> Result<GaloisKeys> {
        let n = self.params.degree();
        let top = self.params.max_level();
        let mut elements: Vec<(usize, usize)> = steps
            .iter()
            .map(|&s| (galois_element_for_step(s, n), top))
            .collect();
        if conjugate {
            elements.push((galois_element_conjugate(n), top));
        }
        self.galois_keys_for(&elements, rng)
    }

    /// Level-trimmed Galois keys: one key per `(step, level)`, switching ciphertexts up to
    /// that level only (a key for level `ℓ` holds `ℓ + 1` digits over `q_0 … q_ℓ, P`: a plan
    /// that rotates only low-level ciphertexts ships much smaller keys). A step listed
    /// twice gets the higher level.
    ///
    /// # Errors
    /// [`crate::Error::InvalidLevel`] for a level above the parameters' top level.
    pub fn galois_keys_at_levels<R: RngCore + CryptoRng>(
        &self,
        steps: &[(i64, usize)],
        rng: &mut R,
    ) -> Result<GaloisKeys> {
        let n = self.params.degree();
        let elements: Vec<(usize, usize)> = steps
            .iter()
            .map(|&(s, l)| (galois_element_for_step(s, n), l))
            .collect();
        self.galois_keys_for(&elements, rng)
    }

    fn galois_keys_for<R: RngCore + CryptoRng>(
        &self,
        elements: &[(usize, usize)],
        rng: &mut R,
    ) -> Result<GaloisKeys> {
        let top = self.params.max_level();
        let mut wanted: BTreeMap<usize, usize> = BTreeMap::new();
        for &(g, level) in elements {
            if level > top {
                return Err(crate::Error::InvalidLevel {
                    level,
                    max: top,
                    op: "Galois key generation",
                });
            }
            if g != 1 {
                let l = wanted.entry(g).or_insert(level);
                *l = (*l).max(level);
            }
        }
        let mut keys = BTreeMap::new();
        let m = 2 * self.params.degree();
        for (g, level) in wanted {
            // Stored pre-permuted: the key for σ_g switches `s` to `σ_g^{-1}(s)`, so rotations
            // use the digits of `c_1` unpermuted and apply σ_g once to the result (see
            // `Evaluator::apply_galois`). This is the key `(σ_g^{-1}(b_i), σ_g^{-1}(a_i))` of
            // the textbook Galois key, with `a_i` drawn fresh.
            let g_inv = (1..m)
                .step_by(2)
                .find(|&h| h * g % m == 1)
                .expect("odd elements are invertible modulo 2N");
            let mut source = self.sk.ntt.automorphism(g_inv)?;
            keys.insert(
                g,
                KeySwitchKey::generate_for(&self.params, &source, &self.sk.ntt, level, rng)?,
            );
            source.zeroize();
        }
        Ok(GaloisKeys {
            keys,
            fingerprint: *self.params.fingerprint(),
        })
    }
}
