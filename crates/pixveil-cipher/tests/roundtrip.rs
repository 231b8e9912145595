//! Property tests shared by every scheme: exact inversion in both key modes, key sensitivity,
//! the colour shuffle as a true permutation, and parameter/shape errors.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use pixveil_cipher::{
    kat::synthetic_batch, pe::TABLE1, BatchCipher, Cipher, Error, KdfVersion, KeyMode, Nonce,
    SchemeSpec,
};
use pixveil_core::MasterSecret;
use pixveil_image::{ImageBatch, Shape};
use proptest::prelude::*;

fn specs_for_block(b: u32) -> Vec<SchemeSpec> {
    vec![
        SchemeSpec::Pe { shuffle: true },
        SchemeSpec::Pe { shuffle: false },
        SchemeSpec::Logistic { burn_in: 10 },
        SchemeSpec::grey(),
        SchemeSpec::Le { block: b },
        SchemeSpec::Etc { block: b },
        SchemeSpec::Chain {
            stages: vec![
                SchemeSpec::Pe { shuffle: true },
                SchemeSpec::Etc { block: b },
            ],
        },
        SchemeSpec::Chain {
            stages: vec![
                SchemeSpec::Le { block: b },
                SchemeSpec::Logistic { burn_in: 5 },
            ],
        },
    ]
}

fn secret(seed: u8) -> MasterSecret {
    MasterSecret::from_bytes([seed; 32])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn decrypt_inverts_encrypt(
        b in prop::sample::select(vec![1u32, 2, 4, 8]),
        kh in 1u32..=4,
        kw in 1u32..=4,
        rgb in any::<bool>(),
        key in any::<u8>(),
        data_seed in any::<u8>(),
        per_image in any::<bool>(),
    ) {
        let shape = Shape::new(b * kh, b * kw, if rgb { 3 } else { 1 }).unwrap();
        let mode = if per_image { KeyMode::PerImage } else { KeyMode::Fixed };
        let plain = synthetic_batch(shape, 3, [data_seed; 32]);
        for spec in specs_for_block(b) {
            let bc = BatchCipher::new(spec.clone(), shape, mode, &secret(key)).unwrap();
            let nonces = per_image.then(|| Nonce::fresh(3).unwrap());
            let mut batch = plain.clone();
            bc.encrypt_batch(&mut batch, nonces.as_deref(), &|_| {}).unwrap();
            bc.decrypt_batch(&mut batch, nonces.as_deref(), &|_| {}).unwrap();
            prop_assert_eq!(batch.as_bytes(), plain.as_bytes(), "{} on {}", spec.name(), shape);
        }
    }

    /// Per-image mode under every derivation version (v3: one stream per image for `pe`,
    /// `pe-np`, `le`, `etc`): decryption inverts encryption, in place and through
    /// `encrypt_into`; the result does not depend on the thread count; each image's cipher from
    /// `cipher_for` is the batch's; distinct nonces give distinct ciphertexts.
    #[test]
    fn per_image_every_version_inverts_and_ignores_threads(
        b in prop::sample::select(vec![1u32, 2, 4]),
        kh in 1u32..=5,
        kw in 1u32..=5,
        channels in prop::sample::select(vec![1u32, 3]),
        key in any::<u8>(),
        data_seed in any::<u8>(),
        nonce_seed in any::<u8>(),
        kdf in prop::sample::select(vec![KdfVersion::V1, KdfVersion::V2, KdfVersion::V3]),
    ) {
        let shape = Shape::new(b * kh, b * kw, channels).unwrap();
        let n = 5;
        let plain = synthetic_batch(shape, n, [data_seed; 32]);
        let nonces: Vec<Nonce> = (0..n).map(|i| Nonce([nonce_seed ^ (i as u8 * 17); 16])).collect();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        for spec in [
            SchemeSpec::Pe { shuffle: true },
            SchemeSpec::Pe { shuffle: false },
            SchemeSpec::Le { block: b },
            SchemeSpec::Etc { block: b },
        ] {
            let bc = BatchCipher::with_kdf(spec.clone(), shape, KeyMode::PerImage, &secret(key), kdf).unwrap();
            let mut a = plain.clone();
            one.install(|| bc.encrypt_batch(&mut a, Some(&nonces), &|_| {})).unwrap();
            let mut c = plain.clone();
            three.install(|| bc.encrypt_batch(&mut c, Some(&nonces), &|_| {})).unwrap();
            prop_assert_eq!(a.as_bytes(), c.as_bytes(), "{} on {} {:?}", spec.name(), shape, kdf);
            let mut into = vec![0u8; plain.as_bytes().len()];
            bc.encrypt_into(plain.as_bytes(), &mut into, Some(&nonces), &|_| {}).unwrap();
            prop_assert_eq!(a.as_bytes(), into.as_slice());
            for (i, nonce) in nonces.iter().enumerate() {
                let mut img = plain.image(i).unwrap().to_vec();
                bc.cipher_for(Some(nonce)).unwrap().get().encrypt(&mut img).unwrap();
                prop_assert_eq!(img.as_slice(), a.image(i).unwrap());
            }
            three.install(|| bc.decrypt_batch(&mut a, Some(&nonces), &|_| {})).unwrap();
            prop_assert_eq!(a.as_bytes(), plain.as_bytes(), "{} on {} {:?}", spec.name(), shape, kdf);
            // One image under two nonces: different ciphertexts, where the key space is large
            // enough (≥ 2^20) for a coincidence to be implausible.
            let blocks = (shape.pixels() / (b * b) as usize) as u32;
            let large = match spec {
                SchemeSpec::Pe { .. } => shape.len() >= 24,
                SchemeSpec::Le { .. } => b * b * channels >= 6,
                _ => blocks >= 8,
            };
            if large {
                let same = ImageBatch::new(shape, [plain.image(0).unwrap(), plain.image(0).unwrap()].concat()).unwrap();
                let mut two = same.clone();
                bc.encrypt_batch(&mut two, Some(&[nonces[0], Nonce([!nonce_seed; 16])]), &|_| {}).unwrap();
                prop_assert_ne!(two.image(0).unwrap(), two.image(1).unwrap(), "{} on {}", spec.name(), shape);
            }
        }
    }

    #[test]
    fn colour_shuffle_preserves_each_pixels_multiset(h in 1u32..12, w in 1u32..12, key in any::<u8>()) {
        let shape = Shape::new(h, w, 3).unwrap();
        let img = synthetic_batch(shape, 1, [key ^ 0x55; 32]).into_bytes();
        // NP with pe's own mask (since derivation v2, pe-np has another mask), then compare
        // with pe's output pixel by pixel.
        let pe = pixveil_cipher::pe::Pe::new(shape, &secret(key), true).unwrap();
        let a: Vec<u8> = img.iter().zip(pe.np_mask()).map(|(x, m)| x ^ m).collect();
        let mut c = img.clone();
        pe.encrypt(&mut c).unwrap();
        for (pa, pc) in a.chunks_exact(3).zip(c.chunks_exact(3)) {
            let (mut sa, mut sc) = (pa.to_vec(), pc.to_vec());
            sa.sort_unstable();
            sc.sort_unstable();
            prop_assert_eq!(sa, sc);
        }
    }
}

/// A 16×16 (or 32×32 for block 8) random batch for `spec`.
fn sample(c: u32) -> (Shape, ImageBatch) {
    let shape = Shape::new(16, 16, c).unwrap();
    (shape, synthetic_batch(shape, 2, [c as u8; 32]))
}

#[test]
fn different_keys_and_modes_give_different_ciphertexts() {
    for c in [1, 3] {
        let (shape, plain) = sample(c);
        for b in [2, 4, 8] {
            for spec in specs_for_block(b) {
                let enc = |key: u8, mode: KeyMode| {
                    let bc = BatchCipher::new(spec.clone(), shape, mode, &secret(key)).unwrap();
                    let nonces = (mode == KeyMode::PerImage).then(|| Nonce::fresh(2).unwrap());
                    let mut batch = plain.clone();
                    bc.encrypt_batch(&mut batch, nonces.as_deref(), &|_| {})
                        .unwrap();
                    batch.into_bytes()
                };
                let a = enc(1, KeyMode::Fixed);
                assert_ne!(a, plain.as_bytes(), "{} changes nothing", spec.name());
                assert_ne!(
                    a,
                    enc(2, KeyMode::Fixed),
                    "{}: key does not matter",
                    spec.name()
                );
                assert_eq!(
                    a,
                    enc(1, KeyMode::Fixed),
                    "{}: not deterministic",
                    spec.name()
                );
                let p = enc(1, KeyMode::PerImage);
                assert_ne!(p, a, "{}: per-image equals fixed", spec.name());
                assert_ne!(
                    p,
                    enc(1, KeyMode::PerImage),
                    "{}: nonces ignored",
                    spec.name()
                );
            }
        }
    }
}

#[test]
fn fixed_key_encrypts_every_image_the_same_way() {
    let shape = Shape::new(8, 8, 3).unwrap();
    let bc = BatchCipher::new(
        SchemeSpec::Pe { shuffle: true },
        shape,
        KeyMode::Fixed,
        &secret(3),
    )
    .unwrap();
    let mut batch = ImageBatch::new(shape, vec![77; shape.len() * 2]).unwrap();
    bc.encrypt_batch(&mut batch, None, &|_| {}).unwrap();
    assert_eq!(batch.image(0), batch.image(1));
}

#[test]
fn table1_rows_are_six_distinct_permutations() {
    let mut rows = TABLE1.to_vec();
    for r in &rows {
        let mut s = r.to_vec();
        s.sort_unstable();
        assert_eq!(s, [0, 1, 2]);
    }
    rows.sort_unstable();
    rows.dedup();
    assert_eq!(rows.len(), 6);
    // Every code occurs among a 32×32 image's pixels, and acts as its Table 1 row.
    let shape = Shape::new(32, 32, 3).unwrap();
    let pe = pixveil_cipher::pe::Pe::new(shape, &secret(9), true).unwrap();
    let codes = pe.codes().unwrap();
    for k in 0..6u8 {
        assert!(codes.contains(&k), "code {k} never drawn");
    }
    let img: Vec<u8> = (0..shape.pixels()).flat_map(|_| [10u8, 20, 30]).collect();
    let mut enc = img.clone();
    pe.encrypt(&mut enc).unwrap();
    for ((px, m), &code) in enc
        .chunks_exact(3)
        .zip(pe.np_mask().chunks_exact(3))
        .zip(codes)
    {
        let row = TABLE1[usize::from(code)];
        for c in 0..3 {
            let src = usize::from(row[c]);
            assert_eq!(px[c], [10u8, 20, 30][src] ^ m[src]);
        }
    }
}

#[test]
fn wrong_shape_is_rejected() {
    let shape = Shape::new(8, 8, 3).unwrap();
    let other = Shape::new(8, 8, 1).unwrap();
    for spec in specs_for_block(4) {
        let c = spec.build(shape, &secret(1)).unwrap();
        let mut short = vec![0u8; shape.len() - 1];
        assert!(matches!(
            c.encrypt(&mut short),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            c.decrypt(&mut short),
            Err(Error::ShapeMismatch { .. })
        ));
        let bc = BatchCipher::new(spec.clone(), shape, KeyMode::Fixed, &secret(1)).unwrap();
        let mut batch = ImageBatch::zeros(other, 2);
        assert!(matches!(
            bc.encrypt_batch(&mut batch, None, &|_| {}),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}

#[test]
fn per_image_mode_needs_nonces() {
    let shape = Shape::new(4, 4, 1).unwrap();
    let bc = BatchCipher::new(SchemeSpec::grey(), shape, KeyMode::PerImage, &secret(1)).unwrap();
    let mut batch = ImageBatch::zeros(shape, 2);
    assert!(matches!(
        bc.encrypt_batch(&mut batch, None, &|_| {}),
        Err(Error::MissingNonces)
    ));
    let one = Nonce::fresh(1).unwrap();
    assert!(matches!(
        bc.encrypt_batch(&mut batch, Some(&one), &|_| {}),
        Err(Error::NonceCount {
            images: 2,
            nonces: 1
        })
    ));
}

#[test]
fn block_size_must_divide() {
    let shape = Shape::new(28, 28, 3).unwrap();
    for b in [0, 3, 8, 56] {
        for spec in [SchemeSpec::Le { block: b }, SchemeSpec::Etc { block: b }] {
            assert!(
                matches!(
                    spec.build(shape, &secret(1)),
                    Err(Error::InvalidParameter { .. })
                ),
                "{spec:?}"
            );
        }
    }
    let chain = SchemeSpec::Chain {
        stages: vec![
            SchemeSpec::Pe { shuffle: true },
            SchemeSpec::Le { block: 3 },
        ],
    };
    assert!(matches!(
        chain.build(shape, &secret(1)),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        SchemeSpec::Chain { stages: vec![] }.build(shape, &secret(1)),
        Err(Error::InvalidParameter { .. })
    ));
}
