//! RNS-CKKS approximate homomorphic encryption in pure Rust.
//!
//! Layers: [`params`] (validated parameters enforcing the HomomorphicEncryption.org
//! security table, named presets, fingerprint) → [`encoder`] (special-FFT canonical
//! embedding) → [`keys`] (secret, public, relinearization, Galois keys; hybrid key switching
//! with one special prime) → [`encrypt`] (public/secret-key encryption, decryption) →
//! [`evaluator`] (add, multiply, relinearize, rescale, rotate, hoisted rotations, conjugate)
//! → [`serialize`] (versioned, validated binary format) and [`precision`] (error statistics
//! in bits). [`mod@bench`] times the main operations for `pixveil bench ckks`.
//!
//! ```
//! use pixveil_ckks::prelude::*;
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! // N = 8192, q = [31, 26×5], P = [28, 28]: 128-bit secure. (Parameters that skip the
//! // security table exist only with the `insecure-params` feature, for tests.)
//! let params = Parameters::preset(Preset::Fast8192)?;
//! // Keys and ciphertexts need OS randomness (a fixed seed would give a fixed secret key).
//! let mut rng = ChaCha20Rng::from_os_rng();
//! let kg = KeyGenerator::new(&params, &mut rng)?;
//! let rlk = kg.relin_key(&mut rng)?;
//! let enc = Encoder::new(&params)?;
//! let encryptor = Encryptor::with_secret_key(&params, kg.secret_key())?;
//! let dec = Decryptor::new(&params, kg.secret_key())?;
//! let eval = Evaluator::new(&params);
//!
//! let x = [1.5, -2.0, 0.25];
//! let ct = encryptor.encrypt(&enc.encode_real(&x, 1, params.default_scale())?, &mut rng)?;
//! let sq = eval.rescale(&eval.mul_relin(&ct, &ct, &rlk)?)?;
//! // Results are read rounded (an exact decryption would leak the key with the ciphertext).
//! let got = dec.decrypt_decode(&sq, &enc, 12)?;
//! assert!((got[0].re - 2.25).abs() < 1e-3);
//! # Ok::<(), pixveil_ckks::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod bench;
pub mod encoder;
pub mod encrypt;
mod error;
pub mod evaluator;
pub mod keys;
pub mod params;
pub mod precision;
pub mod serialize;

pub use error::{Error, Result};
pub use pixveil_math::Complex;

/// The common imports.
pub mod prelude {
    pub use crate::encoder::{Encoder, Plaintext};
    pub use crate::encrypt::{Ciphertext, Decryptor, Encryptor};
    pub use crate::evaluator::Evaluator;
    pub use crate::keys::{GaloisKeys, KeyGenerator, PublicKey, RelinKey, SecretKey};
    pub use crate::params::{Parameters, ParametersLiteral, Preset, SecurityLevel};
    pub use crate::precision::PrecisionStats;
    pub use crate::{Complex, Error, Result};
}
