//! Ciphertexts, encryption (public or secret key) and decryption.

use crate::encoder::{Encoder, Plaintext};
use crate::evaluator::mod_down;
use crate::keys::{restrict, PublicKey, SecretKey};
use crate::params::{Fingerprint, Parameters};
use crate::{Error, Result};
use pixveil_math::pool::Held;
use pixveil_math::Complex;
use pixveil_ring::sample;
use pixveil_ring::{Basis, Ntt, Poly};
use rand_core::{CryptoRng, RngCore};
use std::sync::Arc;

/// A CKKS ciphertext `(c_0, c_1[, c_2])` in NTT form at a level, decrypting to
/// `c_0 + c_1·s (+ c_2·s²) ≈ Δ·m`.
///
/// Invariants: all parts share one basis `q_0 … q_ℓ`; `scale > 0`; `seed`, when present, is
/// the seed `c_1` was expanded from (fresh secret-key encryptions), which lets serialization
/// store 32 bytes instead of `c_1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ciphertext {
    pub(crate) parts: Vec<Poly<Ntt>>,
    pub(crate) scale: f64,
    pub(crate) fingerprint: Fingerprint,
    pub(crate) seed: Option<[u8; 32]>,
}

impl Ciphertext {
    /// Level `ℓ` (number of ciphertext primes minus one).
    pub fn level(&self) -> usize {
        self.parts[0].basis().q - 1
    }
    /// Scale `Δ`.
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// Number of polynomials (2, or 3 after a multiplication without relinearization).
    pub fn size(&self) -> usize {
        self.parts.len()
    }
    /// Parameter fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
    /// Sets the scale (e.g. to absorb a rounding difference); the caller asserts the meaning.
    ///
    /// # Errors
    /// [`Error::InvalidScale`] if not positive and finite.
    pub fn set_scale(&mut self, scale: f64) -> Result<()> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Error::InvalidScale { log2: scale.log2() });
        }
        self.scale = scale;
        Ok(())
    }
}

/// Encrypts plaintexts under a public key or (seeded, smaller) under the secret key.
#[derive(Debug)]
pub struct Encryptor {
    params: Arc<Parameters>,
    pk: Option<PublicKey>,
    sk: Option<SecretKey>,
}

impl Encryptor {
    /// Public-key encryptor.
    ///
    /// # Errors
    /// [`Error::ParameterMismatch`] if the key belongs to other parameters.
    pub fn with_public_key(params: &Arc<Parameters>, pk: &PublicKey) -> Result<Self> {
        params.check_fingerprint(&pk.fingerprint)?;
        Ok(Self {
            params: params.clone(),
            pk: Some(pk.clone()),
            sk: None,
        })
    }

    /// Secret-key encryptor (fresh ciphertexts carry a seed instead of `c_1`).
    ///
    /// # Errors
    /// [`Error::ParameterMismatch`].
    pub fn with_secret_key(params: &Arc<Parameters>, sk: &SecretKey) -> Result<Self> {
        params.check_fingerprint(&sk.fingerprint)?;
        Ok(Self {
            params: params.clone(),
            pk: None,
            sk: Some(sk.clone()),
        })
    }

    /// Encrypts `pt` at its level.
    ///
    /// # Errors
    /// [`Error::ParameterMismatch`] if `pt` belongs to other parameters.
    pub fn encrypt<R: RngCore + CryptoRng>(
        &self,
        pt: &Plaintext,
        rng: &mut R,
    ) -> Result<Ciphertext> {
        self.params.check_fingerprint(&pt.fingerprint)?;
        let ctx = self.params.ring();
        let n = self.params.degree();
        let basis = pt.poly.basis();
        let small =
            |v: &[i64]| -> Result<Poly<Ntt>> { Ok(Poly::from_i64(ctx, basis, v)?.into_ntt()) };
        if let Some(sk) = &self.sk {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            let a = sample::uniform_from_seed(ctx, basis, &seed)?;
            let e = small(&sample::gaussian(n, rng))?;
            let mut c0 = a.clone();
            c0.mul_assign(&sk.at(basis)?)?;
            c0.neg_assign();
            c0.add_assign(&e)?;
            c0.add_assign(&pt.poly)?;
            return Ok(Ciphertext {
                parts: vec![c0, a],
                scale: pt.scale,
                fingerprint: pt.fingerprint,
                seed: Some(seed),
            });
        }
        let pk = self.pk.as_ref().ok_or(Error::Corrupt {
            reason: "encryptor without key",
        })?;
        // Encrypt zero modulo q_0 … q_ℓ·P, divide by P (noise / P + rounding), add m.
        let ext = Basis {
            q: basis.q,
            p: ctx.num_p(),
        };
        let small_ext =
            |v: &[i64]| -> Result<Poly<Ntt>> { Ok(Poly::from_i64(ctx, ext, v)?.into_ntt()) };
        let u = small_ext(&sample::ternary(n, rng))?;
        let e0 = small_ext(&sample::gaussian(n, rng))?;
        let e1 = small_ext(&sample::gaussian(n, rng))?;
        let mut b = restrict(&pk.b, ext)?;
        let mut a = restrict(&pk.a, ext)?;
        b.mul_assign(&u)?;
        b.add_assign(&e0)?;
        a.mul_assign(&u)?;
        a.add_assign(&e1)?;
        let level = basis.q - 1;
        let mut b = Poly::from_raw(
            ctx,
            basis,
            mod_down(&self.params, b.into_data(), level, Held::Secret)?,
        )?;
        let a = Poly::from_raw(
            ctx,
            basis,
            mod_down(&self.params, a.into_data(), level, Held::Secret)?,
        )?;
        b.add_assign(&pt.poly)?;
        Ok(Ciphertext {
            parts: vec![b, a],
            scale: pt.scale,
            fingerprint: pt.fingerprint,
            seed: None,
        })
    }
}

/// Decrypts ciphertexts of size 2 or 3.
#[derive(Debug)]
pub struct Decryptor {
    params: Arc<Parameters>,
    sk: SecretKey,
}

impl Decryptor {
    /// A decryptor for `sk`.
    ///
    /// # Errors
    /// [`Error::ParameterMismatch`].
    pub fn new(params: &Arc<Parameters>, sk: &SecretKey) -> Result<Self> {
        params.check_fingerprint(&sk.fingerprint)?;
        Ok(Self {
            params: params.clone(),
            sk: sk.clone(),
        })
    }

    /// Decrypts and decodes `ct`, every slot's real and imaginary part **rounded to a
    /// multiple of `2^-bits`**: the default way to read a result.
    ///
    /// An exact CKKS decryption `c_0 + c_1·s` carries the ciphertext's noise, and whoever
    /// holds the ciphertext and that exact value can solve for `s` (Li–Micciancio,
    /// IND-CPA-D; see the test below). Rounding to a grid coarser than the noise keeps only
    /// `bits` fractional bits of each value and drops the noise below them, so the polynomial
    /// can no longer be rebuilt exactly. Choose `bits` below the computation's precision
    /// (e.g. 10 for results precise to ≈ 12 bits). It is not a proof: a value whose noise
    /// carries it across a rounding boundary still reveals the sign of that noise; release
    /// as few decrypted values as the application allows.
    ///
    /// # Errors
    /// [`Error::ParameterMismatch`]; [`Error::InvalidParameter`] for `bits > 50`.
    pub fn decrypt_decode(
        &self,
        ct: &Ciphertext,
        encoder: &Encoder,
        bits: u32,
    ) -> Result<Vec<Complex>> {
        if bits > 50 {
            return Err(Error::InvalidParameter {
                field: "bits",
                reason: format!(
                    "{bits} fractional bits is finer than any CKKS result (at most 50)"
                ),
            });
        }
        let unit = (bits as f64).exp2();
        let round = |x: f64| (x * unit).round() / unit;
        // Rounded in place: the exact values are overwritten, not left in a freed buffer.
        let mut values = encoder.decode(&self.decrypt_raw(ct)?)?;
        for z in &mut values {
            *z = Complex::new(round(z.re), round(z.im));
        }
        Ok(values)
    }

    /// The exact decryption `c_0 + c_1·s (+ c_2·s²)` as a plaintext with the ciphertext's
    /// level and scale, noise included. **Never release it (or its exact decoding) to anyone
    /// who also sees the ciphertext**: the pair reveals the secret key. Read results with
    /// [`Decryptor::decrypt_decode`].
    ///
    /// # Errors
    /// [`Error::ParameterMismatch`].
    pub fn decrypt_raw(&self, ct: &Ciphertext) -> Result<Plaintext> {
        self.params.check_fingerprint(&ct.fingerprint)?;
        let basis: Basis = ct.parts[0].basis();
        let s = self.sk.at(basis)?;
        let mut acc = ct.parts[ct.parts.len() - 1].clone();
        for part in ct.parts[..ct.parts.len() - 1].iter().rev() {
            // Horner: acc = acc·s + part.
            acc.mul_assign(&s)?;
            acc.add_assign(part)?;
        }
        Ok(Plaintext {
            poly: acc,
            scale: ct.scale,
            fingerprint: ct.fingerprint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyGenerator;
    use crate::params::{ParametersLiteral, SecurityLevel};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    /// `s = (m' − c_0) / c_1`, pointwise in NTT form, from a ciphertext and a claimed
    /// decryption `m'` (an attacker's computation).
    fn solve_for_s(ct: &Ciphertext, m: &Poly<Ntt>) -> Vec<u64> {
        let ctx = m.context().clone();
        let (c0, c1) = (&ct.parts[0], &ct.parts[1]);
        let mut out = Vec::new();
        for r in 0..m.basis().len() {
            let q = *ctx.modulus(m.prime_index(r));
            for ((&mv, &a), &b) in m.row(r).iter().zip(c0.row(r)).zip(c1.row(r)) {
                let inv = q.inv(b).expect("a uniform c_1 has no zero NTT entry here");
                out.push(q.mul(q.sub(mv, a), inv));
            }
        }
        out
    }

    /// A raw decryption gives the secret key away; the rounded decoding does not.
    #[test]
    fn raw_decryptions_reveal_the_key_rounded_ones_do_not() {
        let lit = ParametersLiteral {
            log_n: 10,
            log_q: vec![50, 30],
            log_p: vec![50],
            log_scale: 30,
            security: SecurityLevel::None,
        };
        let params = Parameters::new(&lit).expect("valid");
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let kg = KeyGenerator::new(&params, &mut rng).expect("keys");
        let enc = Encoder::new(&params).expect("encoder");
        let values: Vec<f64> = (0..params.slots())
            .map(|i| (i as f64 * 0.37).sin())
            .collect();
        let pt = enc
            .encode_real(&values, 1, params.default_scale())
            .expect("encode");
        let ct = Encryptor::with_secret_key(&params, kg.secret_key())
            .expect("encryptor")
            .encrypt(&pt, &mut rng)
            .expect("encrypt");
        let dec = Decryptor::new(&params, kg.secret_key()).expect("decryptor");
        let secret = kg
            .secret_key()
            .at(ct.parts[0].basis())
            .expect("basis")
            .data()
            .to_vec();

        let raw = dec.decrypt_raw(&ct).expect("decrypt");
        assert_eq!(
            solve_for_s(&ct, &raw.poly),
            secret,
            "the raw decryption yields s"
        );

        let rounded = dec.decrypt_decode(&ct, &enc, 12).expect("decrypt");
        for (got, want) in rounded.iter().zip(&values) {
            assert!((got.re - want).abs() < 1e-3);
        }
        let again = enc.encode(&rounded, 1, ct.scale).expect("re-encode");
        let guess = solve_for_s(&ct, &again.poly);
        let same = guess.iter().zip(&secret).filter(|(a, b)| a == b).count();
        assert!(
            same < secret.len() / 100,
            "{same} of {} values of s recovered",
            secret.len()
        );
        assert!(dec.decrypt_decode(&ct, &enc, 51).is_err());
    }
}
