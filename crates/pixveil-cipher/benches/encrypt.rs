//! Criterion benchmarks of fixed-key encryption, one image and a batch, per scheme.
//!
//! Run with `cargo bench -p pixveil-cipher --bench encrypt`. For the table against `memcpy`
//! use `pixveil bench encrypt` (or [`pixveil_cipher::bench::encrypt_throughput`]).
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pixveil_cipher::{kat::synthetic_batch, BatchCipher, KeyMode, SchemeSpec};
use pixveil_core::MasterSecret;
use pixveil_image::Shape;

fn encrypt(c: &mut Criterion) {
    let secret = MasterSecret::from_bytes([0x42; 32]);
    let shape = match Shape::new(32, 32, 3) {
        Ok(s) => s,
        Err(e) => panic!("shape: {e}"),
    };
    let n = 2000;
    let mut batch = synthetic_batch(shape, n, [7; 32]);
    let mut memcpy_dst = vec![0u8; batch.as_bytes().len()];
    let mut g = c.benchmark_group("encrypt_batch_32x32x3");
    g.throughput(Throughput::Bytes(batch.as_bytes().len() as u64));
    g.sample_size(20);
    g.bench_function("memcpy", |b| {
        b.iter(|| memcpy_dst.copy_from_slice(black_box(batch.as_bytes())))
    });
    for name in SchemeSpec::NAMES {
        let spec = match SchemeSpec::from_name(name, None) {
            Ok(s) => s,
            Err(e) => panic!("{name}: {e}"),
        };
        let cipher = match BatchCipher::new(spec, shape, KeyMode::Fixed, &secret) {
            Ok(c) => c,
            Err(e) => panic!("{name}: {e}"),
        };
        g.bench_with_input(BenchmarkId::new("fixed", name), name, |b, _| {
            b.iter(|| cipher.encrypt_batch(black_box(&mut batch), None, &|_| {}))
        });
    }
    g.finish();
}

criterion_group!(benches, encrypt);
criterion_main!(benches);
