//! Compatibility of the serialized objects: files written in the legacy `PXCK` frame (before
//! CKKS objects moved into pixveil-core's container) still load, to the very objects their
//! container form holds.
//!
//! Fixtures (`tests/fixtures/`), all under the small insecure ring `N = 16`,
//! `log_q = [30, 25]`, `log_p = [30]`, `log_scale = 20`:
//! - `pxck-v2/*.bin`: parameters, secret, public, relinearization and Galois keys (steps 1,
//!   2 and conjugation), a seeded (secret-key) ciphertext, a public-key ciphertext, a
//!   size-3 product and a plaintext (of `[0.5, −1, 2]`), written by the `PXCK` writer of
//!   commit 0b0d79f (the last one with it);
//! - `container-v1/*.bin`: the same objects as the current writer saves them, made from the
//!   legacy files by the ignored test below.
//!
//! Needs the `insecure-params` feature (on in `cargo test --workspace`); without it this
//! file is empty.
#![cfg(feature = "insecure-params")]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use pixveil_ckks::prelude::*;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;

const NAMES: [&str; 9] = [
    "params",
    "secret-key",
    "public-key",
    "relin-key",
    "galois-keys",
    "ciphertext-seeded",
    "ciphertext",
    "ciphertext-size3",
    "plaintext",
];

fn dir(format: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format)
}

fn read(format: &str, name: &str) -> Vec<u8> {
    let path = dir(format).join(format!("{name}.bin"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn legacy(name: &str) -> Vec<u8> {
    read("pxck-v2", name)
}

fn current(name: &str) -> Vec<u8> {
    read("container-v1", name)
}

fn params() -> Arc<Parameters> {
    Parameters::from_bytes_allow_insecure(&legacy("params")).unwrap()
}

/// Loads the legacy and the container file of `name`, checks they hold equal objects and
/// that saving the legacy one writes the container file byte for byte.
fn same<T: PartialEq + Debug>(
    name: &str,
    load: impl Fn(&[u8]) -> Result<T>,
    save: impl Fn(&T) -> Vec<u8>,
) -> T {
    let (old_bytes, new_bytes) = (legacy(name), current(name));
    assert_eq!(&old_bytes[..4], b"PXCK", "{name}: a legacy file");
    assert_eq!(&new_bytes[..4], b"PXVL", "{name}: a container");
    let old = load(&old_bytes).unwrap_or_else(|e| panic!("legacy {name}: {e}"));
    let new = load(&new_bytes).unwrap_or_else(|e| panic!("container {name}: {e}"));
    assert_eq!(old, new, "{name}");
    assert_eq!(save(&old), new_bytes, "{name}: re-saved legacy object");
    // The legacy reader keeps its checks: a flipped payload byte is refused.
    let mut bad = old_bytes;
    let mid = 32 + (bad.len() - 64) / 2;
    bad[mid] ^= 1;
    assert!(load(&bad).is_err(), "{name}: a damaged legacy file loads");
    old
}

#[test]
fn legacy_files_load_to_the_objects_of_the_container_files() {
    let p = params();
    let from_new = Parameters::from_bytes_allow_insecure(&current("params")).unwrap();
    assert_eq!(p.fingerprint(), from_new.fingerprint());
    assert_eq!(p.literal(), from_new.literal());
    assert_eq!(p.to_bytes(), current("params"));
    // Without a security level, the checked loader refuses both forms.
    assert!(Parameters::from_bytes(&legacy("params")).is_err());
    assert!(Parameters::from_bytes(&current("params")).is_err());

    // The secret key has no `PartialEq` (no secret comparisons): compare what it saves.
    let sk_old = SecretKey::from_bytes(&p, &legacy("secret-key")).unwrap();
    let sk_new = SecretKey::from_bytes(&p, &current("secret-key")).unwrap();
    assert_eq!(sk_old.to_bytes(), current("secret-key"));
    assert_eq!(sk_new.to_bytes(), current("secret-key"));

    same(
        "public-key",
        |b| PublicKey::from_bytes(&p, b),
        PublicKey::to_bytes,
    );
    same(
        "relin-key",
        |b| RelinKey::from_bytes(&p, b),
        RelinKey::to_bytes,
    );
    same(
        "galois-keys",
        |b| GaloisKeys::from_bytes(&p, b),
        GaloisKeys::to_bytes,
    );
    let pt = same(
        "plaintext",
        |b| Plaintext::from_bytes(&p, b),
        Plaintext::to_bytes,
    );
    let enc = Encoder::new(&p).unwrap();
    let want = enc.decode_real(&pt).unwrap();
    assert!((want[0] - 0.5).abs() < 1e-3 && (want[1] + 1.0).abs() < 1e-3);
    let dec = Decryptor::new(&p, &sk_old).unwrap();
    for name in ["ciphertext-seeded", "ciphertext", "ciphertext-size3"] {
        let ct = same(
            name,
            |b| Ciphertext::from_bytes(&p, b),
            Ciphertext::to_bytes,
        );
        let got = dec.decrypt_decode(&ct, &enc, 10).unwrap();
        // The size-3 ciphertext is the square of the public-key one.
        let square = name == "ciphertext-size3";
        for (g, w) in got.iter().zip(&want[..3]) {
            let w = if square { w * w } else { *w };
            assert!((g.re - w).abs() < 0.05, "{name}: {} vs {w}", g.re);
        }
    }
}

#[test]
fn a_legacy_object_of_another_kind_is_refused_by_kind() {
    let p = params();
    assert!(matches!(
        Ciphertext::from_bytes(&p, &legacy("plaintext")),
        Err(Error::WrongKind { .. })
    ));
    assert!(matches!(
        Ciphertext::from_bytes(&p, &current("plaintext")),
        Err(Error::WrongKind { .. })
    ));
}

/// Rewrites `container-v1/` from the legacy fixtures. Run by hand, only after a deliberate
/// change of the container format: `cargo test -p pixveil-ckks --features insecure-params
/// --test legacy_format -- --ignored`.
#[test]
#[ignore = "rewrites the fixtures"]
fn write_container_fixtures() {
    let p = params();
    let out = dir("container-v1");
    std::fs::create_dir_all(&out).unwrap();
    let sk = SecretKey::from_bytes(&p, &legacy("secret-key")).unwrap();
    for name in NAMES {
        let b = legacy(name);
        let bytes = match name {
            "params" => p.to_bytes(),
            "secret-key" => sk.to_bytes(),
            "public-key" => PublicKey::from_bytes(&p, &b).unwrap().to_bytes(),
            "relin-key" => RelinKey::from_bytes(&p, &b).unwrap().to_bytes(),
            "galois-keys" => GaloisKeys::from_bytes(&p, &b).unwrap().to_bytes(),
            "plaintext" => Plaintext::from_bytes(&p, &b).unwrap().to_bytes(),
            _ => Ciphertext::from_bytes(&p, &b).unwrap().to_bytes(),
        };
        std::fs::write(out.join(format!("{name}.bin")), bytes).unwrap();
    }
}
