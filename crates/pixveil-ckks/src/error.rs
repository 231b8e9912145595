//! Errors of the CKKS layer.

/// Errors returned by `pixveil-ckks`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The parameters exceed the HomomorphicEncryption.org bound for the requested security.
    #[error("insecure parameters: log2(QP) = {log_qp} bits exceeds {max_log_qp} bits allowed at N = {degree} (only test builds with the insecure-params feature can skip the check)")]
    Insecure {
        /// Total bit count of all primes (ciphertext and special).
        log_qp: u32,
        /// Largest total allowed by the table for this degree and security level (0 for a
        /// degree without a table entry: nothing is allowed).
        max_log_qp: u32,
        /// Ring degree `N`.
        degree: usize,
    },
    /// A parameter literal is malformed.
    #[error("invalid parameter `{field}`: {reason}")]
    InvalidParameter {
        /// Which field.
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// Operands (or a loaded object) were made under different parameters.
    #[error("parameter mismatch: expected fingerprint {expected}, got {actual}")]
    ParameterMismatch {
        /// Hex fingerprint of the expected parameters.
        expected: String,
        /// Hex fingerprint found.
        actual: String,
    },
    /// Operands are at different levels.
    #[error("level mismatch: {left} vs {right}")]
    LevelMismatch {
        /// Level of the left operand.
        left: usize,
        /// Level of the right operand.
        right: usize,
    },
    /// Operands have different scales.
    #[error("scale mismatch: 2^{left_log2:.3} vs 2^{right_log2:.3}")]
    ScaleMismatch {
        /// `log2` of the left scale.
        left_log2: f64,
        /// `log2` of the right scale.
        right_log2: f64,
    },
    /// The requested level does not exist or the operation needs a higher level.
    #[error("invalid level {level} (max {max}) for {op}")]
    InvalidLevel {
        /// The level.
        level: usize,
        /// Largest valid level for the operation.
        max: usize,
        /// Operation name.
        op: &'static str,
    },
    /// A ciphertext has the wrong number of polynomials for the operation.
    #[error("{op} needs a ciphertext of size {expected}, got {actual}")]
    CiphertextSize {
        /// Operation name.
        op: &'static str,
        /// Expected number of polynomials.
        expected: usize,
        /// Actual number.
        actual: usize,
    },
    /// No Galois key was generated for this rotation step.
    #[error("no Galois key for rotation step {step} (Galois element {element})")]
    MissingGaloisKey {
        /// Rotation step (0 for conjugation).
        step: i64,
        /// Galois element `5^step mod 2N` (or `2N − 1`).
        element: usize,
    },
    /// Too many values for the number of slots.
    #[error("{values} values do not fit in {slots} slots")]
    TooManyValues {
        /// Values supplied.
        values: usize,
        /// Slots available (`N/2`).
        slots: usize,
    },
    /// A value times the scale does not fit the encoder's 62-bit integer range.
    #[error("encoding overflow: |value · scale| = 2^{log2:.1} exceeds 2^62")]
    EncodingOverflow {
        /// `log2` of the largest scaled coefficient.
        log2: f64,
    },
    /// The scale is not positive and finite, or too large for the level.
    #[error("invalid scale 2^{log2:.3}")]
    InvalidScale {
        /// `log2` of the scale.
        log2: f64,
    },
    /// Serialized data ended early.
    #[error("truncated data: needed {needed} more bytes, {available} available")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// Serialized data starts with neither the pixveil container's magic nor the legacy
    /// `PXCK` one.
    #[error("bad magic: not a pixveil-ckks object")]
    BadMagic,
    /// Serialized data has an unsupported format version (of the container, of the payload
    /// layout, or of a legacy frame).
    #[error("unsupported format version {found} (this build reads {supported})")]
    UnsupportedVersion {
        /// Version found.
        found: u16,
        /// Version supported.
        supported: u16,
    },
    /// Serialized object of the wrong kind.
    #[error("wrong object kind: expected {expected}, found {found}")]
    WrongKind {
        /// Expected kind tag (`ckks-ct`, …).
        expected: &'static str,
        /// Found kind tag (of a legacy frame: its kind's tag, or `legacy kind N`).
        found: String,
    },
    /// Serialized data is structurally invalid (bad length field, unreduced coefficient…).
    #[error("corrupt data: {reason}")]
    Corrupt {
        /// What is wrong.
        reason: &'static str,
    },
    /// Error from the ring layer.
    #[error(transparent)]
    Ring(#[from] pixveil_ring::Error),
    /// Error from the math layer.
    #[error(transparent)]
    Math(#[from] pixveil_math::Error),
}

/// Result alias for `pixveil-ckks`.
pub type Result<T> = core::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the user-facing messages.
    #[test]
    fn error_strings() {
        let cases = [
            (
                Error::Insecure { log_qp: 244, max_log_qp: 218, degree: 8192 },
                "insecure parameters: log2(QP) = 244 bits exceeds 218 bits allowed at N = 8192 (only test builds with the insecure-params feature can skip the check)",
            ),
            (Error::LevelMismatch { left: 3, right: 2 }, "level mismatch: 3 vs 2"),
            (
                Error::ScaleMismatch { left_log2: 26.0, right_log2: 52.0 },
                "scale mismatch: 2^26.000 vs 2^52.000",
            ),
            (
                Error::MissingGaloisKey { step: 5, element: 3125 },
                "no Galois key for rotation step 5 (Galois element 3125)",
            ),
            (Error::BadMagic, "bad magic: not a pixveil-ckks object"),
            (
                Error::WrongKind { expected: "ckks-ct", found: "ckks-pt".into() },
                "wrong object kind: expected ckks-ct, found ckks-pt",
            ),
            (
                Error::UnsupportedVersion { found: 9, supported: 1 },
                "unsupported format version 9 (this build reads 1)",
            ),
            (
                Error::Truncated { needed: 32, available: 3 },
                "truncated data: needed 32 more bytes, 3 available",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }
}
