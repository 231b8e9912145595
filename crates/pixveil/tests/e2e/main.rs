//! End-to-end tests of the `pixveil` binary, as one test binary (one link, and one pool of
//! test threads across all of them instead of one binary after another):
//!
//! * [`cli`]: round trips through real files, every kind of bad input;
//! * [`train`]: training, evaluation, prediction, experiments, `bench train`;
//! * [`he`]: `export-model` and `he-eval`;
//! * [`service`]: `serve` and `client` as separate processes;
//! * [`papercuts`]: what a new user tripped over (issue 12, item 7);
//! * [`fuzz_corpora`]: the committed fuzz corpora replayed on stable.
#![allow(clippy::unwrap_used)]

mod cli;
mod common;
mod fuzz_corpora;
mod he;
mod papercuts;
mod service;
mod train;
