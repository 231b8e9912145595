//! Known-answer vectors: every scheme's fixed-key output on the standard inputs must match the
//! committed SHA-256 digests (`tests/kat/vectors.json`, regenerate with
//! `cargo run -p pixveil-cipher --example kat`).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use pixveil_cipher::kat::{standard_vectors, KatVector};

#[test]
fn known_answer_vectors_match() {
    let committed: Vec<KatVector> =
        serde_json::from_str(include_str!("kat/vectors.json")).expect("vectors.json parses");
    let current = standard_vectors().unwrap();
    assert_eq!(committed.len(), current.len(), "the set of vectors changed");
    for (c, n) in committed.iter().zip(&current) {
        assert_eq!(c, n, "{} on {} changed output", c.scheme, c.shape);
    }
}
