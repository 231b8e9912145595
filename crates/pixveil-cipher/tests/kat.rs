//! Known-answer vectors: every scheme's fixed-key output on the standard inputs must match the
//! committed SHA-256 digests — `tests/kat/vectors.json` for the current key derivation and
//! `tests/kat/vectors-v1.json` for derivation v1 (key files written before issue 15 must keep
//! decrypting what they encrypted). Regenerate with
//! `cargo run -p pixveil-cipher --example kat [-- 1]`.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use pixveil_cipher::{
    kat::{standard_vectors_with, KatVector},
    KdfVersion,
};

fn check(committed: &str, kdf: KdfVersion) {
    let committed: Vec<KatVector> = serde_json::from_str(committed).expect("vectors parse");
    let current = standard_vectors_with(kdf).unwrap();
    assert_eq!(committed.len(), current.len(), "the set of vectors changed");
    for (c, n) in committed.iter().zip(&current) {
        assert_eq!(c, n, "{} on {} changed output ({kdf:?})", c.scheme, c.shape);
    }
}

#[test]
fn known_answer_vectors_match() {
    assert_eq!(KdfVersion::CURRENT, KdfVersion::V2);
    check(include_str!("kat/vectors.json"), KdfVersion::V2);
}

/// The vectors of derivation v1 are the ones committed before issue 15, unchanged.
#[test]
fn v1_regression_vectors_match() {
    check(include_str!("kat/vectors-v1.json"), KdfVersion::V1);
}
