//! Errors of `pixveil-henn`.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised while compiling a model into a plan, encrypting, evaluating or decoding.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model cannot run under CKKS as it is (a non-polynomial layer, a layer order the
    /// compiler does not support, a vector that does not fit the slots).
    #[error("model cannot be compiled for encrypted inference: {0}")]
    Unsupported(String),
    /// The parameters have fewer levels than the plan consumes.
    #[error("the plan needs {needed} levels, the parameters have {available}")]
    NotEnoughLevels {
        /// Multiplicative depth of the plan.
        needed: usize,
        /// Rescales the parameters allow.
        available: usize,
    },
    /// The evaluation keys lack Galois keys the plan rotates by.
    #[error("evaluation keys lack the Galois keys for rotation steps {steps:?} (latency mode needs every step of the plan)")]
    MissingGaloisKeys {
        /// The missing steps.
        steps: Vec<i64>,
    },
    /// An input does not match the plan: wrong count, level, scale or image size.
    #[error("input does not match the plan: {0}")]
    Mismatch(String),
    /// A serialized object (keys, input, scores) was made for another plan: another model or
    /// parameters.
    #[error("input does not match the plan: the {what} was made for plan {found}, this is plan {expected}")]
    PlanMismatch {
        /// Which object.
        what: &'static str,
        /// The plan id (hex) the object names.
        found: String,
        /// The plan id (hex) of this evaluator or client.
        expected: String,
    },
    /// The evaluation thread pool could not be started.
    #[error("cannot start the evaluation thread pool (threads: {threads:?}): {reason}")]
    ThreadPool {
        /// The thread count asked for (`None`: rayon's default).
        threads: Option<usize>,
        /// Why rayon refused.
        reason: String,
    },
    /// A serialized object is malformed, truncated, of another kind or was changed.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which object.
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The CKKS engine refused an operation or an object.
    #[error(transparent)]
    Ckks(#[from] pixveil_ckks::Error),
    /// Reading the model failed.
    #[error(transparent)]
    Model(#[from] pixveil_nn::Error),
}
