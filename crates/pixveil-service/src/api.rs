//! The protocol both sides speak: paths, media types, the JSON documents and the stable
//! error codes. `openapi.json` beside this crate describes the same endpoints; a test
//! checks the two against the running server.
//!
//! Binary bodies are the `pixveil-henn` wire objects (pixveil containers of kind `henn-key`,
//! `henn-in`, `henn-out`, bound to the plan id, SHA-256 trailer; `pixveil_henn::wire`) sent
//! as `application/octet-stream`:
//!
//! | endpoint | request body | response body |
//! |---|---|---|
//! | `GET /v1/model` | – | [`ModelCard`] (JSON) |
//! | `POST /v1/keys` | evaluation keys | [`KeyRegistered`] (JSON) |
//! | `POST /v1/classify?key=ID` | one latency-mode encrypted image | encrypted scores |
//! | `POST /v1/classify/batch?key=ID` | a throughput-mode batch | encrypted scores |
//! | `GET /healthz` | – | `ok` |
//! | `GET /metrics` | – | Prometheus text |
//! | `GET /v1/openapi.json` | – | the OpenAPI description |
//!
//! Every error is a [`Problem`] (`application/problem+json`, RFC 9457) whose `code` is one
//! of [`ProblemCode`]'s stable names.

use pixveil_henn::PlanSpec;
use serde::{Deserialize, Serialize};

/// Version of this protocol (the `/v1/` of every path).
pub const PROTOCOL_VERSION: u32 = 1;
/// Model card.
pub const PATH_MODEL: &str = "/v1/model";
/// Key registration.
pub const PATH_KEYS: &str = "/v1/keys";
/// Latency-mode classification (one image).
pub const PATH_CLASSIFY: &str = "/v1/classify";
/// Throughput-mode classification (a batch, one image per slot).
pub const PATH_CLASSIFY_BATCH: &str = "/v1/classify/batch";
/// Liveness.
pub const PATH_HEALTH: &str = "/healthz";
/// Prometheus metrics.
pub const PATH_METRICS: &str = "/metrics";
/// The OpenAPI description.
pub const PATH_OPENAPI: &str = "/v1/openapi.json";
/// Media type of every binary body.
pub const OCTET_STREAM: &str = "application/octet-stream";
/// Media type of error documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The OpenAPI 3.1 description of the endpoints (served at [`PATH_OPENAPI`]).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// What the server tells a client before it makes keys: the public plan (CKKS parameters,
/// packing, Galois steps, the perceptual scheme of a hybrid model) and the server's limits.
/// Contains nothing of the weights but their hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// Hex of [`PlanSpec::id`]: every key set, input and score envelope is bound to it.
    pub plan_id: String,
    /// Modes served (`latency`, `throughput`).
    pub modes: Vec<String>,
    /// Largest request body accepted, bytes.
    pub max_body_bytes: u64,
    /// Capacity of the key store, bytes of serialized keys.
    pub key_store_bytes: u64,
    /// The plan: input shape, classes, CKKS parameters, Galois steps (with levels), the
    /// perceptual scheme (`none` for a model trained on plain images), layers.
    pub spec: PlanSpec,
}

/// Answer of `POST /v1/keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRegistered {
    /// Hex SHA-256 of the registered bytes: the same keys get the same id on every replica.
    pub key_id: String,
    /// `latency` (relinearization + Galois keys: both modes) or `throughput`
    /// (relinearization key only).
    pub mode: String,
    /// Serialized size.
    pub bytes: u64,
    /// `false` when the keys were already registered.
    pub created: bool,
}

/// Stable machine-readable error codes (the `code` of a [`Problem`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// No such path.
    NotFound,
    /// The path exists but not with this method.
    MethodNotAllowed,
    /// The body is not `application/octet-stream`.
    UnsupportedMediaType,
    /// The body is larger than the server accepts.
    BodyTooLarge,
    /// The body is empty, truncated, damaged or not the expected envelope.
    Malformed,
    /// A required query parameter is missing or invalid.
    BadRequest,
    /// The object was made for another plan or other parameters.
    PlanMismatch,
    /// The ciphertexts do not fit the plan (count, level, scale, mode).
    InputMismatch,
    /// Latency-mode classification with keys that lack the plan's Galois keys.
    MissingGaloisKeys,
    /// The key id is not (or no longer) registered: register the keys again.
    UnknownKey,
    /// The keys are larger than the whole key store.
    KeysTooLarge,
    /// Every evaluation slot and queue place is taken: retry after `Retry-After` seconds.
    Overloaded,
    /// The request took longer than the server's limit.
    Timeout,
    /// A fault of the server (never of the request); the request may be retried.
    Internal,
}

impl ProblemCode {
    /// The HTTP status of this code.
    pub fn status(self) -> u16 {
        match self {
            Self::NotFound | Self::UnknownKey => 404,
            Self::MethodNotAllowed => 405,
            Self::UnsupportedMediaType => 415,
            Self::BodyTooLarge | Self::KeysTooLarge => 413,
            Self::Malformed | Self::BadRequest => 400,
            Self::PlanMismatch | Self::InputMismatch | Self::MissingGaloisKeys => 422,
            Self::Overloaded => 503,
            Self::Timeout => 504,
            Self::Internal => 500,
        }
    }

    /// The snake-case name sent in [`Problem::code`].
    pub fn name(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::BodyTooLarge => "body_too_large",
            Self::Malformed => "malformed",
            Self::BadRequest => "bad_request",
            Self::PlanMismatch => "plan_mismatch",
            Self::InputMismatch => "input_mismatch",
            Self::MissingGaloisKeys => "missing_galois_keys",
            Self::UnknownKey => "unknown_key",
            Self::KeysTooLarge => "keys_too_large",
            Self::Overloaded => "overloaded",
            Self::Timeout => "timeout",
            Self::Internal => "internal",
        }
    }

    /// Every code (for the OpenAPI check).
    pub const ALL: [ProblemCode; 14] = [
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::UnsupportedMediaType,
        Self::BodyTooLarge,
        Self::Malformed,
        Self::BadRequest,
        Self::PlanMismatch,
        Self::InputMismatch,
        Self::MissingGaloisKeys,
        Self::UnknownKey,
        Self::KeysTooLarge,
        Self::Overloaded,
        Self::Timeout,
        Self::Internal,
    ];
}

/// An error document (RFC 9457 problem details) with a stable [`ProblemCode`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// `about:blank` (the `code` carries the meaning).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the code.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Stable machine-readable code.
    pub code: ProblemCode,
    /// What went wrong with this request, for people.
    pub detail: String,
}

impl Problem {
    /// A problem document for `code` with `detail`.
    pub fn new(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".into(),
            title: code.name().replace('_', " "),
            status: code.status(),
            code,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code.name(), self.detail)
    }
}

/// Hex SHA-256 of registered key bytes: the key id.
pub fn key_id(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Whether `s` is a well-formed key id (64 lowercase hex digits).
pub fn is_key_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
