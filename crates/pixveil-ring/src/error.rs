//! Errors of the ring layer.

use crate::Basis;

/// Errors returned by `pixveil-ring`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two operands live over different RNS bases.
    #[error("basis mismatch: {left:?} vs {right:?}")]
    BasisMismatch {
        /// Basis of the left operand.
        left: Basis,
        /// Basis of the right operand.
        right: Basis,
    },
    /// Two operands belong to different ring contexts.
    #[error("operands belong to different ring contexts")]
    ContextMismatch,
    /// The requested basis does not exist in the context.
    #[error("invalid basis {basis:?}: context has {num_q} ciphertext and {num_p} special primes")]
    InvalidBasis {
        /// The requested basis.
        basis: Basis,
        /// Ciphertext primes available.
        num_q: usize,
        /// Special primes available.
        num_p: usize,
    },
    /// A buffer has the wrong length.
    #[error("length mismatch: expected {expected}, got {actual}")]
    LengthMismatch {
        /// Expected length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// A coefficient is not reduced modulo its prime.
    #[error("coefficient {value} not reduced modulo {modulus}")]
    Unreduced {
        /// The offending value.
        value: u64,
        /// The modulus of its row.
        modulus: u64,
    },
    /// The Galois element is not odd modulo `2N`.
    #[error("invalid Galois element {element} for degree {degree}")]
    InvalidGaloisElement {
        /// The element.
        element: usize,
        /// The degree `N`.
        degree: usize,
    },
    /// Error from the math layer.
    #[error(transparent)]
    Math(#[from] pixveil_math::Error),
}

/// Result alias for `pixveil-ring`.
pub type Result<T> = core::result::Result<T, Error>;
