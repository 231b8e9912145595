//! Machine learning on plain or encrypted images, as a library: the layer above the ciphers
//! (`pixveil-cipher`) and the trainer (`pixveil-nn`) that the `pixveil` CLI (and any other
//! program) calls.
//!
//! * [`keys`]: reading key files and passphrase files;
//! * [`content`]: the plain-image classifier of the security report's content score;
//! * [`data`]: dataset names, train/test splits and encryption of `u8` batches with a key;
//! * [`engine`]: the one place that calls the training engine (backend selection, models,
//!   optimisers, schedules, epochs, evaluation, prediction, checkpoints);
//! * [`eval`]: the test set a model is evaluated on, and its evaluation;
//! * [`predict`]: classification of image files with a trained model;
//! * [`train`]: the training job, with a checkpoint and metrics after every epoch and resume.
#![forbid(unsafe_code)]

pub mod content;
pub mod data;
pub mod engine;
pub mod error;
pub mod eval;
pub mod keys;
pub mod predict;
pub mod train;

pub use error::{Error, Result};
