//! Key files: round trips, passphrases, tampering, shapes, and no secret in `Debug`.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use pixveil_cipher::{Error, KeyFile, KeyMode, Protection, SchemeSpec};
use pixveil_core::{kdf::Argon2Params, MasterSecret};
use pixveil_image::{ImageBatch, Shape};

const FAST: Argon2Params = Argon2Params {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

fn shape() -> Shape {
    Shape::new(8, 8, 3).unwrap()
}

fn encrypt_with(key: &KeyFile) -> Vec<u8> {
    let mut batch = ImageBatch::new(
        key.shape(),
        (0..key.shape().len()).map(|i| i as u8).collect(),
    )
    .unwrap();
    key.batch_cipher()
        .unwrap()
        .encrypt_batch(&mut batch, None, &|_| {})
        .unwrap();
    batch.into_bytes()
}

#[test]
fn stored_round_trip() {
    for spec in [
        SchemeSpec::Pe { shuffle: true },
        SchemeSpec::grey(),
        SchemeSpec::Etc { block: 4 },
    ] {
        let key = KeyFile::generate(spec.clone(), shape(), KeyMode::Fixed).unwrap();
        let bytes = key.to_bytes().unwrap();
        let back = KeyFile::from_bytes(&bytes, None).unwrap();
        assert_eq!(back.spec(), &spec);
        assert_eq!(back.shape(), shape());
        assert_eq!(back.mode(), KeyMode::Fixed);
        assert_eq!(back.secret(), key.secret());
        assert_eq!(back.key_id(), key.key_id());
        assert_eq!(back.protection(), &Protection::Stored);
        assert_eq!(encrypt_with(&back), encrypt_with(&key));
        let info = KeyFile::inspect(&bytes).unwrap();
        assert_eq!(info.key_id, key.key_id());
        assert_eq!(info.protection, "stored");
    }
}

#[test]
fn passphrase_round_trip_and_errors() {
    let spec = SchemeSpec::Le { block: 4 };
    let key = KeyFile::from_passphrase(spec, shape(), KeyMode::PerImage, b"hunter2", FAST).unwrap();
    let bytes = key.to_bytes().unwrap();
    // The secret is not stored.
    assert!(!bytes
        .windows(32)
        .any(|w| w == key.secret().expose_bytes().as_slice()));
    let back = KeyFile::from_bytes(&bytes, Some(b"hunter2")).unwrap();
    assert_eq!(back.secret(), key.secret());
    assert_eq!(back.mode(), KeyMode::PerImage);
    assert!(matches!(back.protection(), Protection::Passphrase { .. }));
    assert_eq!(KeyFile::inspect(&bytes).unwrap().protection, "passphrase");
    assert!(matches!(
        KeyFile::from_bytes(&bytes, None),
        Err(Error::PassphraseRequired)
    ));
    assert!(matches!(
        KeyFile::from_bytes(&bytes, Some(b"hunter3")),
        Err(Error::Key(pixveil_core::Error::WrongPassphrase))
    ));
}

#[test]
fn tampering_is_detected() {
    let key = KeyFile::generate(SchemeSpec::Pe { shuffle: true }, shape(), KeyMode::Fixed).unwrap();
    let bytes = key.to_bytes().unwrap();
    for i in [0, 5, bytes.len() / 2, bytes.len() - 1] {
        let mut t = bytes.clone();
        t[i] ^= 0x01;
        assert!(
            KeyFile::from_bytes(&t, None).is_err(),
            "flip at byte {i} accepted"
        );
    }
    assert!(KeyFile::from_bytes(&bytes[..bytes.len() - 1], None).is_err());
    assert!(KeyFile::from_bytes(b"", None).is_err());
}

#[test]
fn key_is_bound_to_its_shape() {
    let key = KeyFile::generate(SchemeSpec::Pe { shuffle: true }, shape(), KeyMode::Fixed).unwrap();
    let bc = key.batch_cipher().unwrap();
    let mut other = ImageBatch::zeros(Shape::new(4, 4, 3).unwrap(), 1);
    assert!(matches!(
        bc.encrypt_batch(&mut other, None, &|_| {}),
        Err(Error::ShapeMismatch { .. })
    ));
    // A block size that does not fit the shape cannot even make a key.
    assert!(matches!(
        KeyFile::generate(SchemeSpec::Le { block: 3 }, shape(), KeyMode::Fixed),
        Err(Error::InvalidParameter { .. })
    ));
}

#[test]
fn debug_does_not_leak_the_secret() {
    let secret = MasterSecret::from_bytes([0xC3; 32]);
    let key = KeyFile::with_secret(SchemeSpec::grey(), shape(), KeyMode::Fixed, secret).unwrap();
    let text = format!("{key:?} {:?}", key.batch_cipher().unwrap());
    assert!(!text.to_lowercase().contains("c3c3"), "{text}");
    assert!(!text.contains("195"), "{text}");
}
