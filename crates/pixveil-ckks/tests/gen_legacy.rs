//! Temporary: writes the legacy PXCK fixtures with the code before the container change.
use pixveil_ckks::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[test]
fn write_legacy_fixtures() {
    let p = Parameters::new(&ParametersLiteral {
        log_n: 4,
        log_q: vec![30, 25],
        log_p: vec![30],
        log_scale: 20,
        security: SecurityLevel::None,
    })
    .unwrap();
    let mut rng = ChaCha20Rng::from_seed([12; 32]);
    let kg = KeyGenerator::new(&p, &mut rng).unwrap();
    let pk = kg.public_key(&mut rng).unwrap();
    let rlk = kg.relin_key(&mut rng).unwrap();
    let gk = kg.galois_keys(&[1, 2], true, &mut rng).unwrap();
    let enc = Encoder::new(&p).unwrap();
    let pt = enc.encode_real(&[0.5, -1.0, 2.0], 1, p.default_scale()).unwrap();
    let ct_sk = Encryptor::with_secret_key(&p, kg.secret_key()).unwrap().encrypt(&pt, &mut rng).unwrap();
    let ct_pk = Encryptor::with_public_key(&p, &pk).unwrap().encrypt(&pt, &mut rng).unwrap();
    let ct3 = Evaluator::new(&p).mul(&ct_pk, &ct_pk).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pxck-v2");
    for (name, bytes) in [
        ("params", p.to_bytes()),
        ("secret-key", kg.secret_key().to_bytes()),
        ("public-key", pk.to_bytes()),
        ("relin-key", rlk.to_bytes()),
        ("galois-keys", gk.to_bytes()),
        ("ciphertext-seeded", ct_sk.to_bytes()),
        ("ciphertext", ct_pk.to_bytes()),
        ("ciphertext-size3", ct3.to_bytes()),
        ("plaintext", pt.to_bytes()),
    ] {
        std::fs::write(dir.join(format!("{name}.bin")), bytes).unwrap();
    }
}
