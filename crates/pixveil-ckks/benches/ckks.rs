//! Criterion benches of the CKKS operations at N = 8192, single-threaded, for the TenSEAL
//! chain `[31, 26×6, 31]` and the precise chain `[40, 26×5, 48]` (both Δ = 2^26):
//! `cargo bench -p pixveil-ckks --bench ckks`.
//!
//! Besides the operations: the cost of reading a result through the rounded
//! `decrypt_decode` against the exact `decrypt_raw` + `decode` (issue 15, item 2), and key
//! generation (relinearization key, one Galois key, public key), whose secret temporaries
//! are wiped (item 6).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pixveil_ckks::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;

const K: i64 = 8;

fn ckks(c: &mut Criterion) {
    // Single-threaded: key switching would otherwise use every core.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    for preset in [Preset::TenSeal8192, Preset::Precise8192] {
        let params = Parameters::preset(preset).expect("preset");
        let id = |op: &str| BenchmarkId::new(op, preset.name());
        let mut rng = ChaCha20Rng::from_seed([5; 32]);
        let kg = KeyGenerator::new(&params, &mut rng).expect("keygen");
        let pk = kg.public_key(&mut rng).expect("pk");
        let rlk = kg.relin_key(&mut rng).expect("rlk");
        let steps: Vec<i64> = (1..=K).collect();
        let gk = kg.galois_keys(&steps, true, &mut rng).expect("gk");
        let enc = Encoder::new(&params).expect("encoder");
        let encryptor = Encryptor::with_public_key(&params, &pk).expect("encryptor");
        let dec = Decryptor::new(&params, kg.secret_key()).expect("decryptor");
        let ev = Evaluator::new(&params);
        let (l, s) = (params.max_level(), params.default_scale());
        let vals: Vec<Complex> = (0..params.slots())
            .map(|i| Complex::new((i as f64).sin(), 0.0))
            .collect();
        let pt = enc.encode(&vals, l, s).expect("encode");
        let ct = encryptor.encrypt(&pt, &mut rng).expect("encrypt");
        let ct2 = encryptor.encrypt(&pt, &mut rng).expect("encrypt");
        let ct3 = ev.mul(&ct, &ct2).expect("mul");

        let mut g = c.benchmark_group("ckks");
        g.sample_size(20);
        g.bench_function(id("encode"), |b| {
            b.iter(|| enc.encode(black_box(&vals), l, s))
        });
        g.bench_function(id("decode"), |b| b.iter(|| enc.decode(black_box(&pt))));
        g.bench_function(id("encrypt"), |b| {
            b.iter(|| encryptor.encrypt(black_box(&pt), &mut rng))
        });
        g.bench_function(id("decrypt"), |b| {
            b.iter(|| dec.decrypt_raw(black_box(&ct)))
        });
        g.bench_function(id("decrypt_decode_rounded"), |b| {
            b.iter(|| dec.decrypt_decode(black_box(&ct), &enc, 20))
        });
        g.bench_function(id("decrypt_raw_decode"), |b| {
            b.iter(|| enc.decode(&dec.decrypt_raw(black_box(&ct)).unwrap()))
        });
        g.bench_function(id("keygen_public"), |b| b.iter(|| kg.public_key(&mut rng)));
        g.bench_function(id("keygen_relin"), |b| b.iter(|| kg.relin_key(&mut rng)));
        g.bench_function(id("keygen_galois_1"), |b| {
            b.iter(|| kg.galois_keys(&[1], false, &mut rng))
        });
        g.bench_function(id("mul_plain"), |b| b.iter(|| ev.mul_plain(&ct, &pt)));
        g.bench_function(id("mul_relin"), |b| {
            b.iter(|| ev.mul_relin(&ct, &ct2, &rlk))
        });
        g.bench_function(id("relinearize"), |b| b.iter(|| ev.relinearize(&ct3, &rlk)));
        g.bench_function(id("rescale"), |b| b.iter(|| ev.rescale(&ct)));
        g.bench_function(id("rotate"), |b| b.iter(|| ev.rotate(&ct, 1, &gk)));
        g.bench_function(id(&format!("hoisted_rotate_{K}")), |b| {
            b.iter(|| ev.rotate_hoisted(&ct, &steps, &gk))
        });
        g.finish();
    }
}

criterion_group!(benches, ckks);
criterion_main!(benches);
