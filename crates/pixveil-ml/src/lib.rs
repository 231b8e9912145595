//! Machine learning on plain or encrypted images, as a library: the layer above the ciphers
//! (`pixveil-cipher`) and the trainer (`pixveil-nn`) that the `pixveil` CLI (and any other
//! program) calls.
//!
//! * [`bench`](mod@bench): the training and inference throughput benchmark;
//! * [`chart`]: the grouped bar chart of the experiments (`accuracy.png`);
//! * [`content`]: the plain-image classifier of the security report's content score;
//! * [`crypt`]: encryption and decryption of a data file or folder, with its manifest;
//! * [`data`]: dataset names, train/test splits and encryption of `u8` batches with a key;
//! * [`demo`]: the demo's train-and-evaluate of every scheme on the built-in sample;
//! * [`engine`]: the one place that calls the training engine (backend selection, models,
//!   optimisers, schedules, epochs, evaluation, prediction, checkpoints);
//! * [`eval`]: the test set a model is evaluated on, and its evaluation;
//! * [`experiments`]: the experiment grid (or a preset list of runs) and its result files;
//! * [`he`]: encrypted inference (CKKS) of a model over its test set;
//! * [`keys`]: reading key files and passphrase files;
//! * [`predict`]: classification of image files with a trained model;
//! * [`train`]: the training job, with a checkpoint and metrics after every epoch and resume.
#![forbid(unsafe_code)]

pub mod bench;
pub mod chart;
pub mod content;
pub mod crypt;
pub mod data;
pub mod demo;
pub mod engine;
pub mod error;
pub mod eval;
pub mod experiments;
pub mod he;
pub mod keys;
pub mod predict;
pub mod train;

pub use error::{Error, Result};
