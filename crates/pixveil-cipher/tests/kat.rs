//! Known-answer vectors: every scheme's fixed-key output on the standard inputs must match the
//! committed SHA-256 digests — `tests/kat/vectors.json` for the current key derivation (v3,
//! whose fixed mode is v2's) and `tests/kat/vectors-v1.json` for derivation v1 (key files
//! written before issue 15 must keep decrypting what they encrypted) — and every scheme's
//! per-image output must match `tests/kat/vectors-per-image-v2.json` (made by the v2
//! derivation, before v3 existed) and `vectors-per-image-v3.json`. Regenerate with
//! `cargo run -p pixveil-cipher --example kat [-- 1 | -- per-image N]`.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use pixveil_cipher::{
    kat::{
        per_image_vectors_with, standard_inputs, standard_vectors_with, KatVector, PerImageVector,
        KAT_SECRET,
    },
    BatchCipher, KdfVersion, KeyMode, Nonce,
};
use pixveil_core::MasterSecret;

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
    assert_eq!(KdfVersion::CURRENT, KdfVersion::V3);
    check(include_str!("kat/vectors.json"), KdfVersion::V3);
}

/// v3 changed only the per-image derivation: fixed mode is v2's, vector for vector.
#[test]
fn v2_fixed_vectors_are_the_v3_ones() {
    check(include_str!("kat/vectors.json"), KdfVersion::V2);
}

/// The vectors of derivation v1 are the ones committed before issue 15, unchanged.
#[test]
fn v1_regression_vectors_match() {
    check(include_str!("kat/vectors-v1.json"), KdfVersion::V1);
}

/// Recomputes the per-image vectors of `kdf`, and decrypts each committed first ciphertext
/// byte for byte back to the committed input's first image.
fn check_per_image(committed: &str, kdf: KdfVersion) {
    let committed: Vec<PerImageVector> = serde_json::from_str(committed).expect("vectors parse");
    assert!(committed.iter().all(|v| v.kdf == kdf.number()));
    let current = per_image_vectors_with(kdf).unwrap();
    assert_eq!(committed.len(), current.len(), "the set of vectors changed");
    for (c, n) in committed.iter().zip(&current) {
        assert_eq!(c, n, "{} on {} changed output ({kdf:?})", c.scheme, c.shape);
    }
    let secret = MasterSecret::from_bytes(KAT_SECRET);
    let inputs = standard_inputs().unwrap();
    for v in &committed {
        let (shape, batch, _) = inputs
            .iter()
            .find(|(s, _, what)| s.to_string() == v.shape && *what == v.input)
            .expect("a standard input");
        let cipher =
            BatchCipher::with_kdf(v.spec.clone(), *shape, KeyMode::PerImage, &secret, kdf).unwrap();
        let nonce = Nonce::from_hex(&v.nonces[0]).unwrap();
        let mut image = hex::decode(&v.first_ciphertext).unwrap();
        cipher
            .cipher_for(Some(&nonce))
            .unwrap()
            .get()
            .decrypt(&mut image)
            .unwrap();
        assert_eq!(
            image,
            batch.image(0).unwrap(),
            "{} on {}: the committed {kdf:?} ciphertext no longer decrypts",
            v.scheme,
            v.shape
        );
    }
}

/// Per-image ciphertexts of derivation v2 (committed before v3 existed) still decrypt.
#[test]
fn v2_per_image_vectors_still_decrypt() {
    check_per_image(
        include_str!("kat/vectors-per-image-v2.json"),
        KdfVersion::V2,
    );
}

#[test]
fn v3_per_image_vectors_match() {
    check_per_image(
        include_str!("kat/vectors-per-image-v3.json"),
        KdfVersion::V3,
    );
}

/// v3 changes the per-image output of `pe`, `pe-np`, `le` and `etc` (and only theirs).
#[test]
fn v3_per_image_differs_from_v2_where_it_should() {
    let v2: Vec<PerImageVector> =
        serde_json::from_str(include_str!("kat/vectors-per-image-v2.json")).unwrap();
    let v3: Vec<PerImageVector> =
        serde_json::from_str(include_str!("kat/vectors-per-image-v3.json")).unwrap();
    assert_eq!(v2.len(), v3.len());
    for (a, b) in v2.iter().zip(&v3) {
        assert_eq!((&a.scheme, &a.shape), (&b.scheme, &b.shape));
        let streamed = matches!(
            a.spec,
            pixveil_cipher::SchemeSpec::Pe { .. }
                | pixveil_cipher::SchemeSpec::Le { .. }
                | pixveil_cipher::SchemeSpec::Etc { .. }
        );
        assert_eq!(
            a.sha256 != b.sha256,
            streamed,
            "{} on {}",
            a.scheme,
            a.shape
        );
    }
}

/// The committed v2 per-image key files (written by the independent reference) load as v2 and
/// decrypt the committed v2 per-image ciphertexts byte for byte; the v3 ones load as v3.
#[test]
fn committed_per_image_key_files_keep_their_derivation() {
    let v2: Vec<PerImageVector> =
        serde_json::from_str(include_str!("kat/vectors-per-image-v2.json")).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kat/keys");
    let inputs = standard_inputs().unwrap();
    let mut checked = 0;
    for (file, scheme, shape) in [
        ("pe_32x32x3_per-image_v2.key", "pe", "32x32x3"),
        ("pe-np_28x28x1_per-image_v2.key", "pe-np", "28x28x1"),
        ("le4_32x32x3_per-image_v2.key", "le/4", "32x32x3"),
        ("etc4_32x32x3_per-image_v2.key", "etc/4", "32x32x3"),
        ("etc4_28x28x1_per-image_v2.key", "etc/4", "28x28x1"),
    ] {
        let key =
            pixveil_cipher::KeyFile::from_bytes(&std::fs::read(dir.join(file)).unwrap(), None)
                .unwrap();
        assert_eq!(key.kdf_version(), KdfVersion::V2, "{file}");
        assert_eq!(key.mode(), KeyMode::PerImage, "{file}");
        let v = v2
            .iter()
            .find(|v| v.scheme == scheme && v.shape == shape)
            .unwrap();
        let (_, batch, _) = inputs.iter().find(|(_, _, w)| *w == v.input).unwrap();
        let nonces: Vec<Nonce> = v
            .nonces
            .iter()
            .map(|n| Nonce::from_hex(n).unwrap())
            .collect();
        let mut ct = batch.clone();
        let bc = key.batch_cipher().unwrap();
        bc.encrypt_batch(&mut ct, Some(&nonces), &|_| {}).unwrap();
        assert_eq!(
            pixveil_cipher::kat::sha256_hex(ct.as_bytes()),
            v.sha256,
            "{file}"
        );
        let mut first = hex::decode(&v.first_ciphertext).unwrap();
        bc.decrypt_bytes(&mut first, Some(&nonces[..1]), &|_| {})
            .unwrap();
        assert_eq!(first, batch.image(0).unwrap(), "{file}");
        let v3 = pixveil_cipher::KeyFile::from_bytes(
            &std::fs::read(dir.join(file.replace("_v2", "_v3"))).unwrap(),
            None,
        )
        .unwrap();
        assert_eq!(v3.kdf_version(), KdfVersion::V3, "{file}");
        checked += 1;
    }
    assert_eq!(checked, 5);
}
