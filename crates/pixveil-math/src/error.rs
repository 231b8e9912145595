//! Errors of the math layer.

/// Errors returned by `pixveil-math`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The modulus is not usable: it must be an odd prime of at most [`crate::zq::MAX_MODULUS_BITS`] bits.
    #[error("invalid modulus {modulus}: must be an odd prime of 2..={max_bits} bits")]
    InvalidModulus {
        /// The rejected modulus.
        modulus: u64,
        /// The largest supported bit size.
        max_bits: u32,
    },
    /// The ring degree is not a supported power of two.
    #[error("invalid ring degree {degree}: must be a power of two in {min}..={max}")]
    InvalidDegree {
        /// The rejected degree `N`.
        degree: usize,
        /// Smallest supported degree.
        min: usize,
        /// Largest supported degree.
        max: usize,
    },
    /// The prime does not support a negacyclic NTT of this degree (`q ≢ 1 mod 2N`).
    #[error("modulus {modulus} is not NTT-friendly for degree {degree} (needs q ≡ 1 mod 2N)")]
    NotNttFriendly {
        /// The modulus.
        modulus: u64,
        /// The ring degree `N`.
        degree: usize,
    },
    /// Not enough NTT-friendly primes of the requested size exist.
    #[error("only {found} of {wanted} NTT-friendly {bits}-bit primes exist for degree {degree}")]
    NotEnoughPrimes {
        /// Requested bit size.
        bits: u32,
        /// How many were requested.
        wanted: usize,
        /// How many were found.
        found: usize,
        /// The ring degree `N`.
        degree: usize,
    },
    /// Two moduli of an RNS basis are equal (they must be pairwise coprime).
    #[error("RNS basis contains the modulus {modulus} twice")]
    DuplicateModulus {
        /// The repeated modulus.
        modulus: u64,
    },
    /// A buffer has the wrong length.
    #[error("length mismatch: expected {expected}, got {actual}")]
    LengthMismatch {
        /// Expected length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// An RNS basis must not be empty.
    #[error("empty RNS basis")]
    EmptyBasis,
}

/// Result alias for `pixveil-math`.
pub type Result<T> = core::result::Result<T, Error>;
