//! Replays the committed fuzz corpora on stable (issue 12, item 3): every file of
//! `fuzz/corpus/<target>/` goes through the same function the cargo-fuzz target `<target>`
//! calls (`fuzz/src/targets.rs`, included below), which must return without panicking. A
//! missing or empty corpus folder fails the test, so it cannot pass by finding nothing.
//!
//! The corpora grew from seeds written by `fuzz/src/seeds.rs` (valid objects made by the
//! library) and slices of the built-in sample data.

use std::fs;
use std::path::{Path, PathBuf};

#[path = "../../../../fuzz/src/targets.rs"]
mod targets;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn every_corpus_replays_without_panicking() {
    for target in targets::TARGETS {
        let dir = corpus_dir(target);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus folder {} missing: {e}", dir.display()))
            .map(|entry| entry.expect("readable corpus folder").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(
            !files.is_empty(),
            "corpus folder {} is empty",
            dir.display()
        );
        for file in &files {
            let data = fs::read(file).expect("readable corpus file");
            assert!(targets::run(target, &data), "unknown target {target}");
        }
    }
}

#[test]
fn a_recomputed_digest_covers_everything_before_it() {
    assert_eq!(targets::with_digest(&[0; 31]), None);
    let fixed = targets::with_digest(&[7; 40]).expect("long enough");
    assert_eq!(&fixed[..8], &[7; 8]);
    assert_ne!(&fixed[8..], &[7; 32]);
}
