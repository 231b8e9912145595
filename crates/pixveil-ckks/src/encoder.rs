//! The CKKS encoder: complex slot vectors ↔ plaintext polynomials.
//!
//! `encode` interpolates `N/2` complex slots with the special FFT (see
//! [`pixveil_math::SpecialFft`]), multiplies by the scale `Δ`, rounds to integers and stores
//! the polynomial in NTT form over `q_0 … q_ℓ`. `decode` inverts this: inverse NTT, exact CRT
//! reconstruction of each centered coefficient, division by `Δ`, special FFT. Slot `j` is the
//! evaluation at `ζ^{5^j}`, so the Galois element `5^k` rotates slots left by `k`.

use crate::params::{Fingerprint, Parameters};
use crate::{Error, Result};
use pixveil_math::{Complex, SpecialFft};
use pixveil_ring::{Basis, Ntt, Poly};
use std::sync::Arc;

/// An encoded message: a polynomial in NTT form at a level, with its scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Plaintext {
    pub(crate) poly: Poly<Ntt>,
    pub(crate) scale: f64,
    pub(crate) fingerprint: Fingerprint,
}

impl Plaintext {
    /// Level `ℓ` (the polynomial lives over `q_0 … q_ℓ`).
    pub fn level(&self) -> usize {
        self.poly.basis().q - 1
    }
    /// Scale `Δ` (the encoded value is `m/Δ`).
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// Parameter fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
    /// The polynomial (NTT form).
    pub fn poly(&self) -> &Poly<Ntt> {
        &self.poly
    }
}

/// Largest magnitude of a scaled, rounded coefficient (`2^62`).
const MAX_COEFF: f64 = 4_611_686_018_427_387_904.0;

/// Encoder for one parameter set.
#[derive(Debug, Clone)]
pub struct Encoder {
    params: Arc<Parameters>,
    fft: SpecialFft,
}

impl Encoder {
    /// Builds the FFT tables.
    ///
    /// # Errors
    /// Never for validated parameters.
    pub fn new(params: &Arc<Parameters>) -> Result<Self> {
        Ok(Self {
            params: params.clone(),
            fft: SpecialFft::new(params.degree())?,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &Arc<Parameters> {
        &self.params
    }

    /// Encodes up to `N/2` complex values (missing slots are zero) at `level` with `scale`.
    ///
    /// # Errors
    /// [`Error::TooManyValues`], [`Error::InvalidLevel`], [`Error::InvalidScale`] (not positive
    /// and finite), [`Error::EncodingOverflow`] if `|value·Δ|` reaches 2^62.
    pub fn encode(&self, values: &[Complex], level: usize, scale: f64) -> Result<Plaintext> {
        let slots = self.params.slots();
        if values.len() > slots {
            return Err(Error::TooManyValues {
                values: values.len(),
                slots,
            });
        }
        if level > self.params.max_level() {
            return Err(Error::InvalidLevel {
                level,
                max: self.params.max_level(),
                op: "encode",
            });
        }
        if !(scale.is_finite() && scale >= 1.0) {
            return Err(Error::InvalidScale { log2: scale.log2() });
        }
        if let Some(bad) = values
            .iter()
            .find(|z| !(z.re.is_finite() && z.im.is_finite()))
        {
            return Err(Error::EncodingOverflow {
                log2: bad.re.abs().max(bad.im.abs()).log2(),
            });
        }
        let mut v = vec![Complex::default(); slots];
        v[..values.len()].copy_from_slice(values);
        self.fft.inverse(&mut v);
        let n = self.params.degree();
        let mut coeffs = vec![0i64; n];
        let mut max = 0f64;
        for (j, z) in v.iter().enumerate() {
            let (a, b) = ((z.re * scale).round(), (z.im * scale).round());
            max = max.max(a.abs()).max(b.abs());
            coeffs[j] = a as i64;
            coeffs[j + slots] = b as i64;
        }
        if max.is_nan() || max >= MAX_COEFF {
            return Err(Error::EncodingOverflow { log2: max.log2() });
        }
        let basis = Basis { q: level + 1, p: 0 };
        let poly = Poly::from_i64(self.params.ring(), basis, &coeffs)?.into_ntt();
        Ok(Plaintext {
            poly,
            scale,
            fingerprint: *self.params.fingerprint(),
        })
    }

    /// Encodes real values (imaginary parts zero).
    ///
    /// # Errors
    /// As [`Encoder::encode`].
    pub fn encode_real(&self, values: &[f64], level: usize, scale: f64) -> Result<Plaintext> {
        let v: Vec<Complex> = values.iter().map(|&x| Complex::from(x)).collect();
        self.encode(&v, level, scale)
    }

    /// Decodes a plaintext into its `N/2` complex slot values.
    ///
    /// # Errors
    /// [`Error::ParameterMismatch`] if the plaintext belongs to other parameters.
    pub fn decode(&self, pt: &Plaintext) -> Result<Vec<Complex>> {
        self.params.check_fingerprint(&pt.fingerprint)?;
        let coeff = pt.poly.clone().into_coeff();
        let level = pt.level();
        let composer = &self.params.composers[level];
        let n = self.params.degree();
        let slots = n / 2;
        // The exact decrypted coefficients (secret-derived: with the ciphertext they give the
        // key away), zeroized when dropped.
        let mut real = zeroize::Zeroizing::new(vec![0f64; n]);
        let rows: Vec<&[u64]> = (0..=level).map(|r| coeff.row(r)).collect();
        composer.compose_centered_rows(&rows, &mut real)?;
        let inv_scale = 1.0 / pt.scale;
        real.iter_mut().for_each(|x| *x *= inv_scale);
        let mut v: Vec<Complex> = (0..slots)
            .map(|j| Complex::new(real[j], real[j + slots]))
            .collect();
        self.fft.forward(&mut v);
        Ok(v)
    }

    /// Decodes and keeps the real parts.
    ///
    /// # Errors
    /// As [`Encoder::decode`].
    pub fn decode_real(&self, pt: &Plaintext) -> Result<Vec<f64>> {
        Ok(self.decode(pt)?.into_iter().map(|z| z.re).collect())
    }
}
