//! The statistical attack on real data (needs `../shared/data`; run with `--ignored`).

use std::path::Path;

use pixveil_analysis::attacks::{stat, EncryptionOracle};
use pixveil_cipher::{BatchCipher, KeyMode, SchemeSpec};
use pixveil_core::MasterSecret;
use pixveil_image::dataset::{load, DatasetKind, Split};

fn data_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"))
}

/// MNIST statistics break fixed-key LE on MNIST ciphertexts, not on Fashion-MNIST ones.
#[test]
#[ignore = "needs ../shared/data"]
fn the_public_distribution_must_match_for_permutations() {
    let dir = data_dir();
    let public = load(DatasetKind::Mnist, dir, Split::Train).unwrap().images;
    let mnist = load(DatasetKind::Mnist, dir, Split::Test).unwrap().images;
    let fashion = load(DatasetKind::FashionMnist, dir, Split::Test)
        .unwrap()
        .images;
    let spec = SchemeSpec::Le { block: 4 };
    let bc = BatchCipher::new(
        spec,
        mnist.shape(),
        KeyMode::Fixed,
        &MasterSecret::generate_os(),
    )
    .unwrap();
    let oracle = EncryptionOracle::new(&bc);
    let same = stat::run(&oracle, &mnist, &public, Some(2000)).unwrap();
    let other = stat::run(&oracle, &fashion, &public, Some(2000)).unwrap();
    assert!(
        same.recovered_fraction > 0.99,
        "{}",
        same.recovered_fraction
    );
    assert!(
        other.recovered_fraction < other.baselines.most_common + 0.1,
        "{} vs {}",
        other.recovered_fraction,
        other.baselines.most_common
    );
}
