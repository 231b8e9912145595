//! Polynomials of `R_Q = Z_Q[X]/(X^N + 1)` in RNS form.
//!
//! - [`RingContext`]: the degree `N`, the ciphertext primes `q_0 … q_{L-1}` and the special
//!   primes `p_0 … p_{K-1}` with their NTT tables.
//! - [`Poly<R>`]: a polynomial over a [`Basis`] (a prefix of the `q_i` plus optionally the
//!   special primes) whose representation — [`Coeff`] (coefficients) or [`Ntt`] (evaluations)
//!   — is a type parameter, so multiplying polynomials in coefficient form does not compile.
//! - [`sample`]: uniform, ternary and discrete-Gaussian samplers driven by a ChaCha20 CSPRNG.
//! - Galois automorphisms `X → X^g` ([`Poly::automorphism`], [`Poly::permute`]).
#![forbid(unsafe_code)]

mod context;
mod error;
mod poly;
pub mod sample;

pub use context::{Basis, RingContext};
pub use error::{Error, Result};
pub use poly::{Coeff, Ntt, Poly, Representation};

/// Galois element `5^step mod 2N` that rotates CKKS slots left by `step` (negative steps
/// rotate right).
pub fn galois_element_for_step(step: i64, n: usize) -> usize {
    let m = 2 * n as u64;
    let slots = (n / 2) as i64;
    let e = step.rem_euclid(slots) as u64;
    let mut g = 1u64;
    for _ in 0..e {
        g = g * 5 % m;
    }
    g as usize
}

/// Galois element `2N − 1` (`X → X^{-1}`) that conjugates every CKKS slot.
pub fn galois_element_conjugate(n: usize) -> usize {
    2 * n - 1
}
