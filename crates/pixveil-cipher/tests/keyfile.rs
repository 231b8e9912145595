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
fn a_passphrase_key_ships_with_its_secret_stored() {
    let key = KeyFile::from_passphrase(
        SchemeSpec::Pe { shuffle: true },
        shape(),
        KeyMode::Fixed,
        b"hunter2",
        FAST,
    )
    .unwrap();
    let shipped = key.with_stored_secret();
    assert_eq!(shipped.protection(), &Protection::Stored);
    let back = KeyFile::from_bytes(&shipped.to_bytes().unwrap(), None).unwrap();
    assert_eq!(back.key_id(), key.key_id());
    assert_eq!(back.kdf_version(), key.kdf_version());
    assert_eq!(encrypt_with(&back), encrypt_with(&key));
}

/// `encrypt_bytes` (caller-owned memory: NumPy arrays) is `encrypt_batch`, with its checks.
#[test]
fn encrypt_bytes_is_encrypt_batch() {
    for mode in [KeyMode::Fixed, KeyMode::PerImage] {
        let key = KeyFile::generate(SchemeSpec::Etc { block: 4 }, shape(), mode).unwrap();
        let cipher = key.batch_cipher().unwrap();
        let n = 5;
        let plain: Vec<u8> = (0..n * shape().len()).map(|i| (i * 7) as u8).collect();
        let nonces = pixveil_cipher::Nonce::fresh(n).unwrap();
        let nonces = (mode == KeyMode::PerImage).then_some(nonces.as_slice());
        let mut batch = ImageBatch::new(shape(), plain.clone()).unwrap();
        cipher.encrypt_batch(&mut batch, nonces, &|_| {}).unwrap();
        let mut bytes = plain.clone();
        cipher.encrypt_bytes(&mut bytes, nonces, &|_| {}).unwrap();
        assert_eq!(bytes, batch.as_bytes());
        let mut into = vec![0u8; plain.len()];
        cipher
            .encrypt_into(&plain, &mut into, nonces, &|_| {})
            .unwrap();
        assert_eq!(into, bytes);
        let mut back = vec![0u8; plain.len()];
        cipher
            .decrypt_into(&into, &mut back, nonces, &|_| {})
            .unwrap();
        assert_eq!(back, plain);
        assert!(matches!(
            cipher.encrypt_into(&plain, &mut back[1..], nonces, &|_| {}),
            Err(Error::ShapeMismatch { .. })
        ));
        assert_ne!(bytes, plain);
        cipher.decrypt_bytes(&mut bytes, nonces, &|_| {}).unwrap();
        assert_eq!(bytes, plain);
        // Not whole images.
        let mut short = plain[..plain.len() - 1].to_vec();
        assert!(matches!(
            cipher.encrypt_bytes(&mut short, nonces, &|_| {}),
            Err(Error::ShapeMismatch { .. })
        ));
        // Per-image mode: one nonce per image, no fewer.
        if let Some(nonces) = nonces {
            let mut b = plain.clone();
            assert!(matches!(
                cipher.encrypt_bytes(&mut b, Some(&nonces[..n - 1]), &|_| {}),
                Err(Error::NonceCount { .. })
            ));
            assert!(matches!(
                cipher.encrypt_bytes(&mut b, None, &|_| {}),
                Err(Error::MissingNonces)
            ));
        }
    }
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

// ---- Issue 15: settings bound to the secret, old key files, bounds ----

use pixveil_cipher::{keyfile::SettingsCheck, KdfVersion};
use serde_json::Value;

/// Rewrites the metadata of a key file with `edit` and writes the container again — with its
/// SHA-256 checksum recomputed, as anyone can.
fn edit_meta(bytes: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let meta_len = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
    let body_len = u64::from_le_bytes(bytes[20..28].try_into().unwrap()) as usize;
    let mut meta: Value = serde_json::from_slice(&bytes[28..28 + meta_len]).unwrap();
    edit(&mut meta);
    let body = &bytes[28 + meta_len..28 + meta_len + body_len];
    pixveil_core::format::encode("key", &meta, body).unwrap()
}

fn is_settings_mac(r: Result<KeyFile, Error>) -> bool {
    matches!(r, Err(Error::Key(pixveil_core::Error::SettingsMac)))
}

/// The confirmed attack of issue 15: a passphrase-protected `pe` key in per-image mode, edited
/// to fixed mode with the checksum recomputed, was accepted (and then encrypted in fixed mode,
/// broken by one known pair). It is refused now.
#[test]
fn passphrase_key_edited_to_fixed_mode_is_refused() {
    let key = KeyFile::from_passphrase(
        SchemeSpec::Pe { shuffle: true },
        shape(),
        KeyMode::PerImage,
        b"hunter2",
        FAST,
    )
    .unwrap();
    let bytes = key.to_bytes().unwrap();
    let edited = edit_meta(&bytes, |m| m["mode"] = "fixed".into());
    // The edit is structurally valid: the checksum matches and `info` reads it…
    let info = KeyFile::inspect(&edited).unwrap();
    assert_eq!(info.mode, KeyMode::Fixed);
    // …but cannot vouch for it without the passphrase, and every use checks the MAC.
    assert_eq!(info.settings, SettingsCheck::NeedsPassphrase);
    let err = KeyFile::from_bytes(&edited, Some(b"hunter2"))
        .err()
        .unwrap();
    assert!(
        matches!(err, Error::Key(pixveil_core::Error::SettingsMac)),
        "{err}"
    );
    // The message names the file kind, the cause (the container's error) says what is wrong:
    // printed as a chain, each once.
    assert_eq!(err.to_string(), "key file");
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert!(cause.is_some_and(|c| c.contains("edited")), "{err}");
    // The genuine file still loads.
    let back = KeyFile::from_bytes(&bytes, Some(b"hunter2")).unwrap();
    assert_eq!(back.mode(), KeyMode::PerImage);
}

/// Every setting is covered: scheme parameters, scheme, shape, mode, derivation version.
#[test]
fn every_setting_is_authenticated() {
    let key = KeyFile::generate(SchemeSpec::Le { block: 4 }, shape(), KeyMode::PerImage).unwrap();
    let bytes = key.to_bytes().unwrap();
    assert_eq!(
        KeyFile::inspect(&bytes).unwrap().settings,
        SettingsCheck::Verified
    );
    type Edit = Box<dyn Fn(&mut Value)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("block", Box::new(|m| m["spec"]["block"] = 2.into())),
        (
            "scheme",
            Box::new(|m| m["spec"] = serde_json::json!({"scheme": "pe", "shuffle": false})),
        ),
        (
            "shape",
            Box::new(|m| {
                m["shape"] = serde_json::json!({"height": 16, "width": 16, "channels": 3})
            }),
        ),
        ("mode", Box::new(|m| m["mode"] = "fixed".into())),
        ("kdf", Box::new(|m| m["kdf"] = 1.into())),
        ("mac", Box::new(|m| m["mac"] = "00".repeat(32).into())),
    ];
    for (what, edit) in edits {
        let edited = edit_meta(&bytes, edit);
        assert!(
            is_settings_mac(KeyFile::from_bytes(&edited, None)),
            "{what} edit accepted"
        );
        assert!(
            matches!(
                KeyFile::inspect(&edited),
                Err(Error::Key(pixveil_core::Error::SettingsMac))
            ),
            "{what} edit shown by inspect"
        );
    }
    // Removing the MAC (keeping the version) is not a way around it either.
    let stripped = edit_meta(&bytes, |m| {
        m.as_object_mut().unwrap().remove("mac");
    });
    assert!(matches!(
        KeyFile::from_bytes(&stripped, None),
        Err(Error::InvalidKey(_))
    ));
}

/// A key file as written before issue 15: no `kdf`, no `mac`.
fn legacy(bytes: &[u8]) -> Vec<u8> {
    edit_meta(bytes, |m| {
        let o = m.as_object_mut().unwrap();
        o.remove("mac");
        o.remove("kdf");
    })
}

#[test]
fn old_key_files_are_refused_until_rekeyed() {
    let secret = MasterSecret::from_bytes([0x5A; 32]);
    let spec = SchemeSpec::Pe { shuffle: true };
    let key = KeyFile::with_secret(spec.clone(), shape(), KeyMode::Fixed, secret.clone()).unwrap();
    let old = legacy(&key.to_bytes().unwrap());
    let err = KeyFile::from_bytes(&old, None).err().unwrap();
    assert!(matches!(err, Error::LegacyKey), "{err}");
    assert!(err.to_string().contains("pixveil rekey"), "{err}");
    let info = KeyFile::inspect(&old).unwrap();
    assert_eq!(info.settings, SettingsCheck::Unauthenticated);
    assert_eq!(info.kdf_version, 1);

    // The explicit conversion keeps the secret, the key id and derivation v1 …
    let up = KeyFile::upgrade_legacy(&old, None).unwrap();
    assert_eq!(up.kdf_version(), KdfVersion::V1);
    assert_eq!(up.secret(), &secret);
    assert_eq!(up.key_id(), key.key_id());
    let rekeyed = up.to_bytes().unwrap();
    let back = KeyFile::from_bytes(&rekeyed, None).unwrap();
    assert_eq!(back.kdf_version(), KdfVersion::V1);
    assert_eq!(
        KeyFile::inspect(&rekeyed).unwrap().settings,
        SettingsCheck::Verified
    );
    // … so it encrypts exactly as the old key did (v1 contexts), not as a v2 key would.
    let v1 = pixveil_cipher::BatchCipher::with_kdf(
        spec,
        shape(),
        KeyMode::Fixed,
        &secret,
        KdfVersion::V1,
    )
    .unwrap();
    let mut want = ImageBatch::new(shape(), (0..shape().len()).map(|i| i as u8).collect()).unwrap();
    v1.encrypt_batch(&mut want, None, &|_| {}).unwrap();
    assert_eq!(encrypt_with(&back), want.into_bytes());
    assert_ne!(encrypt_with(&back), encrypt_with(&key));
    // Nothing to convert in a file that already has a MAC.
    assert!(matches!(
        KeyFile::upgrade_legacy(&rekeyed, None),
        Err(Error::InvalidKey(_))
    ));
}

#[test]
fn old_passphrase_key_files_upgrade_with_their_passphrase() {
    let key = KeyFile::from_passphrase(
        SchemeSpec::grey(),
        shape(),
        KeyMode::PerImage,
        b"hunter2",
        FAST,
    )
    .unwrap();
    let old = legacy(&key.to_bytes().unwrap());
    assert!(matches!(
        KeyFile::from_bytes(&old, Some(b"hunter2")),
        Err(Error::LegacyKey)
    ));
    assert!(matches!(
        KeyFile::upgrade_legacy(&old, Some(b"wrong")),
        Err(Error::Key(pixveil_core::Error::WrongPassphrase))
    ));
    let up = KeyFile::upgrade_legacy(&old, Some(b"hunter2")).unwrap();
    let back = KeyFile::from_bytes(&up.to_bytes().unwrap(), Some(b"hunter2")).unwrap();
    assert_eq!(back.secret(), key.secret());
    assert_eq!(back.kdf_version(), KdfVersion::V1);
    assert_eq!(back.mode(), KeyMode::PerImage);
}

/// Argon2id costs from a file are checked before Argon2 allocates anything: a 4 GiB ×
/// 64-pass setting (accepted before issue 15) fails at once.
#[test]
fn hostile_argon2_costs_are_refused() {
    let key =
        KeyFile::from_passphrase(SchemeSpec::grey(), shape(), KeyMode::Fixed, b"pw", FAST).unwrap();
    let bytes = key.to_bytes().unwrap();
    for (field, value) in [
        ("memory_kib", 4u64 * 1024 * 1024),
        ("iterations", 64),
        ("parallelism", 64),
    ] {
        let edited = edit_meta(&bytes, |m| {
            m["protection"]["argon2"][field] = value.into();
        });
        let start = std::time::Instant::now();
        let r = KeyFile::from_bytes(&edited, Some(b"pw"));
        assert!(
            matches!(r, Err(Error::Key(pixveil_core::Error::KdfParams(_)))),
            "{field}"
        );
        assert!(start.elapsed().as_secs() < 1, "{field}: work done first");
    }
}

/// Hostile schemes are refused by `inspect` (and so by `pixveil info`) from the bounds alone.
#[test]
fn hostile_schemes_are_refused_before_any_work() {
    let key = KeyFile::generate(SchemeSpec::grey(), shape(), KeyMode::Fixed).unwrap();
    let bytes = key.to_bytes().unwrap();
    let np = serde_json::json!({"scheme": "pe", "shuffle": false});
    let hostile = [
        serde_json::json!({"scheme": "chain", "stages": vec![np.clone(); 17]}),
        serde_json::json!({"scheme": "logistic", "burn_in": u32::MAX}),
        (0..5).fold(
            np,
            |inner, _| serde_json::json!({"scheme": "chain", "stages": [inner]}),
        ),
    ];
    for spec in hostile {
        let edited = edit_meta(&bytes, |m| m["spec"] = spec.clone());
        assert!(
            matches!(
                KeyFile::inspect(&edited),
                Err(Error::InvalidParameter { .. })
            ),
            "{spec}"
        );
        assert!(KeyFile::from_bytes(&edited, None).is_err());
    }
    // And a key cannot even be made with them.
    assert!(KeyFile::generate(
        SchemeSpec::Logistic { burn_in: u32::MAX },
        shape(),
        KeyMode::Fixed
    )
    .is_err());
}

/// The table budget: every standard scheme fits at the largest key shape, a chain of four
/// colour-shuffling stages does not; LE's tables no longer grow with the image.
#[test]
fn table_bytes_are_bounded() {
    use pixveil_cipher::spec::MAX_TABLE_BYTES;
    let big = Shape::new(2048, 2048, 3).unwrap();
    assert!(big.len() <= pixveil_cipher::keyfile::MAX_KEY_IMAGE_BYTES);
    for name in SchemeSpec::NAMES {
        let spec = SchemeSpec::from_name(name, None).unwrap();
        assert!(spec.table_bytes(big) <= MAX_TABLE_BYTES, "{name}");
        assert!(spec.check_limits(big).is_ok(), "{name}");
    }
    assert!(SchemeSpec::Le { block: 4 }.table_bytes(big) < 1 << 20);
    let pe = SchemeSpec::Pe { shuffle: true };
    let four = SchemeSpec::Chain {
        stages: vec![pe; 4],
    };
    assert!(matches!(
        four.check_limits(big),
        Err(Error::InvalidParameter { .. })
    ));
    // Building LE at the largest shape is cheap now (the per-block tables only).
    let start = std::time::Instant::now();
    let le = SchemeSpec::Le { block: 4 }
        .build(big, &MasterSecret::from_bytes([1; 32]))
        .unwrap();
    assert!(start.elapsed().as_secs() < 2);
    let mut img = vec![7u8; big.len()];
    le.encrypt(&mut img).unwrap();
    le.decrypt(&mut img).unwrap();
    assert!(img.iter().all(|&b| b == 7));
}
