//! Property tests: `decrypt(op(enc(a), enc(b))) ≈ op(a, b)` within a stated precision in
//! bits, for every operation, on small insecure parameters (N = 2^11) for speed.
//!
//! Needs the `insecure-params` feature (on in `cargo test --workspace`; alone:
//! `cargo test -p pixveil-ckks --features insecure-params`); without it this file is empty.
#![cfg(feature = "insecure-params")]
#![allow(missing_docs, clippy::unwrap_used)]

use pixveil_ckks::prelude::*;
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::{Arc, OnceLock};

struct Fx {
    params: Arc<Parameters>,
    kg: KeyGenerator,
    rlk: RelinKey,
    gk: GaloisKeys,
    enc: Encoder,
    pk_enc: Encryptor,
    sk_enc: Encryptor,
    dec: Decryptor,
    eval: Evaluator,
}

const STEPS: [i64; 6] = [1, 2, 3, -1, 7, 100];

fn literal() -> ParametersLiteral {
    // Not secure (N = 2048 with 180 bits): tests only.
    ParametersLiteral {
        log_n: 11,
        log_q: vec![45, 35, 35],
        log_p: vec![45],
        log_scale: 35,
        security: SecurityLevel::None,
    }
}

fn fx() -> &'static Fx {
    static F: OnceLock<Fx> = OnceLock::new();
    F.get_or_init(|| {
        let params = Parameters::new(&literal()).unwrap();
        let mut rng = ChaCha20Rng::from_seed([42; 32]);
        let kg = KeyGenerator::new(&params, &mut rng).unwrap();
        let pk = kg.public_key(&mut rng).unwrap();
        Fx {
            rlk: kg.relin_key(&mut rng).unwrap(),
            gk: kg.galois_keys(&STEPS, true, &mut rng).unwrap(),
            enc: Encoder::new(&params).unwrap(),
            pk_enc: Encryptor::with_public_key(&params, &pk).unwrap(),
            sk_enc: Encryptor::with_secret_key(&params, kg.secret_key()).unwrap(),
            dec: Decryptor::new(&params, kg.secret_key()).unwrap(),
            eval: Evaluator::new(&params),
            params,
            kg,
        }
    })
}

fn values(seed: u64) -> Vec<Complex> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    (0..fx().params.slots())
        .map(|_| Complex::new(next(), next()))
        .collect()
}

fn encrypt(v: &[Complex], public: bool) -> Ciphertext {
    let f = fx();
    let pt = f
        .enc
        .encode(v, f.params.max_level(), f.params.default_scale())
        .unwrap();
    let mut rng = ChaCha20Rng::from_os_rng();
    if public {
        f.pk_enc.encrypt(&pt, &mut rng).unwrap()
    } else {
        f.sk_enc.encrypt(&pt, &mut rng).unwrap()
    }
}

fn decrypt(ct: &Ciphertext) -> Vec<Complex> {
    let f = fx();
    f.enc.decode(&f.dec.decrypt_raw(ct).unwrap()).unwrap()
}

fn assert_close(want: &[Complex], ct: &Ciphertext, min_bits: f64, what: &str) {
    let stats = PrecisionStats::compute(want, &decrypt(ct));
    assert!(stats.min_bits >= min_bits, "{what}: {stats}");
}

fn rotl(v: &[Complex], k: i64) -> Vec<Complex> {
    let n = v.len() as i64;
    (0..n).map(|i| v[(i + k).rem_euclid(n) as usize]).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3))]

    #[test]
    fn every_op_is_homomorphic(sa in any::<u64>(), sb in any::<u64>(), public in any::<bool>()) {
        let f = fx();
        let e = &f.eval;
        let (a, b) = (values(sa), values(sb));
        let (ca, cb) = (encrypt(&a, public), encrypt(&b, !public));
        assert_close(&a, &ca, 20.0, "encrypt");
        let zip = |g: &dyn Fn(Complex, Complex) -> Complex| -> Vec<Complex> {
            a.iter().zip(&b).map(|(&x, &y)| g(x, y)).collect()
        };
        assert_close(&zip(&|x, y| x + y), &e.add(&ca, &cb).unwrap(), 20.0, "add");
        assert_close(&zip(&|x, y| x - y), &e.sub(&ca, &cb).unwrap(), 20.0, "sub");
        assert_close(&zip(&|x, _| -x), &e.negate(&ca).unwrap(), 20.0, "negate");
        let pb = f.enc.encode(&b, f.params.max_level(), f.params.default_scale()).unwrap();
        assert_close(&zip(&|x, y| x + y), &e.add_plain(&ca, &pb).unwrap(), 20.0, "add_plain");
        let prod = zip(&|x, y| x * y);
        let mp = e.rescale(&e.mul_plain(&ca, &pb).unwrap()).unwrap();
        assert_eq!(mp.level(), f.params.max_level() - 1);
        assert_close(&prod, &mp, 18.0, "mul_plain + rescale");
        let m3 = e.mul(&ca, &cb).unwrap();
        assert_eq!(m3.size(), 3);
        assert_close(&prod, &m3, 18.0, "mul (size 3)");
        let mr = e.rescale(&e.relinearize(&m3, &f.rlk).unwrap()).unwrap();
        assert_close(&prod, &mr, 18.0, "mul + relin + rescale");
        // Depth 2: (a·b)·a.
        let a1 = e.drop_to_level(&ca, mr.level()).unwrap();
        let mut d2 = e.rescale(&e.mul_relin(&mr, &a1, &f.rlk).unwrap()).unwrap();
        d2.set_scale(d2.scale()).unwrap();
        assert_close(&zip(&|x, y| x * y * x), &d2, 15.0, "depth 2");
        assert_eq!(d2.level(), 0);
        assert!(e.rescale(&d2).is_err());
        assert_close(&zip(&|x, _| x.scale(3.0)), &e.mul_integer(&ca, 3).unwrap(), 18.0, "mul_integer");
        let ms = e.rescale(&e.mul_scalar(&ca, -0.75, f.params.default_scale()).unwrap()).unwrap();
        assert_close(&zip(&|x, _| x.scale(-0.75)), &ms, 18.0, "mul_scalar");
        assert_close(&zip(&|x, _| x + Complex::from(0.5)), &e.add_scalar(&ca, 0.5).unwrap(), 20.0, "add_scalar");
        assert_close(&zip(&|x, _| x.conj()), &e.conjugate(&ca, &f.gk).unwrap(), 18.0, "conjugate");
    }
}

#[test]
fn rotation_by_every_key_and_hoisting() {
    let f = fx();
    let a = values(7);
    let ca = encrypt(&a, true);
    let hoisted = f.eval.rotate_hoisted(&ca, &STEPS, &f.gk).unwrap();
    for (&k, h) in STEPS.iter().zip(&hoisted) {
        let want = rotl(&a, k);
        assert_close(
            &want,
            &f.eval.rotate(&ca, k, &f.gk).unwrap(),
            18.0,
            "rotate",
        );
        assert_close(&want, h, 18.0, "hoisted rotate");
    }
    // Rotation at a lower level, and composition of rotations.
    let low = f.eval.drop_to_level(&ca, 0).unwrap();
    let r = f
        .eval
        .rotate(&f.eval.rotate(&low, 1, &f.gk).unwrap(), 2, &f.gk)
        .unwrap();
    assert_close(&rotl(&a, 3), &r, 17.0, "rotate at level 0");
    assert_close(&a, &f.eval.rotate(&ca, 0, &f.gk).unwrap(), 20.0, "rotate 0");
    let err = f.eval.rotate(&ca, 5, &f.gk).unwrap_err();
    assert!(
        matches!(err, Error::MissingGaloisKey { step: 5, .. }),
        "{err}"
    );
}

#[test]
fn mismatched_operands_are_errors() {
    let f = fx();
    let a = encrypt(&values(1), true);
    let low = f.eval.drop_to_level(&a, 1).unwrap();
    assert!(matches!(
        f.eval.add(&a, &low),
        Err(Error::LevelMismatch { left: 2, right: 1 })
    ));
    let sq = f.eval.mul_relin(&a, &a, &f.rlk).unwrap();
    assert!(matches!(
        f.eval.add(&a, &sq),
        Err(Error::ScaleMismatch { .. })
    ));
    assert!(matches!(
        f.eval.relinearize(&a, &f.rlk),
        Err(Error::CiphertextSize { .. })
    ));
    // Other parameters: different fingerprint.
    let mut lit = literal();
    lit.log_scale = 34;
    let other = Parameters::new(&lit).unwrap();
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let kg2 = KeyGenerator::new(&other, &mut rng).unwrap();
    let enc2 = Encoder::new(&other).unwrap();
    let pt2 = enc2.encode_real(&[1.0], 2, other.default_scale()).unwrap();
    let c2 = Encryptor::with_secret_key(&other, kg2.secret_key())
        .unwrap()
        .encrypt(&pt2, &mut rng)
        .unwrap();
    assert!(matches!(
        f.eval.add(&a, &c2),
        Err(Error::ParameterMismatch { .. })
    ));
    assert!(matches!(
        f.dec.decrypt_raw(&c2),
        Err(Error::ParameterMismatch { .. })
    ));
    assert!(matches!(
        f.eval.mul_plain(&a, &pt2),
        Err(Error::ParameterMismatch { .. })
    ));
    let rlk2 = kg2.relin_key(&mut rng).unwrap();
    assert!(matches!(
        f.eval.relinearize(&sq, &rlk2),
        Err(Error::ParameterMismatch { .. })
    ));
    assert!(Encryptor::with_secret_key(&f.params, kg2.secret_key()).is_err());
    assert!(matches!(
        f.enc.encode_real(&vec![0.0; f.params.slots() + 1], 0, 1e6),
        Err(Error::TooManyValues { .. })
    ));
    assert!(matches!(
        f.enc.encode_real(&[1e30], 0, 1e6),
        Err(Error::EncodingOverflow { .. })
    ));
    assert!(matches!(
        f.enc.encode_real(&[1.0], 9, 1e6),
        Err(Error::InvalidLevel { .. })
    ));
    let _ = &f.kg;
}

#[test]
fn secret_key_debug_is_redacted() {
    let s = format!("{:?}", fx().kg.secret_key());
    assert!(s.contains("redacted"), "{s}");
}

/// The shipped 128-bit presets at N = 8192, end to end (slower: a few seconds at opt-level 1).
#[test]
fn presets_at_8192_end_to_end() {
    for (preset, bits) in [
        (Preset::TenSeal8192, 9.0),
        (Preset::Precise8192, 11.0),
        (Preset::Fast8192, 11.0),
    ] {
        let params = Parameters::preset(preset).unwrap();
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        let kg = KeyGenerator::new(&params, &mut rng).unwrap();
        let pk = kg.public_key(&mut rng).unwrap();
        let rlk = kg.relin_key(&mut rng).unwrap();
        let gk = kg.galois_keys(&[1, -2], false, &mut rng).unwrap();
        let enc = Encoder::new(&params).unwrap();
        let encryptor = Encryptor::with_public_key(&params, &pk).unwrap();
        let dec = Decryptor::new(&params, kg.secret_key()).unwrap();
        let ev = Evaluator::new(&params);
        let n = params.slots();
        let a: Vec<f64> = (0..n)
            .map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0)
            .collect();
        let pt = enc
            .encode_real(&a, params.max_level(), params.default_scale())
            .unwrap();
        let ct = encryptor.encrypt(&pt, &mut rng).unwrap();
        // x² rotated by 1 and by −2, summed: one multiplication, two hoisted rotations.
        let sq = ev.rescale(&ev.mul_relin(&ct, &ct, &rlk).unwrap()).unwrap();
        let r = ev.rotate_hoisted(&sq, &[1, -2], &gk).unwrap();
        let sum = ev.add(&r[0], &r[1]).unwrap();
        let got = enc.decode_real(&dec.decrypt_raw(&sum).unwrap()).unwrap();
        let want: Vec<f64> = (0..n)
            .map(|i| a[(i + 1) % n].powi(2) + a[(i + n - 2) % n].powi(2))
            .collect();
        let stats = PrecisionStats::compute_real(&want, &got);
        assert!(stats.min_bits >= bits, "{}: {stats}", preset.name());
    }
}

#[test]
fn in_place_variants_match() {
    let f = fx();
    let (a, b) = (values(11), values(12));
    let (ca, cb) = (encrypt(&a, true), encrypt(&b, false));
    let mut x = ca.clone();
    f.eval.add_assign(&mut x, &cb).unwrap();
    let want: Vec<Complex> = a.iter().zip(&b).map(|(&u, &v)| u + v).collect();
    assert_close(&want, &x, 20.0, "add_assign");
    let pb = f
        .enc
        .encode(&b, f.params.max_level(), f.params.default_scale())
        .unwrap();
    let mut y = ca.clone();
    f.eval.mul_plain_assign(&mut y, &pb).unwrap();
    let y = f.eval.rescale(&y).unwrap();
    let want: Vec<Complex> = a.iter().zip(&b).map(|(&u, &v)| u * v).collect();
    assert_close(&want, &y, 18.0, "mul_plain_assign");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Encoding precision: rounding to Δ = 2^35 leaves ≥ 25 bits (error ≈ √N·2^-36).
    #[test]
    fn encode_decode_roundtrip(seed in any::<u64>(), len in 1usize..1024, level in 0usize..3) {
        let f = fx();
        let v: Vec<Complex> = values(seed).into_iter().take(len).collect();
        let pt = f.enc.encode(&v, level, f.params.default_scale()).unwrap();
        prop_assert_eq!(pt.level(), level);
        let got = f.enc.decode(&pt).unwrap();
        let stats = PrecisionStats::compute(&v, &got);
        prop_assert!(stats.min_bits >= 25.0, "{}", stats);
        // Missing slots decode to zero.
        let zeros = vec![Complex::default(); f.params.slots() - len];
        let tail = PrecisionStats::compute(&zeros, &got[len..]);
        prop_assert!(tail.min_bits >= 25.0);
    }

    /// Serialization round trip of ciphertexts produced by random operations.
    #[test]
    fn ciphertext_bytes_roundtrip(seed in any::<u64>(), public in any::<bool>(), op in 0u8..4) {
        let f = fx();
        let a = encrypt(&values(seed), public);
        let ct = match op {
            0 => a,
            1 => f.eval.mul(&a, &a).unwrap(),
            2 => f.eval.rescale(&f.eval.mul_relin(&a, &a, &f.rlk).unwrap()).unwrap(),
            _ => f.eval.rotate(&a, 1, &f.gk).unwrap(),
        };
        let back = Ciphertext::from_bytes(&f.params, &ct.to_bytes()).unwrap();
        prop_assert_eq!(&back, &ct);
        prop_assert_eq!(decrypt(&back), decrypt(&ct));
    }
}

/// Several special primes (P = p_0·p_1·p_2): key switching with fast basis conversion in
/// the P-division, public-key encryption through Q·P, serialization of the keys.
#[test]
fn several_special_primes() {
    // Not secure (N = 2048): tests only.
    let lit = ParametersLiteral {
        log_n: 11,
        log_q: vec![40, 30, 30],
        log_p: vec![20, 20, 20],
        log_scale: 30,
        security: SecurityLevel::None,
    };
    let params = Parameters::new(&lit).unwrap();
    let mut rng = ChaCha20Rng::from_seed([21; 32]);
    let kg = KeyGenerator::new(&params, &mut rng).unwrap();
    let pk = kg.public_key(&mut rng).unwrap();
    let rlk = kg.relin_key(&mut rng).unwrap();
    let gk = kg.galois_keys(&[3], true, &mut rng).unwrap();
    let gk = GaloisKeys::from_bytes(&params, &gk.to_bytes()).unwrap();
    let enc = Encoder::new(&params).unwrap();
    let dec = Decryptor::new(&params, kg.secret_key()).unwrap();
    let ev = Evaluator::new(&params);
    let n = params.slots();
    let a: Vec<Complex> = (0..n)
        .map(|i| Complex::new((i as f64 * 0.1).sin(), (i as f64 * 0.3).cos()))
        .collect();
    let pt = enc.encode(&a, 2, params.default_scale()).unwrap();
    let ct = Encryptor::with_public_key(&params, &pk)
        .unwrap()
        .encrypt(&pt, &mut rng)
        .unwrap();
    let check = |want: &[Complex], ct: &Ciphertext, bits: f64, what: &str| {
        let got = enc.decode(&dec.decrypt_raw(ct).unwrap()).unwrap();
        let s = PrecisionStats::compute(want, &got);
        assert!(s.min_bits >= bits, "{what}: {s}");
    };
    check(&a, &ct, 18.0, "encrypt");
    let sq = ev.rescale(&ev.mul_relin(&ct, &ct, &rlk).unwrap()).unwrap();
    let want: Vec<Complex> = a.iter().map(|&x| x * x).collect();
    check(&want, &sq, 15.0, "mul_relin");
    let r = ev.rotate(&sq, 3, &gk).unwrap();
    let want_r: Vec<Complex> = (0..n).map(|i| want[(i + 3) % n]).collect();
    check(&want_r, &r, 15.0, "rotate");
    let c = ev.conjugate(&ct, &gk).unwrap();
    let want_c: Vec<Complex> = a.iter().map(|z| z.conj()).collect();
    check(&want_c, &c, 15.0, "conjugate");
}

#[test]
fn linear_transform_matches_the_matrix_product() {
    let f = fx();
    let xs: Vec<Vec<Complex>> = (0..5).map(|i| values(100 + i)).collect();
    let cts: Vec<Ciphertext> = xs.iter().map(|v| encrypt(v, false)).collect();
    let refs: Vec<&Ciphertext> = cts.iter().collect();
    // 3 × 5, with zeros (skipped) and negative weights.
    let w = [
        0.5, -0.25, 0.0, 1.0, 0.125, //
        0.0, 0.0, 0.0, 0.0, -1.5, //
        0.3, 0.3, 0.3, 0.3, 0.3,
    ];
    let ys = f
        .eval
        .linear_transform(&refs, &w, f.params.default_scale())
        .unwrap();
    assert_eq!(ys.len(), 3);
    for (i, y) in ys.iter().enumerate() {
        let want: Vec<Complex> = (0..xs[0].len())
            .map(|k| {
                (0..5).fold(Complex::default(), |acc, j| {
                    let t = xs[j][k] * Complex::from(w[i * 5 + j]);
                    Complex::new(acc.re + t.re, acc.im + t.im)
                })
            })
            .collect();
        let y = f.eval.rescale(y).unwrap();
        assert_close(&want, &y, 12.0, &format!("linear_transform row {i}"));
    }
    // Size-3 inputs (products before relinearization) are combined too.
    let sq = f.eval.mul(&cts[0], &cts[1]).unwrap();
    let out = f
        .eval
        .linear_transform(&[&sq, &sq], &[1.0, 1.0], 1.0)
        .unwrap();
    assert_eq!(out[0].size(), 3);
    assert!(
        f.eval.linear_transform(&refs, &w[..4], 1.0).is_err(),
        "4 weights for 5 inputs"
    );
    assert!(f.eval.linear_transform(&[], &w, 1.0).is_err());
}

#[test]
fn dot_plain_matches_separate_products() {
    let f = fx();
    let level = f.params.max_level();
    let xs: Vec<Ciphertext> = (0..4).map(|i| encrypt(&values(200 + i), true)).collect();
    let pts: Vec<Plaintext> = (0..4)
        .map(|i| {
            f.enc
                .encode(&values(300 + i), level, f.params.default_scale())
                .unwrap()
        })
        .collect();
    let cts: Vec<&Ciphertext> = xs.iter().collect();
    let prefs: Vec<&Plaintext> = pts.iter().collect();
    let fused = f.eval.dot_plain(&cts, &prefs).unwrap();
    let mut sep = f.eval.mul_plain(&xs[0], &pts[0]).unwrap();
    for i in 1..4 {
        f.eval
            .add_assign(&mut sep, &f.eval.mul_plain(&xs[i], &pts[i]).unwrap())
            .unwrap();
    }
    assert_eq!(
        fused, sep,
        "the fused sum is exactly the sum of the products"
    );
    assert!(f.eval.dot_plain(&cts, &prefs[..3]).is_err());
}

#[test]
fn level_trimmed_galois_keys() {
    let f = fx();
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    // Step 1 for ciphertexts up to level 1, step 2 only at level 0.
    let gk =
        f.kg.galois_keys_at_levels(&[(1, 1), (2, 0)], &mut rng)
            .unwrap();
    let full = f.kg.galois_keys(&[1], false, &mut rng).unwrap();
    // Levels 1 and 0 hold 2×3 + 1×2 digit rows against 3×4 for one full key.
    assert!(
        gk.to_bytes().len() < full.to_bytes().len(),
        "two trimmed keys < one full key"
    );
    let v = values(400);
    let top = encrypt(&v, false);
    let at1 = f.eval.drop_to_level(&top, 1).unwrap();
    let at0 = f.eval.drop_to_level(&top, 0).unwrap();
    assert_close(
        &rotl(&v, 1),
        &f.eval.rotate(&at1, 1, &gk).unwrap(),
        10.0,
        "trimmed rotate",
    );
    assert_close(
        &rotl(&v, 2),
        &f.eval.rotate(&at0, 2, &gk).unwrap(),
        10.0,
        "level-0 key",
    );
    // Above the key's level: an error, not garbage.
    assert!(f.eval.rotate(&top, 1, &gk).is_err());
    assert!(f.eval.rotate(&at1, 2, &gk).is_err());
    // Round trip keeps the levels.
    let back = GaloisKeys::from_bytes(&f.params, &gk.to_bytes()).unwrap();
    assert_eq!(back, gk);
    let n = f.params.degree();
    assert_eq!(
        back.level(pixveil_ring::galois_element_for_step(2, n)),
        Some(0)
    );
    assert!(
        f.kg.galois_keys_at_levels(&[(1, 9)], &mut rng).is_err(),
        "level above the top"
    );
}
