//! libFuzzer targets of pixveil's decoders of outside data (issue 12, item 3).
//!
//! The bodies live in `targets.rs`, which `crates/pixveil/tests/e2e/fuzz_corpora.rs` also
//! includes to replay the committed corpora on stable: the test and the fuzzer call the very
//! same functions.

mod targets;

pub use targets::*;
