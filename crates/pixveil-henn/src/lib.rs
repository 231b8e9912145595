//! Encrypted inference: a client encrypts an image under CKKS, an evaluator runs a trained
//! CNN on the ciphertext with public keys only, and only the client can read the scores.
//!
//! * [`network`] reads an HE-friendly [`pixveil_nn::Model`] (`tenseal-cnn`, `he-cnn`, or a
//!   PyTorch state dict with the same names) and folds its batch norms;
//! * [`plan`] compiles it into a [`Plan`]: im2col packing of the first convolution, dense
//!   layers by the hybrid diagonal method with baby-step/giant-step and hoisted baby steps,
//!   `x²`, plaintexts encoded once at the level they are used, levels and scales tracked,
//!   the exact list of Galois steps, 128-bit parameters chosen for the depth;
//! * [`client`] holds the secret key: evaluation keys, packing, encryption, rounded decryption;
//! * [`server`] evaluates a plan on ciphertexts with public material only, in two modes on
//!   the same plan: *latency* (one image per request) and *throughput* (one image per slot,
//!   no rotations, relinearization key only);
//! * [`wire`] serializes keys, inputs and scores (versioned, checksummed, bound to the plan);
//! * [`eval`] measures all of it over a labelled image set (`pixveil he-eval`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use pixveil_henn::{Client, HeEvaluator, Mode, Network, Plan};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let plan = Arc::new(Plan::load("model.safetensors".as_ref())?);
//! // Client side: only the public spec.
//! let mut rng = rand_chacha::ChaCha20Rng::from_os_rng();
//! # use rand_core::SeedableRng;
//! let client = Client::new(plan.spec().clone(), &mut rng)?;
//! let keys = client.evaluation_keys(Mode::Latency, &mut rng)?;
//! let input = client.encrypt_image(&vec![0.0; 784], &mut rng)?;
//! // Evaluator side: plan, public keys, ciphertexts.
//! let scores = HeEvaluator::new(plan, keys)?.classify(&input)?;
//! let logits = client.decrypt_scores(&scores)?;
//! # Ok(()) }
//! ```

pub mod client;
mod error;
pub mod eval;
pub mod network;
pub mod plan;
pub mod server;
pub mod wire;

pub use client::Client;
pub use error::{Error, Result};
pub use eval::{he_eval, HeEvalOptions, HeEvalReport};
pub use network::Network;
pub use plan::{choose_parameters, Mode, Plan, PlanSpec};
pub use server::HeEvaluator;
pub use wire::{Encrypted, EvaluationKeys};
