//! pixveil's deployment: an HTTP inference server that never holds a secret, and the
//! client that keeps every key.
//!
//! * [`api`]: the protocol (paths, the model card, problem documents with stable codes;
//!   `openapi.json` describes it);
//! * [`server`]: `pixveil serve` — the model card, key registration (id = SHA-256 of the
//!   key bytes, a bounded least-recently-used store persisted in the data dir),
//!   latency and throughput classification of ciphertexts, health and Prometheus metrics,
//!   with limits on body size, concurrency, time and connections;
//! * [`client`]: `pixveil client` — keygen against a server's model card (CKKS keys and,
//!   for a model trained on perceptually encrypted images, the perceptual key), and
//!   classification (encrypt, send, decrypt; re-registers evicted keys, retries while
//!   the server is overloaded or restarting).
//!
//! The client sends only public material: evaluation keys and ciphertexts (a test
//! inspects every byte it sends). Decrypted scores never leave it.

pub mod api;
pub mod client;
mod error;
pub mod server;

pub use error::{Error, Result};
pub use server::{Server, ServerConfig};

use std::path::Path;
use std::sync::Arc;

use pixveil_henn::Plan;

/// Loads a pixveil checkpoint (an HE-friendly architecture: `tenseal-cnn`, `he-cnn`) and
/// compiles its encrypted-inference plan: what `pixveil serve` runs.
///
/// # Errors
/// [`Error::Model`] for an unreadable checkpoint, [`Error::He`] for a model that cannot run
/// under CKKS.
pub fn load_plan(model: &Path) -> Result<Arc<Plan>> {
    match Plan::load(model) {
        Ok(plan) => Ok(Arc::new(plan)),
        Err(pixveil_henn::Error::Model(e)) => Err(Error::Model(e)),
        Err(e) => Err(Error::He(e)),
    }
}
