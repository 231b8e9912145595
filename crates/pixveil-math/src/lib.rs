//! Number-theoretic building blocks for pixveil's RNS-CKKS engine.
//!
//! Layers, each depending only on the ones above it:
//! - [`zq`]: arithmetic modulo a single word-sized prime `q < 2^61` (Barrett and Shoup
//!   precomputed multiplication);
//! - [`primes`]: deterministic primality testing and NTT-friendly prime generation
//!   (`q ≡ 1 mod 2N`);
//! - [`ntt`]: the negacyclic number-theoretic transform over `Z_q[X]/(X^N + 1)` with lazy
//!   (Harvey) butterflies: a portable scalar path, an AVX2 path for primes below 2^31 and an
//!   AVX2+FMA double-precision path for primes below 2^50, chosen at run time;
//! - [`rns`]: residue-number-system bases, CRT composition and fast basis conversion;
//! - [`fft`]: complex numbers and the CKKS "special" FFT over the rotation group `5^j`;
//! - [`kernels`]: AVX2 vector kernels for RNS inner products and pointwise arithmetic;
//! - [`pool`]: the engine's one per-thread buffer pool, which wipes buffers that held secrets
//!   (used by the NTT here, by `pixveil-ring`'s polynomials and `pixveil-ckks`'s key switching).
//!
//! `unsafe` code is confined to the SIMD kernel modules (`ntt::avx2_32`, `ntt::avx2_f64`,
//! `kernels`); each block carries a `// SAFETY:` comment and every kernel has a portable
//! fallback selected at run time.

pub mod error;
pub mod fft;
pub mod kernels;
pub mod ntt;
pub mod pool;
pub mod primes;
pub mod rns;
pub mod zq;

pub use error::{Error, Result};
pub use fft::{Complex, SpecialFft};
pub use ntt::NttTable;
pub use rns::{BasisConverter, RnsComposer};
pub use zq::Modulus;
